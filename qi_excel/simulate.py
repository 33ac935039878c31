"""Simulated expert returns: what an expert's spreadsheet program would send back.

The demo, the samples and the benchmarks need returned workbooks without seven people typing
into Excel. Filling goes through the package XML the way a spreadsheet program saves it
(values in the cells, formulas keeping cached results, the save time in docProps), not
through openpyxl, so the files look like real returns and a hundred of them take a second.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Mapping, Sequence

from lxml import etree

from . import layout as L
from .rubric import Rubric

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_Q = "{%s}" % _NS
_EXCEL_EPOCH = date(1899, 12, 30)

Value = int | str | None


@dataclass(frozen=True)
class ExpertFill:
    """What one expert types: scores by cell id (an int, a stray text, or None for blank)."""

    scores: Mapping[str, Value]
    remarks: Mapping[str, str] = field(default_factory=dict)
    suggestions: Sequence[tuple[str, str]] = ()  # (text, related indicator)
    sign_name: str = ""
    sign_date: date | None = None
    saved_at: datetime | None = None
    saved_by: str = ""
    commitment: str | None = L.COMMITMENT_VALUE  # written only into workbooks that have the block


def fill_workbook(data: bytes, rubric: Rubric, fill: ExpertFill) -> bytes:
    """Return a copy of an issued workbook with ``fill`` typed in and totals recalculated."""
    src = zipfile.ZipFile(io.BytesIO(data))
    parts = _sheet_parts(src)
    lay = L.score_sheet_layout(rubric)
    replaced: dict[str, bytes] = {}

    score_root = etree.fromstring(src.read(parts[L.SCORE_SHEET]))
    sheet = _Sheet(score_root)
    values: dict[int, Decimal] = {}
    for row in lay.rows:
        if row.cell is not None:
            v = fill.scores.get(row.cell.id)
            sheet.set(row.score_ref, v)
            if isinstance(v, int):
                values[row.row] = Decimal(v)
            remark = fill.remarks.get(row.cell.id)
            if remark:
                sheet.set(row.note_ref, remark)
    for row in lay.rows:  # rows come in order: parts before the sums that use them
        if row.sum_rows:
            total = sum((values.get(r, Decimal(0)) for r in row.sum_rows), Decimal(0))
            values[row.row] = total
            sheet.set_cached(row.score_ref, total)
    filled = sum(1 for r in lay.inputs if r.cell is not None and isinstance(fill.scores.get(r.cell.id), int))
    sheet.set_cached(L.PROGRESS_CELL, f"已填 {filled}/{len(lay.inputs)}")
    if fill.sign_name:
        sheet.set(lay.signature_cell, fill.sign_name)
    if fill.sign_date:
        sheet.set(lay.sign_date_cell, (fill.sign_date - _EXCEL_EPOCH).days)
    if fill.commitment is not None and _has_name(src, L.NAME_COMMITMENT):
        sheet.set(L.commitment_cell(lay), fill.commitment or None)
    replaced[parts[L.SCORE_SHEET]] = _xml(score_root)

    if fill.suggestions and L.SUGGESTION_SHEET in parts:
        sug_root = etree.fromstring(src.read(parts[L.SUGGESTION_SHEET]))
        sug = _Sheet(sug_root)
        for i, (text, ref) in enumerate(fill.suggestions[: L.SUGGESTION_ROW_COUNT]):
            r = L.SUGGESTION_FIRST_ROW + i
            sug.set(f"{L.SUGGESTION_TEXT_COL}{r}", text)
            if ref:
                sug.set(f"{L.SUGGESTION_REF_COL}{r}", ref)
        replaced[parts[L.SUGGESTION_SHEET]] = _xml(sug_root)

    if fill.saved_at is not None and "docProps/core.xml" in src.namelist():
        replaced["docProps/core.xml"] = _touch_core(src.read("docProps/core.xml"), fill)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, replaced.get(info.filename, src.read(info.filename)))
    return out.getvalue()


def _has_name(z: zipfile.ZipFile, name: str) -> bool:
    """Whether the workbook defines ``name`` (expert workbooks carry ``commitment``)."""
    wb = etree.fromstring(z.read("xl/workbook.xml"))
    return any(d.get("name") == name for d in wb.iter(_Q + "definedName"))


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → part name inside the package."""
    wb = etree.fromstring(z.read("xl/workbook.xml"))
    rels = etree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels.iter("{%s}Relationship" % _PKG_REL_NS)}
    out = {}
    for s in wb.iter(_Q + "sheet"):
        t = target[s.get("{%s}id" % _REL_NS)]
        out[s.get("name")] = t.lstrip("/") if t.startswith("/") else "xl/" + t
    return out


_REF = re.compile(r"([A-Z]+)(\d+)")


def _col_index(col: str) -> int:
    """1-based column number of ``col`` ("A" → 1), by XlsxWriter's own A1 arithmetic."""
    from xlsxwriter.utility import xl_cell_to_rowcol

    return xl_cell_to_rowcol(f"{col}1")[1] + 1


