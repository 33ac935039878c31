"""The procedure's papers through LibreOffice: PDF text complete, no placeholders, no English."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from evaluated import build_evaluated

from qi_excel import office
from qi_excel.opinion import OPINION_FILE, read_opinion
from qi_excel.evaluation import load_project
from qi_excel.procedure import DISCIPLINE, write_documents
from qi_excel.review import sample_review

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(office.soffice_path() is None, reason="LibreOffice (soffice) 未安装"),
    pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                       reason="poppler-utils (pdftotext, pdftoppm) 未安装"),
]

ALLOWED_LATIN = ("DB43/T",)  # the standard's code in 评价依据


def compact(text: str) -> str:
    return "".join(text.split())


def test_every_paper_as_pdf_and_png(tmp_path: Path) -> None:
    folder = build_evaluated(tmp_path / "评价")
    info, panel = load_project(folder)
    suggestions = read_opinion(folder / OPINION_FILE).suggestions  # the panel's words, as in the report
    docs = write_documents(folder, pdf=True)
    pdfs = {p.stem: p for p in docs if p.suffix == ".pdf"}
    assert len(pdfs) == 5
    texts = {}
    for stem, pdf in pdfs.items():
        raw = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True).stdout.decode()
        assert "{{" not in raw and "{%" not in raw and "\ufffd" not in raw, stem
        latin = raw
        for allowed in ALLOWED_LATIN:
            latin = latin.replace(allowed, "")
        assert not re.search(r"[A-Za-z]{2,}", latin), (stem, re.findall(r"[A-Za-z]{2,}", latin))
        texts[stem] = compact(raw)
        subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / stem)], check=True)
        assert list(tmp_path.glob(f"{stem}-*.png")), stem
    # nothing cut: every value printed whole
    for e in panel.experts:
        for stem in ("评价计划", "首次会议签到表", "末次会议签到表"):
            assert compact(e.name) in texts[stem] and compact(e.employer) in texts[stem], (stem, e.employer)
        assert compact(e.title) in texts["评价计划"]
    assert compact(DISCIPLINE[-1]) in texts["评价计划"] and "服务中心二楼小会议室" in texts["评价计划"]
    for m in sample_review().materials:
        assert compact(m.name) in texts["申请材料审查记录"] and compact(m.remark) in texts["申请材料审查记录"]
    assert compact(suggestions[0]) in texts["持续改进承诺书"] and "服务平台负责人（签字）" in texts["持续改进承诺书"]
    assert compact(info.applicant) in texts["持续改进承诺书"]
    # the sign-in sheets of a seven-member panel fit one page each
    for stem in ("首次会议签到表", "末次会议签到表", "申请材料审查记录"):
        assert len(list(tmp_path.glob(f"{stem}-*.png"))) == 1, stem
