"""Editing real issued workbooks the way an expert's program or a person would, for the tests.

Cells are changed inside the package XML (numbers, inline strings, formulas with cached
results, the save time in docProps) and the package is zipped again, so the reader sees
exactly what Excel/WPS would have stored. Nothing here judges a workbook.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Mapping
from xml.sax.saxutils import escape

from qi_excel import layout as L
from qi_excel.evaluation import load_issued
from qi_excel.rubric import Rubric, shipped_rubric

SCORE_PART = "xl/worksheets/sheet1.xml"  # the writer adds 评分表 first
META_PART = "xl/worksheets/sheet4.xml"  # _qi last


def issued_bytes(folder: Path, expert_id: str) -> bytes:
    rec = [r for r in load_issued(folder) if r.expert_id == expert_id][-1]
    return (folder / rec.file).read_bytes()


def read_part(data: bytes, part: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(part)


def rezip(data: bytes, replace: Mapping[str, bytes | None] = {}, add: Mapping[str, bytes] = {}) -> bytes:
    """The package with some parts replaced (None removes a part) or added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in replace:
                new = replace[info.filename]
                if new is not None:
                    dst.writestr(info.filename, new)
            else:
                dst.writestr(info.filename, src.read(info.filename))
        for name, body in add.items():
            dst.writestr(name, body)
    return out.getvalue()


def edit_part(data: bytes, part: str, fn) -> bytes:
    return rezip(data, {part: fn(read_part(data, part).decode("utf-8")).encode("utf-8")})


def _cell_re(ref: str) -> re.Pattern[str]:
    return re.compile(rf'<c r="{ref}"(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</c>)', re.S)


def set_cell(xml: str, ref: str, *, number: object = None, text: str | None = None,
             formula: str | None = None, cached: object = None, blank: bool = False) -> str:
    """Put a value into cell ``ref`` (which the writer always writes, at least styled)."""
    pat = _cell_re(ref)
    m = pat.search(xml)
    assert m is not None, f"cell {ref} not in sheet"
    style = re.search(r'\ss="\d+"', m.group("attrs") or "")
    s = style.group(0) if style else ""
    if blank:
        new = f'<c r="{ref}"{s}/>'
    elif formula is not None:
        if isinstance(cached, str):
            new = f'<c r="{ref}"{s} t="str"><f>{escape(formula)}</f><v>{escape(cached)}</v></c>'
        else:
            v = "" if cached is None else f"<v>{cached}</v>"
            new = f'<c r="{ref}"{s}><f>{escape(formula)}</f>{v}</c>'
    elif text is not None:
        new = f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>'
    else:
        new = f'<c r="{ref}"{s}><v>{number}</v></c>'
    return xml[: m.start()] + new + xml[m.end():]


def cell_xml(xml: str, ref: str) -> str:
    m = _cell_re(ref).search(xml)
    assert m is not None
    return m.group(0)


def full_scores(rubric: Rubric) -> dict[str, int]:
    return {c.id: c.max for c in rubric.score_cells}


