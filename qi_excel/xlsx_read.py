"""Any sheet of an .xlsx as rows of plain Python values, read lightly and defensively.

The organizer's 评价项目.xlsx is read by every command, and ``collect``/``status`` are where
a person waits: importing openpyxl alone cost more than the whole rest of ``collect``. It is
also untrusted (a colleague's copy, one stray cell at row 1,048,576, a million filled rows),
so this reader, built on the returned-workbook reader's safe zip and XML primitives:

- checks the zip's central directory (member count, compression ratio) before inflating;
- streams each worksheet and stops at ``max_rows`` rows or at the first run of
  ``empty_run`` rows without a value, telling the caller there was more (``Sheet.truncated``);
- refuses any part with a DTD (no entity expansion);
- gives values as Excel shows them: shared/inline strings, numbers (int when whole), booleans,
  dates for date-formatted cells (with Excel's 1900 leap-year bug, and the 1904 system),
  a formula's cached value (its text kept in ``Sheet.formulas``, so "no cached value" can be
  told apart from "empty"), and which rows are hidden.

Pure helpers (``excel_date``, ``is_date_format``) do no I/O and are tested without files.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import XMLPullParser

from . import package as _p
from . import sheet_reader as _s
from .errors import QiError

MAX_ROWS = 5_000  # rows of one sheet read at most; a roster has ≤ 99 experts
EMPTY_RUN = 200  # this many rows without a value end the sheet's real extent
MAX_COLS = 64
_CHUNK = 1 << 16

Value = Any  # str | int | float | bool | datetime | None


@dataclass(frozen=True)
class Sheet:
    """One worksheet's values. ``rows`` maps an Excel row number to its values (column A first)."""

    name: str
    state: str  # visible | hidden | veryHidden
    rows: dict[int, tuple[Value, ...]]
    hidden_rows: frozenset[int] = frozenset()
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col 1-based) → formula
    truncated: bool = False  # more rows exist after the part read (see module docstring)
    last_row: int = 0  # the last row read

    def value(self, row: int, col: int) -> Value:
        values = self.rows.get(row, ())
        return values[col - 1] if 0 < col <= len(values) else None

    def iter_rows(self, min_row: int = 1, max_row: int | None = None) -> Iterator[tuple[int, tuple[Value, ...]]]:
        """(row number, values) of the rows that hold anything, in order."""
        for r in sorted(self.rows):
            if r < min_row:
                continue
            if max_row is not None and r > max_row:
                break
            yield r, self.rows[r]

    def formula(self, row: int, col: int) -> str | None:
        return self.formulas.get((row, col))

    def uncached_formula(self, row: int, col: int) -> str | None:
        """The formula of a cell that has one but no saved result (a tool wrote it, nobody opened it)."""
        text = self.formulas.get((row, col))
        return text if text is not None and self.value(row, col) is None else None


@dataclass(frozen=True)
class Book:
    """The sheets of a workbook by name; each parsed on first use."""

    path_name: str
    sheetnames: tuple[str, ...]
    _loader: Any = field(repr=False, compare=False)
    _cache: dict[str, Sheet] = field(default_factory=dict, repr=False, compare=False)

    def __contains__(self, name: str) -> bool:
        return name in self.sheetnames

    def sheet(self, name: str) -> Sheet:
        if name not in self._cache:
            self._cache[name] = self._loader(name)
        return self._cache[name]


# ───────────────────────────── pure helpers ─────────────────────────────

_BUILTIN_DATE_FORMATS = frozenset(range(14, 23)) | frozenset(range(27, 37)) | frozenset(range(45, 48)) | frozenset(range(50, 59)) | frozenset(range(71, 82))
_FORMAT_NOISE = re.compile(r'"[^"]*"|\\.|\[(?!h\]|hh\]|m\]|mm\]|s\]|ss\])[^\]]*\]|_.|\*.', re.IGNORECASE)


