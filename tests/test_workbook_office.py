"""Issued workbooks in LibreOffice: recalculated totals, identity after a re-save, the printout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from qi_excel import layout as L
from qi_excel import office
from qi_excel.evaluation import load_issued, load_secret
from qi_excel.identity import verify
from qi_excel.rubric import shipped_rubric

pytestmark = [
    pytest.mark.office,
    pytest.mark.skipif(office.soffice_path() is None, reason="LibreOffice (soffice) 未安装"),
]

RUBRIC = shipped_rubric()
LAYOUT = L.score_sheet_layout(RUBRIC)


def _fill(source: Path, target: Path, pick) -> None:
    """Type a value into every score_* input cell, as an expert would, through the defined names."""
    wb = openpyxl.load_workbook(source)
    ws = wb[L.SCORE_SHEET]
    cells = {c.id: c for c in RUBRIC.score_cells}
    filled = 0
    for name, dn in wb.defined_names.items():
        if not name.startswith("score_"):
            continue
        ((sheet, ref),) = list(dn.destinations)
        assert sheet == L.SCORE_SHEET
        cell = ws[ref.replace("$", "")]
        if cell.data_type == "f":
            continue  # an item with parts: its cell adds up the parts
        ident = next(i for i in cells if name == L.score_name(i))
        cell.value = pick(cells[ident])
        filled += 1
    assert filled == len(RUBRIC.score_cells)
    wb.save(target)


def _recalculated(path: Path, outdir: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(office.convert(path, "xlsx", outdir), data_only=True)


@pytest.mark.parametrize("extreme, total", [("max", 1000), ("min", 0)])
def test_libreoffice_recalculates_the_totals(issued_folder, tmp_path, extreme, total):
    issued = issued_folder / load_issued(issued_folder)[0].file
    filled = tmp_path / f"{extreme}.xlsx"
    _fill(issued, filled, (lambda c: c.max) if extreme == "max" else (lambda c: c.allowed.low))
    wb = _recalculated(filled, tmp_path / "out")
    ws = wb[L.SCORE_SHEET]
    names = {n: list(d.destinations)[0][1].replace("$", "") for n, d in wb.defined_names.items()}
    assert ws[names["total"]].value == total
    for row in LAYOUT.rows:
        if row.kind in ("level1_total", "level2_total"):
            assert ws[row.score_ref].value == (row.max if extreme == "max" else 0), row.id
    assert ws[L.PROGRESS_CELL].value == "已填 79/79"


def test_identity_survives_a_libreoffice_resave(issued_folder, tmp_path):
    secret = load_secret(issued_folder)
    record = load_issued(issued_folder)[2]
    resaved = office.convert(issued_folder / record.file, "xlsx", tmp_path / "resaved")
    wb = openpyxl.load_workbook(resaved)
    qi = wb[L.META_SHEET]
    assert qi.sheet_state in ("hidden", "veryHidden")  # LibreOffice turns veryHidden into hidden
    meta = {qi.cell(i + 1, 1).value: str(qi.cell(i + 1, 2).value) for i in range(len(L.META_KEYS))}
    assert meta["expert_id"] == record.expert_id and meta["expert_name"] == record.name
    assert verify(secret.hmac_key, meta, RUBRIC.source_text, meta["signature"])
    ws = wb[L.SCORE_SHEET]
    assert ws.protection.sheet
    assert len(ws.data_validations.dataValidation) >= len(LAYOUT.inputs)
    assert "score_1_1_1" in wb.defined_names and "total" in wb.defined_names


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) 未安装")
def test_printed_score_sheet_is_complete(issued_folder, tmp_path):
    record = load_issued(issued_folder)[0]
    pdf = office.convert(issued_folder / record.file, "pdf", tmp_path)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                          text=True).stdout
    pages = text.split("\f")
    assert "质量基础设施“一站式”服务评分表" in pages[0] and record.name in pages[0]
    assert re.search(r"第1页/共\d+页", "".join(pages[0].split()))
    flat = "".join(text.split())
    for item in RUBRIC.items:
        assert item.id in flat
    assert "专家签名" in flat and "评价发现/改进建议" in flat and "填写说明" in flat


# A StarBasic macro types each probe value into every score cell (setFormula parses input as
# typing does but skips validation), then asks Calc's detective to circle invalid data; a
# circle's centre falls inside the cell it marks.
_PROBE_MODULE = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Sub Probe(specPath As String)
  Dim f As Integer, o As Integer, line As String, parts() As String, doc As Object, sh As Object
  Dim i As Long, shp As Object, c As Object, hit As String, p As New com.sun.star.beans.PropertyValue
  p.Name = "Hidden"
  p.Value = True
  f = FreeFile
  Open specPath For Input As #f
  Line Input #f, line
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(line), "_blank", 0, Array(p))
  Line Input #f, line
  o = FreeFile
  Open line For Output As #o
  sh = doc.Sheets.getByName("评分表")
  Do While Not EOF(f)
    Line Input #f, line
    parts = Split(line, Chr(9))
    If parts(0) = "CELL" Then
      sh.getCellRangeByName(parts(1)).setFormula(parts(2))
    ElseIf parts(0) = "POS" Then
      c = sh.getCellRangeByName(parts(1))
      Print #o, "POS" &amp; Chr(9) &amp; parts(1) &amp; Chr(9) &amp; c.Position.X &amp; Chr(9) &amp; c.Position.Y &amp; Chr(9) &amp; c.Size.Width &amp; Chr(9) &amp; c.Size.Height
    ElseIf parts(0) = "CHECK" Then
      sh.clearArrows()
      sh.showInvalid()
      hit = "CHECK" &amp; Chr(9) &amp; parts(1)
      For i = 0 To sh.DrawPage.Count - 1
        shp = sh.DrawPage.getByIndex(i)
        hit = hit &amp; Chr(9) &amp; CLng(shp.Position.X + shp.Size.Width / 2) &amp; "," &amp; CLng(shp.Position.Y + shp.Size.Height / 2)
      Next i
      Print #o, hit
    End If
  Loop
  Close #f
  Close #o
  doc.close(True)
End Sub
</script:module>
"""