def fill(
    data: bytes,
    rubric: Rubric,
    scores: Mapping[str, object] | None = None,
    *,
    remarks: Mapping[str, str] = {},
    sign: str | None = None,
    sign_date: date | str | None = date(2025, 6, 18),
    saved_at: str | None = "2025-06-18T10:00:00Z",
    recalc: bool = True,
    commitment: str | None = L.COMMITMENT_VALUE,
) -> bytes:
    """An issued workbook filled in like a spreadsheet program saves it (cached totals included).

    ``commitment`` goes into the experts' commitment cell when the workbook has one (expert
    workbooks; the self-evaluation has none); ``None`` leaves it empty.

    ``sign`` defaults to the name of the person the workbook was issued to, as an expert signs.
    """
    if sign is None:
        from qi_excel.returned import read_returned

        sign = read_returned(data, "issued.xlsx", rubric=rubric).expert_name
    lay = L.score_sheet_layout(rubric)
    scores = full_scores(rubric) if scores is None else scores
    xml = read_part(data, SCORE_PART).decode("utf-8")
    values: dict[int, Decimal] = {}
    for row in lay.inputs:
        assert row.cell is not None
        v = scores.get(row.cell.id)
        if v is None:
            continue
        xml = set_cell(xml, row.score_ref, number=v)
        values[row.row] = Decimal(str(v))
    for ident, text in remarks.items():
        xml = set_cell(xml, lay.row_for(ident).note_ref, text=text)
    for row in lay.rows:
        if row.sum_rows:
            values[row.row] = sum((values.get(r, Decimal(0)) for r in row.sum_rows), Decimal(0))
            if recalc:
                body = cell_xml(xml, row.score_ref)
                f = re.search(r"<f>(.*?)</f>", body)
                assert f is not None
                xml = set_cell(xml, row.score_ref, formula=f.group(1), cached=values[row.row])
    if sign:
        xml = set_cell(xml, lay.signature_cell, text=sign)
    if isinstance(sign_date, date):
        xml = set_cell(xml, lay.sign_date_cell, number=(sign_date - date(1899, 12, 30)).days)
    elif sign_date:
        xml = set_cell(xml, lay.sign_date_cell, text=sign_date)
    commitment_ref = L.commitment_cell(lay)
    if commitment is not None and _cell_re(commitment_ref).search(xml):
        xml = set_cell(xml, commitment_ref, text=commitment)
    replace = {SCORE_PART: xml.encode("utf-8")}
    if saved_at:
        core = read_part(data, "docProps/core.xml").decode("utf-8")
        core = re.sub(r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rf"\g<1>{saved_at}\g<2>", core)
        replace["docProps/core.xml"] = core.encode("utf-8")
    return rezip(data, replace)


def score_ref(rubric: Rubric, ident: str) -> str:
    return L.score_sheet_layout(rubric).row_for(ident).score_ref


def returned(folder: Path, expert_id: str, name: str, *, saved_at: str = "2025-06-18T10:00:00Z", **kw) -> bytes:
    """Expert ``expert_id``'s issued workbook filled in full and signed by ``name``."""
    return fill(issued_bytes(folder, expert_id), shipped_rubric(), sign=name, saved_at=saved_at, **kw)


def put(path: Path, data: bytes, mtime: int | None = None) -> Path:
    """Drop a file into the inbox; ``mtime`` stands for when it arrived (collect orders by it)."""
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


class CheckContext:
    """An issued evaluation folder and the checks run on a returned workbook's bytes, as
    collect runs them (shared by the check and hostile-return tests)."""

    def __init__(self, folder: Path, rubric: Rubric | None = None) -> None:
        from qi_excel.evaluation import load_project, load_secret

        self.folder = folder
        self.rubric = rubric or shipped_rubric()
        self.secret = load_secret(folder)
        _, self.panel = load_project(folder)
        self.issued = load_issued(folder)

    def name(self, expert_id: str) -> str:
        return self.panel.by_id(expert_id).name

    def email(self, expert_id: str) -> str:
        return self.panel.by_id(expert_id).email

    def check(self, data: bytes, *, panel=None, issued=None, sender: str | None = None, rubric: Rubric | None = None):
        from qi_excel.checks import check_workbook
        from qi_excel.returned import read_returned

        rubric = rubric or self.rubric
        rw = read_returned(data, "test.xlsx", rubric=rubric)
        return check_workbook(rw, rubric=rubric, evaluation_id=self.secret.evaluation_id, key=self.secret.hmac_key,
                              panel=panel or self.panel, issued=self.issued if issued is None else issued,
                              sender=sender)

    def filled(self, expert_id: str = "E01", **kw) -> bytes:
        return fill(issued_bytes(self.folder, expert_id), self.rubric, **kw)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def only(findings, code):
    got = [f for f in findings if f.code == code]
    assert got, f"no {code} in {codes(findings)}"
    return got
