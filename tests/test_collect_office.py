"""A workbook filled in LibreOffice Calc itself, and the other formats Calc can save it as.

A StarBasic macro, installed into a throwaway LibreOffice profile, opens the issued workbook,
types into the cells (``setFormula`` parses input exactly as typing into the cell does),
recalculates and saves: as .xlsx (what an expert using Calc sends back), .xls and .ods.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import pytest

from qi_excel import evaluation as ev
from qi_excel import layout as L
from qi_excel.collect import collect, load_accepted
from qi_excel.office import soffice_path
from qi_excel.rubric import shipped_rubric
from xlsx_edit import issued_bytes

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(soffice_path() is None, reason="LibreOffice (soffice) 未安装"),
]

RUBRIC = shipped_rubric()
LAY = L.score_sheet_layout(RUBRIC)

_MODULE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Function Prop(n As String, v As Variant) As com.sun.star.beans.PropertyValue
  Dim p As New com.sun.star.beans.PropertyValue
  p.Name = n
  p.Value = v
  Prop = p
End Function

Sub Fill(specPath As String)
  Dim f As Integer, line As String, parts() As String, doc As Object
  f = FreeFile
  Open specPath For Input As #f
  Line Input #f, line
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(line), "_blank", 0, Array(Prop("Hidden", True)))
  Do While Not EOF(f)
    Line Input #f, line
    parts = Split(line, Chr(9))
    If parts(0) = "CELL" Then
      doc.Sheets.getByName(parts(1)).getCellRangeByName(parts(2)).setFormula(parts(3))
    ElseIf parts(0) = "SAVE" Then
      doc.calculateAll()
      doc.storeToURL(ConvertToURL(parts(2)), Array(Prop("FilterName", parts(1))))
    End If
  Loop
  Close #f
  doc.close(True)
End Sub
</script:module>
"""


def calc_fill(source: Path, cells: list[tuple[str, str, str]], saves: list[tuple[str, Path]]) -> None:
    """Type ``cells`` (sheet, ref, input) into ``source`` in LibreOffice Calc and save as ``saves``."""
    exe = soffice_path()
    assert exe is not None
    with tempfile.TemporaryDirectory(prefix="qi-calc-") as tmp:
        profile = Path(tmp) / "profile"
        base = [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--nologo",
                "--nodefault", "--nolockcheck"]
        env = dict(os.environ, HOME=tmp)
        # a fresh profile is initialised on first start, which would overwrite the module
        subprocess.run(base + ["--terminate_after_init"], env=env, capture_output=True, timeout=120, check=False)
        module = profile / "user/basic/Standard/Module1.xba"
        assert module.parent.is_dir(), "LibreOffice did not create its user profile"
        module.write_text(_MODULE, encoding="utf-8")
        spec = Path(tmp) / "spec.txt"
        lines = [str(source.resolve())]
        lines += ["\t".join(("CELL", *c)) for c in cells]
        lines += [f"SAVE\t{flt}\t{target.resolve()}" for flt, target in saves]
        spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = subprocess.run(base + [f'macro:///Standard.Module1.Fill("{spec}")'], env=env,
                              capture_output=True, timeout=180, check=False)
    for _, target in saves:
        assert target.is_file(), proc.stderr.decode("utf-8", "replace")[-500:]


def test_filled_in_calc_is_accepted_with_the_same_scores(issued_folder: Path, tmp_path: Path) -> None:
    source = tmp_path / "issued.xlsx"
    source.write_bytes(issued_bytes(issued_folder, "E02"))
    scores = {c.id: c.max for c in RUBRIC.score_cells}
    scores |= {"1.1.2": 7, "2.3.4": 5, "2.4.1.3": 3, "4.3.1.2": 4}
    remarks = {"1.1.2": "-缺少会议记录", "2.3.4": "机构名录未公开", "2.4.1.3": "+管理制度未发布", "4.3.1.2": "认证机构 8 家"}
    cells = [("评分表", LAY.row_for(i).score_ref, str(v)) for i, v in scores.items()]
    cells += [("评分表", LAY.row_for(i).note_ref, t) for i, t in remarks.items()]
    cells += [("评分表", LAY.signature_cell, "陈晓岚"), ("评分表", LAY.sign_date_cell, "2025-06-18"),
              ("评分表", L.commitment_cell(LAY), L.COMMITMENT_VALUE),  # the experts' commitment
              ("改进建议", "B2", "建议完善专家库动态管理")]
    inbox = issued_folder / ev.INBOX_DIR
    calc_fill(source, cells, [
        ("Calc MS Excel 2007 XML", inbox / "陈晓岚-评分表.xlsx"),
        ("MS Excel 97", inbox / "陈晓岚-评分表.xls"),
        ("calc8", inbox / "陈晓岚-评分表.ods"),
    ])

    result = {Path(f.file).name: f for f in collect(issued_folder).files}
    xlsx = result["陈晓岚-评分表.xlsx"]
    assert xlsx.status == "accepted", xlsx.findings
    assert xlsx.findings == ()  # recalculated totals agree, protection kept, remarks given
    assert [f.code for f in result["陈晓岚-评分表.xls"].findings] == ["LEGACY_XLS"]
    assert [f.code for f in result["陈晓岚-评分表.ods"].findings] == ["WRONG_TYPE_ODS"]

    rw = load_accepted(issued_folder)[0]
    assert "LibreOffice" in rw.application
    assert rw.int_scores() == scores
    assert rw.remarks == remarks
    assert rw.sign_name == "陈晓岚" and rw.sign_date == date(2025, 6, 18).isoformat()
    assert [s.text for s in rw.suggestions] == ["建议完善专家库动态管理"]
    assert rw.cell(LAY.total_row.score_ref).number() == 1000 - 3 - 5 - 2 - 1