def _calc_invalid(source: Path, probes: list[str], workdir: Path) -> dict[str, set[str]]:
    """probe value → the score cells Calc marks invalid when every score cell holds that value."""
    import os

    exe = office.soffice_path()
    profile = workdir / "profile"
    base = [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--nologo",
            "--nodefault", "--nolockcheck"]
    env = dict(os.environ, HOME=str(workdir))
    subprocess.run(base + ["--terminate_after_init"], env=env, capture_output=True, timeout=120, check=False)
    (profile / "user/basic/Standard/Module1.xba").write_text(_PROBE_MODULE, encoding="utf-8")
    refs = [r.score_ref for r in LAYOUT.inputs]
    out = workdir / "probe.txt"
    lines = [str(source.resolve()), str(out)] + [f"POS\t{ref}" for ref in refs]
    for value in probes:
        lines += [f"CELL\t{ref}\t{value}" for ref in refs] + [f"CHECK\t{value}"]
    spec = workdir / "spec.txt"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run(base + [f'macro:///Standard.Module1.Probe("{spec}")'], env=env, capture_output=True,
                          timeout=300, check=False)
    assert out.is_file(), proc.stderr.decode("utf-8", "replace")[-500:]
    boxes: dict[str, tuple[int, ...]] = {}
    invalid: dict[str, set[str]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        kind, key, *rest = line.split("\t")
        if kind == "POS":
            boxes[key] = tuple(int(v) for v in rest)
        else:
            centres = [tuple(int(v) for v in c.split(",")) for c in rest]
            invalid[key] = {ref for ref, (x, y, w, h) in boxes.items()
                            if any(x <= cx <= x + w and y <= cy <= y + h for cx, cy in centres)}
    return invalid


def test_calc_validation_accepts_exactly_the_rubric_values(issued_folder, tmp_path):
    """What the spreadsheet itself enforces, not what the XML says: every integer and some non-integers."""
    source = issued_folder / next(r.file for r in load_issued(issued_folder) if r.expert_id == "E01")
    top = max(c.max for c in RUBRIC.score_cells)
    integers = [str(v) for v in range(-1, top + 2)]
    invalid = _calc_invalid(source, integers + ["2.5", "abc"], tmp_path)
    for row in LAYOUT.inputs:
        accepted = {int(v) for v in integers if row.score_ref not in invalid[v]}
        assert accepted == set(row.cell.allowed.values()), row.cell.id
        assert row.score_ref in invalid["2.5"] and row.score_ref in invalid["abc"], row.cell.id


def _pdf_pages(pdf: Path, *, layout: bool = True) -> list[str]:
    text = subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"], capture_output=True,
                          check=True, text=True).stdout
    return text.split("\f")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) 未安装")
