"""A general OOXML worksheet reader: cells as stored, shared strings, styles' number formats.

Cells are kept raw (number / text / formula / blank, with cached values) so the checks can
say exactly what an expert typed. Namespaces are matched by local name only, attribute
order is never relied on, and cell positions are computed where ``r=`` is missing. Nothing
here knows about our layout (that is returned.py) or about zip files (package.py).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal, NamedTuple
from xml.etree.ElementTree import Element

from .lazy_re import lazy_re
from .package import local_name, truthy, unescape_markup

CellKind = Literal["blank", "number", "text", "formula", "bool", "error"]


XSD_DOUBLE = lazy_re(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)


class RawCell(NamedTuple):
    """What one cell holds, as stored, so a finding can quote it exactly.

    ``value`` is the number literal, the text, or (for formulas) the cached result as text;
    ``formula`` is the formula text without the leading ``=``. A named tuple, not a
    dataclass: a workbook has hundreds of cells and reading must stay within milliseconds.
    """

    ref: str
    kind: CellKind = "blank"
    value: str = ""
    formula: str = ""

    @property
    def is_blank(self) -> bool:
        return self.kind == "blank" or (self.kind == "text" and not self.value.strip())

    def number(self) -> Decimal | None:
        """The numeric value of a number cell, or of a formula's cached numeric result.

        Only what a spreadsheet program can store counts: an ASCII ``xsd:double`` within the
        range of a double. ``Decimal`` alone would also take full-width or Arabic-Indic
        digits, ``1_0``, ``NaN`` and ``1E999999999`` (whose ``int()`` never finishes), none
        of which any program shows as that number.
        """
        if self.kind not in ("number", "formula") or not self.value:
            return None
        value = self.value
        try:
            return _NUMBERS[value]
        except KeyError:
            pass
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) < 300) and not XSD_DOUBLE.fullmatch(text):
            d = None
        else:
            d = Decimal(text)
            if not (d.is_zero() or -400 < d.adjusted() <= 308):
                d = None
        if len(value) <= 40 and len(_NUMBERS) < 10_000:
            _NUMBERS[value] = d
        return d

    def text(self) -> str:
        """The cell as a person would read it (numbers without a trailing ``.0``)."""
        if self.kind == "number":
            d = self.number()
            return plain_number(d) if d is not None else self.value
        if self.kind == "bool":
            return "TRUE" if self.value in ("1", "true") else "FALSE"
        return self.value


# stored number text → its value (Decimal is immutable): the same maxima and scores come
# back in every workbook, and the checks ask each cell's value more than once
_NUMBERS: dict[str, Decimal | None] = {}

_BUILTIN_FORMATS = {1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00",
                    12: "# ?/?", 13: "# ??/??", 14: "yyyy/m/d", 49: "@"}
_NUM_FMT = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?numFmt\b")
_CELL_XFS = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?cellXfs\b[^>]{0,4000}>")
_XF = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?xf\b")
_ATTR = lazy_re(rb'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_DXFS = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?dxfs\b[^>]{0,4000}>")
_DXF_START = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?dxf\b")
_Formats = tuple[tuple[str | None, ...], tuple[str | None, ...]]
_FORMATS_SEEN: dict[bytes, _Formats] = {}
_CF_START = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?conditionalFormatting\b([^>]{0,4000})>")
_DXF_ID = lazy_re(rb"\bdxfId\s*=\s*[\"']?(\d{1,6})")
_SQREF = lazy_re(rb"\bsqref\s*=\s*[\"']([^\"']{0,2000})")


def _tag_attrs(data: bytes, start: re.Pattern[bytes], limit: int = 65_000) -> Iterator[bytes]:
    """The attribute text of each start tag ``start`` finds, in one linear pass.

    A tag's attributes end at its ``>`` and never run past the next tag of the same kind,
    so a part full of unclosed tags costs no more than a well-formed one.
    """
    starts = [m.end() for m in itertools.islice(start.finditer(data), limit)]
    for i, begin in enumerate(starts):
        stop = min(starts[i + 1] if i + 1 < len(starts) else len(data), begin + 4000)
        gt = data.find(b">", begin, stop)
        yield data[begin : gt if gt >= 0 else stop]


def _inner(data: bytes, start: re.Pattern[bytes], close: bytes) -> bytes:
    """What lies between an element's start tag and its end tag, found in one pass.

    A pattern with ``(.*?)</end>`` rescans the rest of the part from every start tag that is
    never closed: quadratic in a hostile part. Finding the start, then the end, is linear.
    """
    m = start.search(data)
    if m is None:
        return b""
    end = data.find(close, m.end())
    return data[m.end() : end if end >= 0 else len(data)]


def conditional_formats(sheet: bytes) -> list[tuple[str, list[int]]]:
    """(sqref, dxf ids) of every conditional format of a worksheet."""
    out: list[tuple[str, list[int]]] = []
    # each format runs to the start of the next: one linear pass, whatever the markup
    starts = list(_CF_START.finditer(sheet, max(0, sheet.find(b"conditionalFormatting") - 64)))[:1000]
    for m, after in zip(starts, starts[1:] + [None]):
        body = sheet[m.end() : after.start() if after is not None else len(sheet)]
        ref = _SQREF.search(m.group(1))
        out.append((ref.group(1).decode("ascii", "replace") if ref else "", [int(i) for i in _DXF_ID.findall(body)]))
    return out


def cell_formats(styles: bytes) -> _Formats:
    """Number format code per cell style (cellXfs index) and per differential (conditional)
    format (dxfs index); None for General / none.

    Read with patterns, not a parse: styles.xml is the same in every file of an evaluation
    (memoised) and only numFmt codes and each xf's numFmtId are needed.
    """
    got = _FORMATS_SEEN.get(styles)
    if got is not None:
        return got
    def attrs(blob: bytes) -> dict[bytes, str]:
        return {k.rsplit(b":", 1)[-1]: unescape_markup((a if a or not b else b).decode("utf-8", "replace"))
                for k, a, b in _ATTR.findall(blob)}

    codes: dict[int, str] = {}
    for blob in _tag_attrs(styles, _NUM_FMT):
        a = attrs(blob)
        ident = a.get(b"numFmtId", "")
        if ident.isdigit() and len(ident) < 10:
            codes[int(ident)] = a.get(b"formatCode", "")
    out: list[str | None] = []
    for blob in _tag_attrs(_inner(styles, _CELL_XFS, b"cellXfs>"), _XF):
        ident = attrs(blob).get(b"numFmtId", "0")
        n = int(ident) if ident.isdigit() and len(ident) < 10 else 0
        out.append(None if n == 0 else codes.get(n) or _BUILTIN_FORMATS.get(n) or f"内置格式 {n}")
    dxfs: list[str | None] = []
    inner = _inner(styles, _DXFS, b"dxfs>")
    starts = [m.start() for m in _DXF_START.finditer(inner)][:65_000]
    for start, end in zip(starts, starts[1:] + [len(inner)]):
        fmt = next(_tag_attrs(inner[start:end], _NUM_FMT), None)  # each dxf runs to the start of the next
        dxfs.append(attrs(fmt).get(b"formatCode", "") if fmt is not None else None)
    result = (tuple(out), tuple(dxfs))
    if len(styles) < 1_000_000 and len(_FORMATS_SEEN) < 64:
        _FORMATS_SEEN[styles] = result
    return result


# ───────────────────────────── sheet level ─────────────────────────────


class Strings:
    """The shared-string table, each entry turned into text only when a cell we read uses it."""

    def __init__(self, root: Element | None) -> None:
        ns = root.tag[: len(root.tag) - len(local_name(root.tag))] if root is not None else ""  # "{…}" or ""
        si_tag, self._t_tag = ns + "si", ns + "t"  # for the common <si><t>text</t></si> entry
        self._items = [si for si in root if si.tag == si_tag or local_name(si.tag) == "si"] if root is not None else []
        self._text: list[str | None] = [None] * len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> str:
        text = self._text[index]
        if text is None:
            si = self._items[index]
            if len(si) == 1 and si[0].tag == self._t_tag and not len(si[0]):
                text = unescape_ooxml(si[0].text or "")  # plain entry: what string_item gives
            else:
                text = string_item(si)
            self._text[index] = text
        return text


def string_item(si: Element) -> str:
    """Text of an <si>/<is>: plain <t> or rich-text runs <r><t>, never phonetic <rPh>."""
    parts: list[str] = []
    for child in si:
        tag = local_name(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if local_name(t.tag) == "t":
                    parts.append(t.text or "")
    return unescape_ooxml("".join(parts))


_X_ESCAPE = lazy_re(r"_x([0-9A-Fa-f]{4})_")


def unescape_ooxml(text: str) -> str:
    """Undo ST_Xstring escapes (``_x000D_``) that Excel writes for control characters."""
    if "_x" not in text:
        return text
    text = _X_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if _SURROGATE.search(text):
        # ``_xD83D__xDE00_`` is one emoji written as a UTF-16 pair; a lone half (``_xD800_``)
        # is no character at all and could not be written to any file: shown as U+FFFD
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


_SURROGATE = lazy_re("[\ud800-\udfff]")


def _is(tag: str, name: str) -> bool:
    return local_name(tag) == name


def read_cells(root: Element, strings: Strings, max_col: int, style_col: int = 0,
               styles: dict[str, str] | None = None) -> tuple[dict[str, RawCell], bool]:
    """Non-empty cells in columns 1..max_col, keyed by A1 reference, and sheetProtection presence.

    The style index (``s``) of non-empty cells in column ``style_col`` goes into ``styles``.
    """
    cells: dict[str, RawCell] = {}
    stored = 0  # cells put into ``cells``; more than its size means a cell appeared twice
    protected = False
    shared: dict[str, tuple[str, int, int]] = {}  # si → (master formula, row, col)
    for child in root:
        tag = child.tag
        if _is(tag, "sheetData"):
            prefix = tag[: len(tag) - len("sheetData")]  # "{ns}" or "x:" or ""
            stored += _read_rows(child, prefix, strings, max_col, style_col, styles, cells, shared)
        elif _is(tag, "sheetProtection"):
            sheet_attr = child.get("sheet")
            protected = sheet_attr is None or truthy(sheet_attr)
    if stored != len(cells):
        # Excel refuses such a sheet and other programs keep either copy: which value the
        # expert saw cannot be known.
        raise DuplicateCell()
    return cells, protected


def _read_rows(sheet_data: Element, prefix: str, strings: Strings, max_col: int, style_col: int,
               styles: dict[str, str] | None, cells: dict[str, RawCell], shared: dict[str, tuple[str, int, int]]) -> int:
    """Put the non-empty cells of ``sheet_data`` into ``cells``; the number of cells put.

    The hot loop of every read: one pass, blanks skipped before anything is computed.
    """
    stored = 0
    row_no = 0
    row_tag, cell_tag, v_tag = prefix + "row", prefix + "c", prefix + "v"
    n_strings = len(strings)
    texts = strings._text  # each entry's text once turned into text (None before), read inline
    positions, new_cell = _POSITIONS, tuple.__new__  # RawCell without its Python __new__
    for row in sheet_data:
        if row.tag != row_tag:
            continue
        r_attr = row.get("r")
        row_no = int(r_attr) if r_attr and r_attr.isascii() and r_attr.isdigit() else row_no + 1
        col_no = 0
        pending: str | None = None  # ref of a skipped blank, resolved only if needed
        for c in row:
            ref = c.get("r")
            n_children = len(c)
            if ref and not n_children:
                pending = ref  # a styled blank: the common case, skipped cheaply
                continue
            pos: tuple[int, int, bool] | None = None
            if ref:
                pos = positions.get(ref, _UNKNOWN)
                if pos is _UNKNOWN:
                    pos = cell_position(ref)
            if pos is not None:
                col_no = pos[0]
                if pos[1]:
                    row_no = pos[1]
            else:
                if pending is not None and not ref:
                    known = cell_position(pending)
                    if known is not None:
                        col_no = known[0]
                pending = None
                col_no += 1
            if not n_children or col_no > max_col or c.tag != cell_tag:
                continue
            a1 = ref if ref and pos is not None and pos[1] == row_no and pos[2] else f"{col_letters(col_no)}{row_no}"
            if col_no == style_col and styles is not None:
                style = c.get("s")
                if style:
                    styles[a1] = style
            if n_children == 1:
                # Fast paths for the two cells that make up nearly every sheet: a
                # number or a shared string with one <v>; the same result _cell gives.
                v = c[0]
                if v.tag == v_tag:
                    t = c.get("t")
                    text = v.text
                    if t is None and text:
                        number = text.strip()
                        if number:
                            cells[a1] = new_cell(RawCell, (a1, "number", number, ""))
                            stored += 1
                        continue
                    if t == "s" and text and text.isascii() and text.isdigit():
                        idx = int(text)
                        if idx < n_strings:
                            string = texts[idx]
                            if string is None:
                                string = strings[idx]
                            cells[a1] = new_cell(RawCell, (a1, "text", string, ""))
                            stored += 1
                            continue
            cell = _cell(c, a1, strings, shared, row_no, col_no)
            if cell.kind != "blank":
                cells[a1] = cell
                stored += 1
    return stored


class DuplicateCell(Exception):
    pass


_CELL_REF = lazy_re(r"\$?([A-Z]{1,3})\$?(\d*)$", re.ASCII)
_UNKNOWN: Any = object()  # Any: compared by identity only, never used as a position
_POSITIONS: dict[str, tuple[int, int, bool] | None] = {}


def cell_position(ref: str) -> tuple[int, int, bool] | None:
    """(column, row, ref-is-plain-A1) of a cell reference; memoised, refs repeat across files."""
    try:
        return _POSITIONS[ref]
    except KeyError:
        pass
    letters = ref.rstrip("0123456789")
    col = _PLAIN_COLUMNS.get(letters)
    if col is not None and len(letters) < len(ref):  # "G12", as programs write it: what the pattern gives
        pos: tuple[int, int, bool] | None = (col, int(ref[len(letters) :]), True)
    else:
        m = _CELL_REF.match(ref)
        pos = (col_index(m.group(1)), int(m.group(2)) if m.group(2) else 0, "$" not in ref and bool(m.group(2))) if m else None
    if len(_POSITIONS) < 200_000:
        _POSITIONS[ref] = pos
    return pos


def _cell(c: Element, ref: str, strings: Strings, shared: dict[str, tuple[str, int, int]], row: int, col: int) -> RawCell:
    t = c.get("t", "n")
    v_text: str | None = None
    formula: str | None = None
    inline: str | None = None
    for child in c:
        tag = local_name(child.tag)
        if tag == "v":
            v_text = child.text or ""
        elif tag == "f":
            formula = (child.text or "").strip()
            si = child.get("si")
            if child.get("t") == "shared" and si is not None:
                if formula:
                    shared[si] = (formula, row, col)
                elif si in shared:
                    master, mrow, mcol = shared[si]
                    formula = shift_formula(master, row - mrow, col - mcol)
            if not formula:
                formula = "?"
        elif tag == "is":
            inline = string_item(child)
    if formula is not None:
        value = v_text or ""
        if t == "s" and value.isascii() and value.isdigit():
            idx = int(value)
            value = strings[idx] if idx < len(strings) else ""
        return RawCell(ref, "formula", unescape_ooxml(value), formula)
    if t == "inlineStr":
        return RawCell(ref, "text", inline or "") if inline else RawCell(ref)
    if v_text is None:
        return RawCell(ref)
    if t == "s":
        idx = int(v_text) if v_text.strip().isascii() and v_text.strip().isdigit() else -1
        if not 0 <= idx < len(strings):
            return RawCell(ref, "error", "#REF!")  # a dangling index: damaged or hand-made XML
        return RawCell(ref, "text", strings[idx])
    if t in ("str", "inlineStr"):
        return RawCell(ref, "text", unescape_ooxml(v_text))
    if t == "b":
        return RawCell(ref, "bool", v_text.strip())
    if t == "e":
        return RawCell(ref, "error", v_text.strip())
    if t == "d":
        return RawCell(ref, "text", v_text.strip())
    return RawCell(ref, "number", v_text.strip()) if v_text.strip() else RawCell(ref)


# ───────────────────────────── small helpers ─────────────────────────────

_REF = lazy_re(r"^\$?([A-Za-z]{1,3})\$?(\d*)$")


def split_ref(ref: str) -> tuple[str, int]:
    m = _REF.match(ref.strip())
    if not m:
        return "", 0
    return m.group(1).upper(), int(m.group(2)) if m.group(2) else 0


def col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _letters(n: int) -> str:
    out = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


_COL_LETTERS = [_letters(i) for i in range(64)]
_PLAIN_COLUMNS = {_COL_LETTERS[i]: i for i in range(1, 64)}  # "A".."BK": the first file's refs, without the pattern


def col_letters(n: int) -> str:
    return _COL_LETTERS[n] if 0 <= n < 64 else _letters(n)


_FORMULA_REF = lazy_re(r"(\"[^\"]*\")|(?<![A-Za-z0-9_.!])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![A-Za-z0-9_(])")


def shift_formula(formula: str, drow: int, dcol: int) -> str:
    """Translate a shared formula's master text to a follower cell (relative refs move)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1)
        cabs, col, rabs, row = m.group(2), m.group(3), m.group(4), int(m.group(5))
        new_col = col if cabs else col_letters(max(1, col_index(col) + dcol))
        new_row = row if rabs else max(1, row + drow)
        return f"{cabs}{new_col}{rabs}{new_row}"

    return _FORMULA_REF.sub(sub, formula)



