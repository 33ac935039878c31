"""Reading a returned workbook: our layout mapped onto the cells of an untrusted package.

A returned file is untrusted and may have been saved by Excel, WPS or LibreOffice. This
module never does a full openpyxl load: package.py opens the zip within limits and parses
parts safely, sheet_reader.py reads the few sheets' cells as stored, and this module maps
them onto the positions of layout.py for the evaluation's rubric.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping

from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple
from xml.etree.ElementTree import Element

from . import layout as L
from .errors import QiError
from .lazy_re import lazy_re
from .package import (
    MAX_SHEET_CELLS,
    MAX_SHEETS,
    MAX_STRINGS,
    Package,
    ReadError,
    local_name,
    ns_attr,
    open_package,
    too_complex,
    truthy,
    unescape_markup,
)
from .rubric import Rubric
from .sheet_reader import (
    DuplicateCell,
    RawCell,
    Strings,
    cell_formats,
    col_index,
    conditional_formats,
    read_cells,
    split_ref,
)


# Suggestion and SheetInfo are named tuples, not frozen dataclasses: plain values, and
# creating a dataclass costs every command that reads a workbook ~0.6 ms at import.
class Suggestion(NamedTuple):
    text: str
    ref: str


class SheetInfo(NamedTuple):
    name: str
    state: str  # "visible" | "hidden" | "veryHidden"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ReturnedWorkbook(NamedTuple):
    """One returned workbook as read from its package; values are raw, nothing is judged.

    A named tuple rather than a frozen dataclass (as immutable, compared field by field): a
    dataclass of 22 fields costs ~2 ms to define, paid by every fresh ``collect``.
    """

    name: str
    meta: Mapping[str, str]
    kind: str
    expert_id: str
    expert_name: str
    scores: Mapping[str, RawCell]  # score cell id (item or part) → the cell at its layout position
    remarks: Mapping[str, str]  # item / part id → remark text (non-empty only)
    suggestions: tuple[Suggestion, ...]
    sign_name: str
    sign_date: str
    saved_at: str | None  # docProps/core.xml dcterms:modified, as written
    sheets: tuple[SheetInfo, ...] = ()
    defined_names: Mapping[str, str] = _EMPTY  # workbook-scoped name → refers-to
    workbook_protected: bool = False
    score_sheet_protected: bool = False
    grid: Mapping[str, RawCell] = _EMPTY  # 评分表 cells in A..H, non-empty only
    application: str = ""  # docProps/app.xml Application ("Microsoft Excel", "LibreOffice/7.4…", "WPS …")
    size: int = 0
    # docProps/core.xml: "title", "creator", "lastModifiedBy" as written (what the file says of
    # who made and last saved it) and 改进建议's printed page header, which names the expert
    properties: Mapping[str, str] = _EMPTY
    suggestion_header: str = ""
    # score cell ref → its number format code, for score cells whose format is not General
    score_formats: Mapping[str, str] = _EMPTY
    # 评分表 conditional-format ranges (sqref) → the number format the rule applies
    conditional_formats: Mapping[str, str] = _EMPTY

    def cell(self, ref: str) -> RawCell:
        return self.grid.get(ref) or RawCell(ref)

    def sheet(self, name: str) -> SheetInfo | None:
        return next((s for s in self.sheets if s.name == name), None)

    @property
    def has_score_sheet(self) -> bool:
        return self.sheet(L.SCORE_SHEET) is not None

    def int_scores(self) -> dict[str, int]:
        """Scores as integers; only meaningful for accepted workbooks (every score checked)."""
        out: dict[str, int] = {}
        for ident, cell in self.scores.items():
            d = cell.number() if cell.kind == "number" else None
            if d is None or d != d.to_integral_value():
                raise QiError(f"{self.name}：{L.SCORE_SHEET}!{cell.ref} 不是整数分值，不能用于汇总。")
            out[ident] = int(d)
        return out



# ───────────────────────────── entry point ─────────────────────────────


def read_returned(data: bytes, name: str, *, rubric: Rubric) -> ReturnedWorkbook:
    """Read ``data`` (the file's bytes) as a returned score workbook laid out for ``rubric``.

    The rubric is the evaluation's own (a custom rubric moves every row), never the shipped
    one by default: reading with the wrong rubric would quote the wrong cells.
    Raises ``ReadError`` (a ``QiError`` with ``.code``) naming what the file is when it is
    not a readable .xlsx package; a readable workbook that is not ours is returned with
    empty meta, for the checks to reject.
    """
    zf = open_package(data)
    with zf:
        pkg = Package(zf)
        collecting = gc.isenabled()
        # A read allocates a few thousand short-lived, acyclic objects (XML trees, cells); the
        # cyclic collector would walk them several times per file to find nothing (~10% of the
        # read). Reference counting still frees all of it; collection resumes right after.
        if collecting:
            gc.disable()
        try:
            return _read_workbook(pkg, name, rubric, len(data))
        except ValueError:
            # numbers in the markup no program writes (a row number of 5,000 digits is
            # beyond what int() converts): damaged or hand-made
            raise ReadError("CORRUPT", "文件已损坏：工作表内部的行号、单元格位置或编号无效，请在 Excel/WPS 中打开后重新保存发送。") from None
        finally:
            if collecting:
                gc.enable()


# ───────────────────────────── workbook level ─────────────────────────────


def _read_workbook(pkg: Package, name: str, rubric: Rubric, size: int) -> ReturnedWorkbook:
    root_rels = pkg.rels("")
    wb_part = next((t for _, ty, t in root_rels if ty.endswith("/officeDocument")), None) or "xl/workbook.xml"
    wb = pkg.xml(wb_part)
    if wb is None:
        raise ReadError("CORRUPT", "文件已损坏：缺少工作簿主体（workbook.xml），请重新保存后发送。")
    rels = pkg.rels(wb_part)
    book = _Book(pkg, _shared_strings(pkg, rels))
    book.read_structure(wb, {rid: target for rid, _, target in rels})

    meta = _meta(book.cells(L.META_SHEET, 2))
    score_styles: dict[str, str] = {}
    got = book.cells(L.SCORE_SHEET, 8, col_index(L.COL_SCORE), score_styles)
    grid, sheet_protected = got if got is not None else ({}, False)
    suggestions = _suggestions(book.cells(L.SUGGESTION_SHEET, 3))

    lay, positions = _positions_for(rubric)
    scores: dict[str, RawCell] = {}
    remarks: dict[str, str] = {}
    for row_id, cell_id, score_ref, note_ref in positions:
        if cell_id is not None:
            scores[cell_id] = grid.get(score_ref) or RawCell(score_ref)
        text = _typed(grid.get(note_ref))
        if text:
            remarks[row_id] = text

    formats: dict[str, str] = {}
    conditional: dict[str, str] = {}
    if got is not None:
        styles_part = next((t for _, ty, t in rels if ty.endswith("/styles")), None) or "xl/styles.xml"
        formats, conditional = _score_formats(
            pkg.read(styles_part) or b"", scores, score_styles, book.raws.get(L.SCORE_SHEET, b""))
    props = _core_properties(pkg, root_rels)
    core = props.pop("modified", None)
    app = _application(pkg, root_rels)
    return ReturnedWorkbook(
        name=name,
        meta=MappingProxyType(meta),
        kind=meta.get("kind", ""),
        expert_id=meta.get("expert_id", ""),
        expert_name=meta.get("expert_name", ""),
        scores=MappingProxyType(scores),
        remarks=MappingProxyType(remarks),
        suggestions=tuple(suggestions),
        sign_name=_cell_text(grid, lay.signature_cell),
        sign_date=_date_text(grid.get(lay.sign_date_cell)),
        saved_at=core,
        sheets=tuple(book.sheets),
        defined_names=MappingProxyType(book.names),
        workbook_protected=book.protected,
        score_sheet_protected=sheet_protected,
        grid=MappingProxyType(grid),
        application=app,
        size=size,
        properties=MappingProxyType(props),
        suggestion_header=book.headers.get(L.SUGGESTION_SHEET, ""),
        score_formats=MappingProxyType(formats),
        conditional_formats=MappingProxyType(conditional),
    )


def _shared_strings(pkg: Package, rels: list[tuple[str, str, str]]) -> Strings:
    sst_part = next((t for _, ty, t in rels if ty.endswith("/sharedStrings")), None)
    sst_data = pkg.read(sst_part) if sst_part else None
    if sst_data is not None and len(sst_data) > 5 * MAX_STRINGS:  # <si/> is 5 bytes
        n_strings = sst_data.count(b"<si>") + sst_data.count(b"<si ") + sst_data.count(b":si>") + sst_data.count(b":si ")
        if n_strings > MAX_STRINGS:
            raise too_complex(f"共享字符串表有约 {n_strings} 条（上限 {MAX_STRINGS}）")
    return Strings(pkg.parse(sst_part, sst_data) if sst_part and sst_data is not None else None)


class _Book:
    """The workbook part's sheets, names and protection, and bounded reads of its sheets."""

    def __init__(self, pkg: Package, strings: Strings) -> None:
        self.pkg = pkg
        self.strings = strings
        self.sheets: list[SheetInfo] = []
        self.sheet_parts: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        self.protected = False
        self.headers: dict[str, str] = {}  # 改进建议's printed page header
        self.raws: dict[str, bytes] = {}  # 评分表's part, for its conditional formats

    def read_structure(self, wb: Element, by_id: Mapping[str, str]) -> None:
        sheet_keys: set[str] = set()
        for child in wb:
            tag = local_name(child.tag)
            if tag == "sheets":
                for sh in child:
                    if local_name(sh.tag) != "sheet":
                        continue
                    sname = sh.get("name", "")
                    if len(self.sheets) >= MAX_SHEETS:
                        raise too_complex(f"工作簿有超过 {MAX_SHEETS} 个工作表")
                    if sname.lower() in sheet_keys:
                        # Excel refuses such a file; other programs show one copy, this reader another
                        raise ReadError(
                            "CORRUPT",
                            f"文件已损坏：工作簿中有两个名为“{sname[:40]}”的工作表，无法确定专家填写的是哪一个。"
                            "请在 Excel/WPS 中打开后重新保存发送。",
                        )
                    sheet_keys.add(sname.lower())
                    self.sheets.append(SheetInfo(sname, sh.get("state", "visible") or "visible"))
                    self.sheet_parts[sname] = by_id.get(ns_attr(sh, "id") or "")
            elif tag == "definedNames":
                dn_tag = child.tag[: len(child.tag) - len(tag)] + "definedName"
                for dn in child:
                    if (dn.tag == dn_tag or local_name(dn.tag) == "definedName") and dn.get("localSheetId") is None:
                        self.names[dn.get("name", "")] = (dn.text or "").strip()
            elif tag == "workbookProtection":
                self.protected = any(truthy(v) for k, v in child.attrib.items()
                                     if local_name(k) in ("lockStructure", "lockWindows"))

    def cells(self, sheet: str, max_col: int, style_col: int = 0,
              styles: dict[str, str] | None = None) -> tuple[dict[str, RawCell], bool] | None:
        """A sheet's cells and protection; None when the workbook has no such sheet."""
        if sheet not in self.sheet_parts:
            return None
        part = self.sheet_parts[sheet]
        raw = self.pkg.read(part) if part else None
        if raw is not None:
            # a cell takes at least 4 bytes (<c/>): only a part this large can hold too many
            cells = raw.count(b"<c ") + raw.count(b"<c>") + raw.count(b":c ") if len(raw) > 4 * MAX_SHEET_CELLS else 0
            if cells > MAX_SHEET_CELLS:
                raise too_complex(f"工作表“{sheet[:40]}”有约 {cells} 个单元格（上限 {MAX_SHEET_CELLS}）")
            if sheet == L.SUGGESTION_SHEET:
                self.headers[sheet] = _odd_header(raw)
            elif sheet == L.SCORE_SHEET:
                self.raws[sheet] = raw
        root = self.pkg.parse(part, raw, head_only=True) if part and raw is not None else None
        if root is None:
            raise ReadError("CORRUPT", f"文件已损坏：找不到工作表“{sheet}”的内容，请重新保存后发送。")
        try:
            return read_cells(root, self.strings, max_col, style_col, styles)
        except DuplicateCell:
            raise ReadError(
                "CORRUPT",
                f"文件已损坏：工作表“{sheet}”中有单元格重复出现，不同程序会显示不同的值，无法确定填写内容。"
                "请在 Excel/WPS 中打开后重新保存发送。",
            ) from None


def _meta(got: tuple[dict[str, RawCell], bool] | None) -> dict[str, str]:
    """The identity sheet's key → value pairs (only the keys of layout.META_KEYS)."""
    meta: dict[str, str] = {}
    if got is not None:
        meta_cells = got[0]
        for r in range(1, len(L.META_KEYS) + 20):
            key = meta_cells.get(f"A{r}")
            if key is not None and key.text().strip() in L.META_KEYS:
                meta[key.text().strip()] = meta_cells.get(f"B{r}", RawCell(f"B{r}")).text().strip()
    return meta


def _suggestions(got: tuple[dict[str, RawCell], bool] | None) -> list[Suggestion]:
    suggestions: list[Suggestion] = []
    if got is not None:
        cells = got[0]
        for r in sorted({split_ref(ref)[1] for ref in cells}):
            if r < L.SUGGESTION_FIRST_ROW:
                continue
            text = _typed(cells.get(f"{L.SUGGESTION_TEXT_COL}{r}"))
            if text:
                suggestions.append(Suggestion(text, _typed(cells.get(f"{L.SUGGESTION_REF_COL}{r}"))))
    return suggestions


def _score_formats(styles: bytes, scores: Mapping[str, RawCell], score_styles: Mapping[str, str],
                   score_raw: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """Number formats of filled score cells that are not General, and of conditional formats."""
    formats: dict[str, str] = {}
    conditional: dict[str, str] = {}
    xf_formats, dxf_formats = cell_formats(styles)
    for cell in scores.values():
        if cell.kind == "blank":
            continue
        style = score_styles.get(cell.ref, "0")  # a cell without ``s`` has the default style
        if style.isdigit() and int(style) < len(xf_formats):
            code = xf_formats[int(style)]
            if code is not None:
                formats[cell.ref] = code
    if any(dxf_formats) and score_raw:
        # a conditional format can change the number format too (Excel 2007+)
        for sqref, ids in conditional_formats(score_raw):
            for i in ids:
                fmt = dxf_formats[i] if i < len(dxf_formats) else None
                if fmt is not None:
                    conditional[sqref] = fmt
    return formats, conditional


_LAYOUTS: dict[str, tuple[L.SheetLayout, tuple[tuple[str, str | None, str, str], ...]]] = {}


def _positions_for(rubric: Rubric) -> tuple[L.SheetLayout, tuple[tuple[str, str | None, str, str], ...]]:
    """The layout and (row id, score cell id, score ref, note ref) of item/part rows, per rubric."""
    got = _LAYOUTS.get(rubric.fingerprint)
    if got is None:
        lay = L.score_sheet_layout(rubric)
        got = lay, tuple(
            (row.id, row.cell.id if row.cell is not None else None, row.score_ref, row.note_ref)
            for row in lay.rows if row.kind in ("item", "part")
        )
        _LAYOUTS[rubric.fingerprint] = got
    return got



_CORE_KEYS = ("modified", "title", "creator", "lastModifiedBy")


def _core_properties(pkg: Package, root_rels: list[tuple[str, str, str]]) -> dict[str, str]:
    """Save time and who the file says made and last saved it (docProps/core.xml)."""
    part = next((t for _, ty, t in root_rels if ty.endswith("/core-properties")), None) or "docProps/core.xml"
    root = pkg.xml(part)
    out: dict[str, str] = {}
    if root is None:
        return out
    for child in root:
        tag = local_name(child.tag)
        value = (child.text or "").strip()
        if tag in _CORE_KEYS and tag not in out and value:
            out[tag] = value[: 40 if tag == "modified" else 200]
    return out


_ODD_HEADER = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?oddHeader>([^<]{0,2000})</")


def _odd_header(data: bytes) -> str:
    """A sheet's printed page header as stored (``&`` codes and all); it follows sheetData."""
    m = _ODD_HEADER.search(data, max(0, data.rfind(b"sheetData>")))
    if m is None:
        return ""
    return unescape_markup(m.group(1).decode("utf-8", "replace"))


_APPLICATION = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?Application>([^<]{0,200})<")


def _application(pkg: Package, root_rels: list[tuple[str, str, str]]) -> str:
    """The program that saved the file; only this one element of app.xml is ever needed."""
    part = next((t for _, ty, t in root_rels if ty.endswith("/extended-properties")), None) or "docProps/app.xml"
    data = pkg.read(part)
    m = _APPLICATION.search(data) if data else None
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


EXCEL_CELL_CHARS = 32_767  # the most a cell holds in Excel, WPS and LibreOffice


def _typed(cell: RawCell | None) -> str:
    """An expert's free text as typed, trimmed, at most what a spreadsheet cell can hold.

    Text typed as ``=…`` becomes a formula in any spreadsheet: the formula is what was typed.
    Longer text can only come from a hand-made file; clipped here, it stays the same text in
    every workbook written from it later instead of being cut differently by each writer.
    """
    if cell is None:
        return ""
    text = (("=" + cell.formula) if cell.kind == "formula" else cell.text()).strip()
    return text[:EXCEL_CELL_CHARS].rstrip() if len(text) > EXCEL_CELL_CHARS else text


def _cell_text(grid: Mapping[str, RawCell], ref: str) -> str:
    cell = grid.get(ref)
    return cell.text().strip() if cell is not None else ""


_EXCEL_EPOCH = date(1899, 12, 30)


def _date_text(cell: RawCell | None) -> str:
    """A date cell as ISO text when it holds a date serial, else its text as typed."""
    if cell is None:
        return ""
    d = cell.number()
    if cell.kind in ("number", "formula") and d is not None and 1 <= d < 2958466:
        return (_EXCEL_EPOCH + timedelta(days=int(d))).isoformat()
    return cell.text().strip()