class _Sheet:
    """Just enough of a worksheet's XML to type values into cells in place."""

    def __init__(self, root: etree._Element) -> None:
        self.data = root.find(_Q + "sheetData")
        self.rows = {int(r.get("r")): r for r in self.data.iter(_Q + "row")}

    def _cell(self, ref: str) -> etree._Element:
        col, row_s = _REF.fullmatch(ref).groups()  # type: ignore[union-attr]
        row_n = int(row_s)
        row = self.rows.get(row_n)
        if row is None:
            row = etree.Element(_Q + "row", r=str(row_n))
            later = [n for n in self.rows if n > row_n]
            if later:
                self.rows[min(later)].addprevious(row)
            else:
                self.data.append(row)
            self.rows[row_n] = row
        for c in row.iter(_Q + "c"):
            if c.get("r") == ref:
                return c
        cell = etree.Element(_Q + "c", r=ref)
        after = [c for c in row.iter(_Q + "c") if _col_index(_REF.fullmatch(c.get("r")).group(1)) > _col_index(col)]  # type: ignore[union-attr]
        if after:
            after[0].addprevious(cell)
        else:
            row.append(cell)
        return cell

    def set(self, ref: str, value: Value | Decimal) -> None:
        cell = self._cell(ref)
        for child in list(cell):
            cell.remove(child)
        cell.attrib.pop("t", None)
        if value is None:
            return
        if isinstance(value, str):
            cell.set("t", "inlineStr")
            t = etree.SubElement(etree.SubElement(cell, _Q + "is"), _Q + "t")
            t.text = value
            if value != value.strip():
                t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
        else:
            etree.SubElement(cell, _Q + "v").text = str(value)

    def set_cached(self, ref: str, value: Decimal | str) -> None:
        cell = self._cell(ref)
        v = cell.find(_Q + "v")
        if v is None:
            v = etree.SubElement(cell, _Q + "v")
        if isinstance(value, str):
            cell.set("t", "str")
        else:
            cell.attrib.pop("t", None)
        v.text = str(value)


def _touch_core(core: bytes, fill: ExpertFill) -> bytes:
    root = etree.fromstring(core)
    ns = {"dcterms": "http://purl.org/dc/terms/", "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"}
    modified = root.find("dcterms:modified", ns)
    if modified is None:
        modified = etree.SubElement(root, "{http://purl.org/dc/terms/}modified")
        modified.set("{http://www.w3.org/2001/XMLSchema-instance}type", "dcterms:W3CDTF")
    assert fill.saved_at is not None
    saved = fill.saved_at.astimezone(timezone.utc) if fill.saved_at.tzinfo else fill.saved_at
    modified.text = saved.strftime("%Y-%m-%dT%H:%M:%SZ")
    if fill.saved_by:
        by = root.find("cp:lastModifiedBy", ns)
        if by is None:
            by = etree.SubElement(root, "{%s}lastModifiedBy" % ns["cp"])
        by.text = fill.saved_by
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


# ───────────────────────────── plausible panels ─────────────────────────────

_REASONS = (
    "现场查阅资料，{name}相关记录不够完整",
    "{name}方面有待加强，部分证明材料未能提供",
    "{name}工作已开展，但与评分标准要求尚有差距",
    "抽查发现{name}执行不到位，建议补充完善",
)

_SUGGESTIONS = (
    ("进一步完善{name}相关制度和记录，做到可追溯", "{name}"),
    ("加强{name}工作，定期汇总分析并形成改进计划", "{name}"),
    ("建议总结{name}经验，形成可复制推广的典型案例", "{name}"),
)


def platform_levels(rubric: Rubric, seed: int) -> dict[str, int]:
    """The 'true' state of a fictional platform: a target allowed value per scored cell."""
    rng = random.Random(seed)
    out = {}
    for cell in rubric.score_cells:
        values = cell.allowed.values()
        strength = rng.choice((1.0, 1.0, 0.9, 0.8, 0.7, 0.5))
        target = Decimal(cell.max) * Decimal(str(strength))
        out[cell.id] = min(values, key=lambda v: (abs(Decimal(v) - target), -v))
    return out


def simulated_fill(
    rubric: Rubric, levels: Mapping[str, int], seed: int, *, sign_name: str,
    sign_date: date, saved_at: datetime,
) -> ExpertFill:
    """One expert's plausible scores around ``levels``: a step up or down now and then."""
    rng = random.Random(seed)
    scores: dict[str, Value] = {}
    remarks: dict[str, str] = {}
    for cell in rubric.score_cells:
        level = levels[cell.id]
        # experts differ by a point or two, never by a whole band
        near = [v for v in cell.allowed.values() if v != level and abs(v - level) * 10 <= cell.max * 2]
        v = rng.choice(near) if near and rng.random() < 0.35 else level
        scores[cell.id] = v
        if v < cell.max:
            name = cell.part.name if cell.part else cell.item.level2
            remarks[cell.id] = rng.choice(_REASONS).format(name=name)
    weak = sorted({c.item.level2 for c in rubric.score_cells if scores[c.id] != c.max})
    picks = rng.sample(weak, k=min(3, len(weak)))
    suggestions = [tuple(s.format(name=n) for s in rng.choice(_SUGGESTIONS)) for n in picks]
    return ExpertFill(scores, remarks, suggestions, sign_name, sign_date, saved_at, sign_name)  # type: ignore[arg-type]