def plain_number(d: Decimal) -> str:
    """A number as a person writes it; never raises (``quantize`` does beyond 28 digits)."""
    if d == d.to_integral_value():
        return format(d.to_integral_value(), "f")
    return format(d.normalize(), "f")


def formula_rows(formula: str, column: str) -> tuple[list[int], str] | None:
    """Rows a simple sum formula adds up in ``column``, and whatever else it contains.

    Returns None when the formula refers to another column or sheet; the leftover text
    (with SUM, parentheses, commas, plus signs and spaces removed) is empty for a pure sum.
    """
    rows: list[int] = []
    text = formula.upper().replace("_XLFN.", "")
    pos = 0
    rest: list[str] = []
    for m in _RANGE.finditer(text):
        rest.append(text[pos : m.start()])
        pos = m.end()
        if m.group("sheet") or m.group("c1") != column or (m.group("c2") and m.group("c2") != column):
            return None
        if len(m.group("r1")) > 7 or len(m.group("r2") or "") > 7:
            return None  # beyond the last row of any spreadsheet: not a sum of this sheet
        r1 = int(m.group("r1"))
        r2 = int(m.group("r2")) if m.group("r2") else r1
        if r2 < r1:
            r1, r2 = r2, r1
        if r2 - r1 > 10_000:
            return None
        rows.extend(range(r1, r2 + 1))
    rest.append(text[pos:])
    leftover = re.sub(r"SUM|[()+,;\s]", "", "".join(rest))
    return rows, leftover


_RANGE = lazy_re(
    r"(?P<sheet>(?:'[^']+'|[^\s'!(),+\-*/=<>]+)!)?\$?(?P<c1>[A-Z]{1,3})\$?(?P<r1>\d+)(?::\$?(?P<c2>[A-Z]{1,3})\$?(?P<r2>\d+))?"
)