def is_date_format(num_fmt_id: int, code: str | None) -> bool:
    """Whether a cell with this number format shows a date or time (as Excel decides it)."""
    if code is None:
        return num_fmt_id in _BUILTIN_DATE_FORMATS
    text = _FORMAT_NOISE.sub("", code.split(";")[0]).lower()
    if "general" in text:
        return False
    return any(ch in text for ch in "ymdhs") or "上午" in code or "aaa" in text


def excel_date(serial: float, *, date1904: bool = False) -> datetime | str | None:
    """An Excel serial as Excel shows it; None outside Excel's calendar.

    Excel's 1900 system counts 1900-02-29 (serial 60), a day that never was (Lotus's bug,
    kept for compatibility), so serials before it are one day off from a plain epoch and 60
    itself has no ``datetime``: it comes back as the text ``"1900-02-29"``.
    """
    if serial != serial or serial < 0 or serial >= 2_958_466:  # NaN, negative, after 9999-12-31
        return None
    days = int(serial)
    seconds = round((serial - days) * 86400)
    if seconds >= 86400:
        days, seconds = days + 1, 0
    if date1904:
        base = datetime(1904, 1, 1)
    elif days == 60:
        return "1900-02-29" + (f" {seconds // 3600:02d}:{seconds // 60 % 60:02d}" if seconds else "")
    elif days < 60:
        base = datetime(1899, 12, 31)
    else:
        base = datetime(1899, 12, 30)
    try:
        return base + timedelta(days=days, seconds=seconds)
    except OverflowError:
        return None


def _number(text: str) -> int | float | None:
    text = text.strip()
    if not text:
        return None
    if text.isascii() and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())) and len(text) < 19:
        return int(text)
    if not _s.XSD_DOUBLE.fullmatch(text):  # the shared definition of a stored number
        return None
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


# ───────────────────────────── reading ─────────────────────────────