def test_every_printed_page_names_its_indicators(issued_folder, tmp_path):
    """Merged labels print once; page 2 of the score sheet used to show an empty 一级指标 column."""
    record = load_issued(issued_folder)[0]
    pages = _pdf_pages(office.convert(issued_folder / record.file, "pdf", tmp_path))
    items = {i.id: i for i in RUBRIC.items}
    cells = {c.id: c.item for c in RUBRIC.score_cells}
    score_pages = 0
    for number, page in enumerate(pages, start=1):
        flat = "".join(page.split())
        table = "\n".join(line for line in page.splitlines() if "填写说明" not in line)  # not the hint line
        ids = [m for m in re.findall(r"(?<![\d.])\d\.\d\.\d+(?:\.\d+)?(?![\d.])", table) if m in items or m in cells]
        if "评分标准" not in flat or not ids:
            continue
        score_pages += 1
        for ident in ids:
            item = items.get(ident) or cells[ident]
            assert item.level1 in flat, f"第 {number} 页缺少一级指标“{item.level1}”（{ident}）"
            # a long name prints on two lines (broken before 和/与/及) that -layout interleaves with
            # the next columns' text: each line must be on the page
            for part in re.split(r"(?=[和与及])", item.level2):
                assert part in flat, f"第 {number} 页缺少二级指标“{item.level2}”（{ident}）"
    assert score_pages >= 3


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) 未安装")
def test_a_90_character_remark_prints_in_full(issued_folder, tmp_path):
    record = load_issued(issued_folder)[0]
    wb = openpyxl.load_workbook(issued_folder / record.file)
    ws = wb[L.SCORE_SHEET]
    remark = ("现场抽查发现档案管理制度执行不到位，部分服务记录缺少签字和日期，" * 3)[:90]
    assert len(remark) == 90
    part_row = next(r for r in LAYOUT.inputs if r.kind == "part")
    item_row = next(r for r in LAYOUT.inputs if r.kind == "item")
    for row in (part_row, item_row):
        ws[row.note_ref] = remark
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)
    flat = "".join("".join(_pdf_pages(office.convert(filled, "pdf", tmp_path / "pdf"), layout=False)).split())
    assert flat.count(remark) == 2, "扣分说明被截断"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) 未安装")
def test_printed_text_is_at_least_9_pt(issued_folder, tmp_path):
    """Fit-to-width scales the sheet: 10-pt text must not shrink below 9 pt on paper.

    Measured on the PDF: a Chinese character is one em wide, so a run of them divided by its
    length is the printed font size.
    """
    record = load_issued(issued_folder)[0]
    pdf = office.convert(issued_folder / record.file, "pdf", tmp_path)
    bbox = subprocess.run(["pdftotext", "-f", "1", "-l", "2", "-bbox", str(pdf), "-"], capture_output=True,
                          check=True, text=True).stdout
    sizes = []
    for m in re.finditer(r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]+)<', bbox):
        word = m.group(3)
        if len(word) >= 4 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            sizes.append((float(m.group(2)) - float(m.group(1))) / len(word))
    assert len(sizes) > 20
    assert min(sizes) >= 9 * 0.97, sorted(sizes)[:5]
