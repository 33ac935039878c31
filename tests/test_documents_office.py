"""Both documents through LibreOffice: the PDF must carry the Chinese text (no missing glyphs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qi_excel import office
from qi_excel.consolidation_step import load_consolidation
from qi_excel.documents import write_application, write_report
from qi_excel.evaluation import load_project
from evaluated import build_evaluated

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(office.soffice_path() is None, reason="LibreOffice (soffice) 未安装"),
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) 未安装"),
]


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def test_application_and_report_as_pdf(tmp_path: Path) -> None:
    folder = build_evaluated(tmp_path / "评价")
    info, panel = load_project(folder)
    cons = load_consolidation(folder)

    app = write_application(folder, pdf=True)
    assert [p.suffix for p in app] == [".docx", ".pdf"]
    text = pdf_text(app[1])
    assert "质量基础设施“一站式”服务评价申请表" in text
    assert info.applicant in text and info.head in text and "填表说明" in text
    assert f"{int(cons.self_total)} 分" in text

    report = write_report(folder, pdf=True)
    assert [p.suffix for p in report] == [".docx", ".pdf"]
    text = pdf_text(report[1])
    compact = "".join(text.split())
    assert "".join(info.service_name.split()) in compact
    assert "专家组签字表" in compact
    for expert in panel.experts:
        assert expert.name in compact
    assert "".join(f"{cons.total}".split()) in compact
    assert "\ufffd" not in text and "□□" not in text
