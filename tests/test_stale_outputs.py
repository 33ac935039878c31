"""Nothing stale reaches the archive or the 发放 folder (issue 11, items 9 and 10)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from qi_excel import office
from qi_excel.archive import archive_entries, write_archive
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.docx_render import rendered_records
from qi_excel.documents import write_application, write_report
from qi_excel.errors import QiError
from qi_excel.evaluation import ISSUE_DIR, REPORT_FILE
from qi_excel.fileio import clean_stale_temp_files, write_bytes_atomic
from qi_excel.workbook import issue_workbooks

from evaluated import build_evaluated


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("stale") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


@pytest.fixture
def fake_office(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """LibreOffice stand-in: a 'PDF' holding the bytes of the .docx it was made from."""
    made: list[Path] = []

    def convert(source, fmt, outdir, **_kw):
        out = Path(outdir) / (Path(source).stem + ".pdf")
        out.write_bytes(b"%PDF-1.4 " + Path(source).read_bytes()[:64])
        made.append(out)
        return out

    monkeypatch.setattr(office, "soffice_path", lambda: "/usr/bin/soffice")
    monkeypatch.setattr(office, "convert", convert)
    return made


def test_pdf_left_from_before_a_correction_is_not_archived(folder: Path, fake_office: list[Path]) -> None:
    write_application(folder, pdf=True)
    write_report(folder, pdf=True)
    assert (folder / "评价报告.pdf").is_file() and len(fake_office) == 2
    assert {e.path for e in archive_entries(folder)} >= {"评价报告.pdf", "评价申请表.pdf"}
    # a correction: consolidated again (other results), report re-written without --pdf
    consolidate_folder(folder, method="median")
    write_report(folder)
    with pytest.raises(QiError) as err:
        write_archive(folder)
    message = str(err.value)
    assert "评价报告.pdf" in message and "评价申请表.pdf" not in message and "--pdf" in message
    assert not list(folder.glob("评价档案-*.zip"))
    write_report(folder, pdf=True)
    assert {e.path for e in archive_entries(folder)} >= {"评价报告.pdf"}


def test_pdf_of_an_edited_docx_is_stale(folder: Path, fake_office: list[Path]) -> None:
    write_report(folder, pdf=True)
    write_application(folder, pdf=True)
    from docx import Document

    doc = Document(str(folder / "评价申请表.docx"))  # the organizer rewords it in Word afterwards
    doc.add_paragraph("补充说明。")
    doc.save(str(folder / "评价申请表.docx"))
    assert rendered_records(folder)["评价申请表.pdf"]["from"]
    with pytest.raises(QiError, match="评价申请表.pdf"):
        archive_entries(folder)


def test_pdf_without_record_falls_back_to_file_times(folder: Path) -> None:
    write_report(folder)
    pdf = folder / "评价报告.pdf"
    pdf.write_bytes(b"%PDF-1.4 old")
    stamp = (folder / REPORT_FILE).stat().st_mtime
    os.utime(pdf, (stamp - 600, stamp - 600))
    with pytest.raises(QiError, match="评价报告.pdf（早于 评价报告.docx）"):
        archive_entries(folder)


# ───────────────────────────── leftover temporary files ─────────────────────────────


def _age(path: Path, seconds: float) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_leftover_temp_files_are_cleaned_on_the_next_run(folder: Path) -> None:
    issued = folder / ISSUE_DIR
    old = _age(issued / ".~tmp-k3j_x9a2.xlsx", 3600) if (issued / ".~tmp-k3j_x9a2.xlsx").write_bytes(b"x") else None
    fresh = issued / ".~tmp-abcdefgh.xlsx"
    fresh.write_bytes(b"in progress")  # another run may be writing it right now
    others = [issued / "我的.~tmp-abcdefgh.xlsx", issued / ".~tmp-ABCDEFGH.xlsx", issued / ".~tmp-notes.txt",
              issued / "专家名单.xlsx"]
    for p in others:
        p.write_bytes(b"keep")
        _age(p, 3600)
    old_dir = issued / ".~tmp-zzzzzzzz.xlsx.d"
    old_dir.mkdir()
    root_left = _age(folder / ".~tmp-q1w2e3r4.docx", 3600) if (folder / ".~tmp-q1w2e3r4.docx").write_bytes(b"x") else None
    issue_workbooks(folder)
    assert old is not None and not old.exists()
    assert root_left is not None and not root_left.exists()
    assert fresh.exists() and old_dir.exists() and all(p.exists() for p in others)


def test_cleaning_is_pure_about_names(tmp_path: Path) -> None:
    leftover = _age(tmp_path / ".~tmp-a1b2c3d4.json", 600) if (tmp_path / ".~tmp-a1b2c3d4.json").write_bytes(b"{") else None
    link_target = tmp_path / "真文件.xlsx"
    link_target.write_bytes(b"data")
    link = tmp_path / ".~tmp-l1n2k3s4.xlsx"
    link.symlink_to(link_target)
    removed = clean_stale_temp_files(tmp_path, older_than=0)
    assert removed == [leftover]
    assert link_target.exists()
    write_bytes_atomic(tmp_path / "x.json", b"{}")  # the normal path still works
