"""A sample evaluation taken through every step, and the text of the Word documents written
from it: shared by the document, archive, audit and folder-state tests (a helper module, not a
test module, so no test file imports another)."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timedelta, timezone
from collections.abc import Sequence
from pathlib import Path

from docx.oxml.ns import qn

from qi_excel.collect import collect
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.evaluation import INBOX_DIR, IssuedRecord, evaluation_rubric, new_evaluation
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks

W_T = qn("w:t")


def build_evaluated(folder: Path, *, self_eval: bool = True) -> Path:
    """A sample evaluation taken through issue → expert returns → collect → consolidate."""
    new_evaluation(folder, sample=True)
    records = list(issue_workbooks(folder).records)
    if self_eval:
        records += issue_workbooks(folder, self_eval=True).records
    return returned_and_consolidated(folder, records)


def returned_and_consolidated(folder: Path, records: Sequence[IssuedRecord]) -> Path:
    """Every issued workbook filled as its expert would, dropped in the inbox, collected and
    consolidated (signed on the site-visit day, whatever today is)."""
    rubric = evaluation_rubric(folder)
    levels = platform_levels(rubric, 3)
    tz = timezone(timedelta(hours=8))
    for i, rec in enumerate(records):
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i, tzinfo=tz))
        data = fill_workbook((folder / rec.file).read_bytes(), rubric, fill)
        (folder / INBOX_DIR / Path(rec.file).name).write_bytes(data)
    collect(folder)
    consolidate_folder(folder)
    return folder


def docx_texts(path: Path) -> list[str]:
    """Every w:t of every part (body, headers, footers), in order."""
    out = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.startswith("word/") and name.endswith(".xml"):
                from lxml import etree

                root = etree.fromstring(zf.read(name))
                out.extend(t.text or "" for t in root.iter(W_T))
    return out


def all_text(path: Path) -> str:
    return "".join(docx_texts(path))


def assert_no_tags(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".xml"):
                xml = zf.read(name).decode("utf-8")
                assert "{{" not in xml and "{%" not in xml and "%}" not in xml, (path.name, name)
