"""The wheel a non-editable `pip install .` builds carries the rubric and every template."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("qi_excel-*.whl")
    return zipfile.ZipFile(built)


def test_templates_and_rubric_are_inside_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {
        "qi_excel/data/rubric.toml",
        "qi_excel/workbook_templates/评价项目.xlsx",
        "qi_excel/docx_templates/评价申请表.docx",
        "qi_excel/docx_templates/评价报告.docx",
        "qi_excel/web/templates/evaluation.html",  # qi-excel ui: templates and assets ship in the wheel
        "qi_excel/web/static/app.js",
        "qi_excel/web/static/app.css",
    }
    assert expected <= names, sorted(expected - names)
    assert not any(n.startswith(("tests/", "samples/", "benchmarks/")) for n in names)


def test_console_script_is_declared(wheel: zipfile.ZipFile) -> None:
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    assert "qi-excel = qi_excel.cli:run" in wheel.read(entry).decode()