class _Reader:
    def __init__(self, data: bytes, name: str) -> None:
        self.name = name
        try:
            self.zf = zipfile.ZipFile(__import__("io").BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
            raise self._bad() from None
        if len(infos) > _p.MAX_MEMBERS:
            raise self._bad()
        for info in infos:
            if info.file_size > _p.RATIO_FLOOR and info.file_size > _p.MAX_RATIO * max(info.compress_size, 1):
                raise QiError(f"{name} 中的内部文件 {info.filename[:60]} 压缩比异常（疑似“压缩炸弹”），已拒绝打开。")
        self.pkg = _p.Package(self.zf)  # bounded reads of the small parts
        try:
            root_rels = self.pkg.rels("")
            self.wb_part = next((t for _, ty, t in root_rels if ty.endswith("/officeDocument")), None) or "xl/workbook.xml"
            wb = self.pkg.xml(self.wb_part)
            if wb is None:
                raise self._bad()
            rels = self.pkg.rels(self.wb_part)
            by_id = {rid: target for rid, _, target in rels}
            self.sst_part = next((t for _, ty, t in rels if ty.endswith("/sharedStrings")), None)
            self.styles_part = next((t for _, ty, t in rels if ty.endswith("/styles")), None)
            self.sheets: dict[str, tuple[str | None, str]] = {}
            self.date1904 = False
            for child in wb:
                tag = _p.local_name(child.tag)
                if tag == "workbookPr":
                    self.date1904 = _p.truthy(child.get("date1904"))
                elif tag == "sheets":
                    for sh in child:
                        if _p.local_name(sh.tag) == "sheet":
                            self.sheets.setdefault(sh.get("name", ""), (
                                by_id.get(_p.ns_attr(sh, "id") or ""), sh.get("state", "visible") or "visible"))
        except _p.ReadError:
            raise self._bad() from None
        self._strings: _s.Strings | None = None
        self._date_styles: frozenset[int] | None = None

    def _bad(self) -> QiError:
        return QiError(f"{self.name} 不是有效的 Excel 工作簿（.xlsx）：请用 Excel 或 WPS 打开后另存为“Excel 工作簿 (*.xlsx)”。")

    def strings(self) -> Any:
        if self._strings is None:
            try:
                self._strings = _s.Strings(self.pkg.xml(self.sst_part) if self.sst_part else None)
            except _p.ReadError as exc:
                raise QiError(f"{self.name} 的文字内容（共享字符串表）无法读取：{exc}") from None
        return self._strings

    def date_styles(self) -> frozenset[int]:
        """Indexes of cellXfs whose number format shows a date."""
        if self._date_styles is None:
            out: set[int] = set()
            try:
                root = self.pkg.xml(self.styles_part) if self.styles_part else None
            except _p.ReadError:
                root = None
            if root is not None:
                codes: dict[int, str] = {}
                for child in root:
                    tag = _p.local_name(child.tag)
                    if tag == "numFmts":
                        for nf in child:
                            try:
                                codes[int(nf.get("numFmtId", ""))] = nf.get("formatCode", "")
                            except ValueError:
                                pass
                    elif tag == "cellXfs":
                        for i, xf in enumerate(child):
                            try:
                                fid = int(xf.get("numFmtId", "0"))
                            except ValueError:
                                continue
                            if is_date_format(fid, codes.get(fid)):
                                out.add(i)
            self._date_styles = frozenset(out)
        return self._date_styles

    def sheet(self, name: str, max_rows: int, empty_run: int, max_cols: int) -> Sheet:
        part, state = self.sheets[name]
        real = self.pkg.find(part) if part else None
        if real is None:
            return Sheet(name, state, {})
        strings, date_styles = self.strings(), self.date_styles()
        rows: dict[int, tuple[Value, ...]] = {}
        hidden: set[int] = set()
        formulas: dict[tuple[int, int], str] = {}
        truncated = False
        last_value_row = 0
        last_row = 0
        parser: Any = XMLPullParser(events=("start", "end"))
        tail = b""
        row_no = 0
        done = False
        sheet_data: Any = None
        try:
            with self.zf.open(real) as fh:
                while not done:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        break
                    probe = tail + chunk
                    if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
                        raise QiError(f"{self.name} 的工作表“{name}”含有不允许的 XML 实体定义，已拒绝读取。")
                    tail = chunk[-16:]
                    parser.feed(chunk)
                    event: str
                    el: Any
                    for event, el in parser.read_events():
                        local = _p.local_name(el.tag)
                        if event == "start":
                            if local == "sheetData":
                                sheet_data = el
                            continue
                        if local != "row":
                            continue
                        r_attr = el.get("r")
                        row_no = int(r_attr) if r_attr and r_attr.isdigit() else row_no + 1
                        # hidden, or a custom height of 0 (what dragging a row shut does)
                        is_hidden = _p.truthy(el.get("hidden")) or (
                            _p.truthy(el.get("customHeight")) and el.get("ht", "").strip() in ("0", "0.0"))
                        values, found = self._row(el, row_no, strings, date_styles, formulas, max_cols)
                        if sheet_data is not None:
                            sheet_data.clear()  # rows already read: keep memory flat on huge sheets
                        if not found:
                            continue
                        if (last_value_row and row_no - last_value_row > empty_run) or len(rows) >= max_rows:
                            truncated = True
                            done = True
                            break
                        rows[row_no] = values
                        last_value_row = last_row = row_no
                        if is_hidden:
                            hidden.add(row_no)
        except QiError:
            raise
        except Exception:  # noqa: BLE001 - zlib, expat, zip errors: the file is damaged
            raise QiError(f"{self.name} 的工作表“{name}”已损坏，无法读取：请用 Excel 或 WPS 打开后重新保存。") from None
        return Sheet(name, state, rows, frozenset(hidden), formulas, truncated, last_row)

    def _row(self, row: Any, row_no: int, strings: Any, date_styles: frozenset[int],
             formulas: dict[tuple[int, int], str], max_cols: int) -> tuple[tuple[Value, ...], bool]:
        cells: dict[int, Value] = {}
        col = 0
        any_formula = False
        for c in row:
            if _p.local_name(c.tag) != "c":
                continue
            ref = c.get("r")
            pos = _s.cell_position(ref) if ref else None
            col = pos[0] if pos else col + 1
            if col > max_cols or not len(c):
                continue
            t = c.get("t", "n")
            v_text: str | None = None
            inline: str | None = None
            formula: str | None = None
            for child in c:
                tag = _p.local_name(child.tag)
                if tag == "v":
                    v_text = child.text or ""
                elif tag == "f":
                    formula = (child.text or "").strip() or "?"
                elif tag == "is":
                    inline = _s.string_item(child)
            value: Value = None
            if t == "inlineStr":
                value = inline
            elif v_text is not None:
                if t == "s":
                    idx = int(v_text) if v_text.strip().isdigit() else -1
                    value = strings[idx] if 0 <= idx < len(strings) else None
                elif t in ("str", "inlineStr"):
                    value = _s.unescape_ooxml(v_text)
                elif t == "b":
                    value = v_text.strip() in ("1", "true")
                elif t == "e":
                    value = v_text.strip()
                elif t == "d":
                    try:
                        value = datetime.fromisoformat(v_text.strip())
                    except ValueError:
                        value = v_text.strip()
                else:
                    number = _number(v_text)
                    value = number
                    if number is not None and int(c.get("s", "0") or 0) in date_styles:
                        value = excel_date(number, date1904=self.date1904)
            if formula is not None:
                formulas[(row_no, col)] = formula
                any_formula = True
            if value is not None and value != "":
                cells[col] = value
            elif formula is not None:
                cells.setdefault(col, None)
        if not cells:
            return (), False
        width = max(cells)
        has_value = any(v is not None for v in cells.values()) or any_formula
        return tuple(cells.get(i) for i in range(1, width + 1)), has_value


def open_book(path: str | Path, *, max_rows: int = MAX_ROWS, empty_run: int = EMPTY_RUN,
              max_cols: int = MAX_COLS, max_bytes: int = _p.MAX_FILE_BYTES * 5, data: bytes | None = None) -> Book:
    """Open an .xlsx for reading sheets as rows of values; a ``QiError`` names what is wrong.

    ``data``: the file's bytes when the caller read them already (to key a cache by exactly
    what is parsed); ``path`` then only names the file.
    """
    path = Path(path)
    name = path.name
    if data is not None:
        if len(data) > max_bytes:
            raise QiError(f"{name} 有 {len(data) // (1024 * 1024)} MB，远超正常的工作簿，已拒绝读取。")
        reader = _Reader(data, name)
        return Book(name, tuple(reader.sheets), lambda sheet: reader.sheet(sheet, max_rows, empty_run, max_cols))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise QiError(f"{name} 有 {size // (1024 * 1024)} MB，远超正常的工作簿，已拒绝读取。")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise QiError(f"找不到 {path}。") from None
    except PermissionError:
        raise QiError(f"无法读取 {name}：文件可能正在被其他程序占用，或没有权限。") from None
    except IsADirectoryError:
        raise QiError(f"{path} 是一个文件夹，不是工作簿。") from None
    except OSError as exc:
        from .errors import os_error_text

        raise QiError(f"无法读取 {name}：{os_error_text(exc)}。") from None
    reader = _Reader(data, name)
    return Book(name, tuple(reader.sheets), lambda sheet: reader.sheet(sheet, max_rows, empty_run, max_cols))


def sheet_rows(path: str | Path, sheet: str) -> list[tuple[int, tuple[Value, ...]]]:
    """(row number, values) of one sheet: the simplest way to read a sheet someone else added."""
    book = open_book(path)
    if sheet not in book:
        raise QiError(f"{book.path_name} 缺少工作表“{sheet}”（现有：{'、'.join(book.sheetnames)}）。")
    return list(book.sheet(sheet).iter_rows())

