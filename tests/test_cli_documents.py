"""The document and archive commands, run the way an organizer runs them."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document

from qi_excel import office
from qi_excel.cli import main
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.evaluation import APPLICATION_FILE, REPORT_FILE
from evaluated import all_text, build_evaluated


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("cli") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_application_and_report_commands_name_the_files(folder: Path) -> None:
    result = run("application", folder)
    assert result.exit_code == 0, result.output
    assert "已生成评价申请表" in result.output and str(folder / APPLICATION_FILE) in result.output
    result = run("report", folder)
    assert result.exit_code == 0, result.output
    assert "专家组成员签字" in result.output and str(folder / REPORT_FILE) in result.output
    assert "专家组签字表" in all_text(folder / REPORT_FILE)


def test_application_warns_when_no_self_evaluation_was_collected(tmp_path: Path, folder: Path) -> None:
    from qi_excel.evaluation import new_evaluation

    assert "尚未回收申请方的自我评价记录表" not in run("application", folder).output  # collected here
    bare = tmp_path / "新评价"
    new_evaluation(bare, sample=True)
    result = run("application", bare)
    assert result.exit_code == 0, result.output
    assert "注意：尚未回收申请方的自我评价记录表" in result.output and "qi-excel issue --self" in result.output


def test_report_on_draft_needs_the_flag(folder: Path) -> None:
    consolidate_folder(folder, draft=True)
    result = run("report", folder)
    assert result.exit_code == 3
    assert result.output.startswith("错误：") and "--draft" in result.output
    result = run("report", folder, "--draft")
    assert result.exit_code == 0, result.output
    assert "草稿" in result.output and "评价报告（草稿）.docx" in result.output


def test_pdf_without_libreoffice_is_said_plainly(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(office, "soffice_path", lambda: None)
    result = run("application", folder, "--pdf")
    assert result.exit_code == 0, result.output
    assert "未生成 PDF" in result.output and "LibreOffice" in result.output
    assert not (folder / "评价申请表.pdf").exists()


def test_templates_export_then_edited_template_with_unknown_placeholder(folder: Path, tmp_path: Path) -> None:
    dest = tmp_path / "模板"
    result = run("templates", "export", dest)
    assert result.exit_code == 0, result.output
    assert "评价报告.docx" in result.output and "评价申请表.docx" in result.output
    doc = Document(str(dest / "评价报告.docx"))
    doc.add_paragraph().add_run("{{ 组长电话 }}")
    doc.save(str(dest / "评价报告.docx"))
    result = run("report", folder, "--template", dest / "评价报告.docx")
    assert result.exit_code == 3
    assert "错误：" in result.output and "组长电话" in result.output
    assert "Traceback" not in result.output


def test_archive_and_verify(folder: Path) -> None:
    assert run("report", folder).exit_code == 0
    result = run("archive", folder)
    assert result.exit_code == 0, result.output
    zips = list(folder.glob("评价档案-*.zip"))
    assert len(zips) == 1 and str(zips[0]) in result.output
    result = run("archive", "--verify", zips[0])
    assert result.exit_code == 0 and "校验通过" in result.output and "清单签名已用本评价目录的密钥核对无误" in result.output

    with zipfile.ZipFile(zips[0]) as zf:
        members = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(zips[0], "w") as zf:
        for info, data in members:
            zf.writestr(info, data + b"x" if info.filename == REPORT_FILE else data)
    result = run("archive", "--verify", zips[0])
    assert result.exit_code == 1
    assert REPORT_FILE in result.output and "改动" in result.output


def test_archive_needs_a_folder_or_verify() -> None:
    result = run("archive")
    assert result.exit_code == 2 and "--verify" in result.output


def test_verify_away_from_the_folder_says_the_signature_was_not_checked(folder: Path, tmp_path: Path) -> None:
    assert run("report", folder).exit_code == 0
    assert run("archive", folder).exit_code == 0
    (archive,) = folder.glob("评价档案-*.zip")
    away = tmp_path / "U盘" / archive.name
    away.parent.mkdir()
    away.write_bytes(archive.read_bytes())
    result = run("archive", "--verify", away)
    assert result.exit_code == 0 and "校验通过" in result.output
    assert "未核对清单签名" in result.output
