"""A small SpreadsheetML writer for plain printed tables: text, numbers, styles, nothing else.

``collect`` writes 检查报告.xlsx on every run, and importing XlsxWriter (every chart module
with it) cost more than the report itself in a fresh process. A table of text and counts
needs a handful of parts, so this module writes them directly: pure bytes out, no I/O.

It supports exactly what the reports use: column widths, row heights, fonts, fills, thin
borders, alignment and wrapping, frozen header rows, an autofilter, printing (A4, landscape,
one page wide, repeated title rows, a footer) and document properties. Everything else
(formulas, merged cells, validation, protection) stays with XlsxWriter.

Text is always written as a shared string, never as a formula, so an expert's remark that
starts with ``=`` stays text. Characters XML 1.0 cannot carry are written the way Excel
writes them (ST_Xstring escapes, see ``cell_text``), so no text can break the file.
The output is deterministic (fixed zip times), so an unchanged report has unchanged bytes.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import datetime
from typing import NamedTuple

MAX_TEXT = 32_767  # characters Excel keeps in one cell; a longer one makes Excel "repair" the file


class Style(NamedTuple):
    """One cell format. Colours are "RRGGBB"; ``boxed`` draws a thin border all round.

    A NamedTuple rather than a frozen dataclass: as immutable and hashable, and a third of the
    cost to define in the fresh process every ``collect`` is.
    """

    font: str = "等线"
    size: float = 10
    bold: bool = False
    color: str | None = None  # font colour; None is automatic (black)
    fill: str | None = None  # solid background
    boxed: bool = False
    halign: str | None = None  # left | center | right; None is Excel's general alignment
    valign: str | None = None  # top | center | bottom; None is bottom
    wrap: bool = False


class Sheet:
    """One worksheet being filled: cells by (row, column), both 0-based as in XlsxWriter."""

    def __init__(self, name: str, widths: tuple[float, ...] = ()) -> None:
        if (not 0 < len(name) <= 31 or not name.isprintable() or any(ch in name for ch in "[]:*?/\\")
                or name[0] == "'" or name[-1] == "'"):
            raise ValueError(f"not a worksheet name: {name!r}")
        self.name = name
        self.widths = widths  # character units, from column A
        self.cells: dict[int, dict[int, tuple[str | int | float, Style]]] = {}
        self.heights: dict[int, float] = {}  # points
        self.frozen_rows = 0
        self.filter: tuple[int, int, int, int] | None = None  # first row, first col, last row, last col
        self.title_rows: tuple[int, int] | None = None  # rows repeated on every printed page
        self.landscape = False
        self.fit_width = False  # scale to one page wide, as many pages down as needed
        self.margins = (0.7, 0.7, 0.75, 0.75)  # left, right, top, bottom (inches)
        self.footer = ""  # Excel header/footer codes, e.g. "&C第 &P 页"

    def write(self, row: int, col: int, value: str | int | float, style: Style) -> None:
        """Put text or a number in a cell; text is always text, whatever it starts with."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError(f"cell value must be text or a number, not {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("a cell cannot hold NaN or infinity")
        self.cells.setdefault(row, {})[col] = (value, style)

    def set_row_height(self, row: int, points: float) -> None:
        """Rounded to whole screen pixels (0.75 pt), as Excel keeps it and XlsxWriter wrote it."""
        self.heights[row] = int(points * 4 / 3 + 0.5) * 0.75


def to_xlsx(sheets: list[Sheet], *, title: str, author: str, created: datetime) -> bytes:
    """The .xlsx package of ``sheets`` (the first one selected).

    ``created`` is written as given, also as the modification time: the caller decides what
    keeps an unchanged document byte-identical (nothing here depends on the clock).
    """
    if not sheets or len({s.name.casefold() for s in sheets}) != len(sheets):
        raise ValueError("a workbook needs sheets with distinct names")
    strings: dict[str, int] = {}
    styles = _Styles()
    parts = {f"xl/worksheets/sheet{i}.xml": _sheet_xml(s, i == 1, strings, styles) for i, s in enumerate(sheets, 1)}
    parts |= {
        "[Content_Types].xml": _content_types(len(sheets)),
        "_rels/.rels": _ROOT_RELS,
        "docProps/app.xml": _app_xml(sheets),
        "docProps/core.xml": _core_xml(title, author, created),
        "xl/workbook.xml": _workbook_xml(sheets),
        "xl/_rels/workbook.xml.rels": _workbook_rels(len(sheets)),
        "xl/styles.xml": styles.xml(),
        "xl/theme/theme1.xml": _THEME,
        "xl/sharedStrings.xml": _strings_xml(strings),
    }
    order = ["[Content_Types].xml", "_rels/.rels", "docProps/app.xml", "docProps/core.xml", "xl/workbook.xml",
             "xl/_rels/workbook.xml.rels", "xl/styles.xml", "xl/theme/theme1.xml", "xl/sharedStrings.xml"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in order + [n for n in parts if n not in order]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same content, same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, parts[name].encode("utf-8"))
    return buf.getvalue()


# --- text -----------------------------------------------------------------------------------

# control characters XML 1.0 forbids (tab and newline are allowed) and the two non-characters
_CONTROL = {c: f"_x{c:04X}_" for c in (*range(0x09), 0x0B, 0x0C, *range(0x0D, 0x20), 0xFFFE, 0xFFFF)}


def cell_text(value: str) -> str:
    """``value`` as XML character data of a cell, the way Excel writes it (ST_Xstring).

    A control character becomes ``_xHHHH_`` (tab and newline stay, CR becomes ``_x000D_``), a
    literal ``_xHHHH_`` keeps its meaning by escaping its underscore (``_x005F_``; also where
    escapes overlap, unlike XlsxWriter), U+FFFE/U+FFFF become ``_xFFFE_``/``_xFFFF_``. A lone
    surrogate is no character at all and cannot be encoded as UTF-8: it becomes U+FFFD.
    Text beyond Excel's 32,767 characters (UTF-16 units, as Excel counts) is cut.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if len(value) > MAX_TEXT // 2 and len(units := value.encode("utf-16-le")) > 2 * MAX_TEXT:
        value = units[:2 * MAX_TEXT].decode("utf-16-le", "ignore")  # "ignore": a pair cut in half
    if "_x" in value:
        value = re.sub("_(?=x[0-9A-Fa-f]{4}_)", "_x005F_", value)
    return _xml(value.translate(_CONTROL))


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: str) -> str:
    return _xml(text).replace('"', "&quot;")


def _col_name(col: int) -> str:
    name = ""
    col += 1
    while col:
        col, rest = divmod(col - 1, 26)
        name = chr(65 + rest) + name
    return name


def _ref(row: int, col: int, absolute: bool = False) -> str:
    d = "$" if absolute else ""
    return f"{d}{_col_name(col)}{d}{row + 1}"


def _quoted(name: str) -> str:
    """A sheet name as formulas cite it: quoted unless it is one plain word (as Excel writes it)."""
    plain = not name[0].isdigit() and all(ch.isalnum() or ch == "_" for ch in name)
    if plain and name.isascii():  # "A1", "R2C3" or "C" would read as a reference
        plain = not re.fullmatch(r"(?i)[a-z]{1,3}\d+|r\d*c?\d*|c\d*", name)
    return name if plain else "'" + name.replace("'", "''") + "'"


def _excel_width(width: float) -> float:
    """The stored column width for ``width`` characters as Excel shows it (Calibri 11: 7-px digits
    plus 5 px padding), so the column looks as wide as in the XlsxWriter-written report."""
    pixels = int(width * 12 + 0.5) if width < 1 else int(width * 7 + 0.5) + 5
    return int(pixels / 7 * 256) / 256


def _number(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else repr(value)


# --- parts ----------------------------------------------------------------------------------

_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_R = "http://schemas.openxmlformats.org/package/2006/relationships"


def _sheet_xml(s: Sheet, selected: bool, strings: dict[str, int], styles: _Styles) -> str:
    rows = sorted(s.cells.keys() | s.heights.keys())
    last_row = max(rows, default=0)
    last_col = max((c for r in s.cells.values() for c in r), default=0)
    out = [_HEAD, f'<worksheet xmlns="{_MAIN}" xmlns:r="{_R}">']
    if s.fit_width:
        out.append('<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>')
    out.append(f'<dimension ref="A1:{_ref(last_row, last_col)}"/>' if rows else '<dimension ref="A1"/>')
    out.append('<sheetViews><sheetView' + (' tabSelected="1"' if selected else "") + ' workbookViewId="0">')
    if s.frozen_rows:
        out.append(f'<pane ySplit="{s.frozen_rows}" topLeftCell="{_ref(s.frozen_rows, 0)}" activePane="bottomLeft"'
                   ' state="frozen"/><selection pane="bottomLeft"/>')
    out.append('</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>')
    if s.widths:
        out.append("<cols>")
        out += [f'<col min="{i}" max="{i}" width="{_excel_width(w)}" customWidth="1"/>' for i, w in enumerate(s.widths, 1)]
        out.append("</cols>")
    out.append("<sheetData>")
    for r in rows:
        ht = s.heights.get(r)
        out.append(f'<row r="{r + 1}"' + (f' ht="{_number(ht)}" customHeight="1">' if ht is not None else ">"))
        for c, (value, style) in sorted(s.cells.get(r, {}).items()):
            xf = styles.index(style)
            if isinstance(value, str):
                i = strings.setdefault(value, len(strings))
                out.append(f'<c r="{_ref(r, c)}" s="{xf}" t="s"><v>{i}</v></c>')
            else:
                out.append(f'<c r="{_ref(r, c)}" s="{xf}"><v>{_number(value)}</v></c>')
        out.append("</row>")
    out.append("</sheetData>")
    if s.filter:
        r0, c0, r1, c1 = s.filter
        out.append(f'<autoFilter ref="{_ref(r0, c0)}:{_ref(r1, c1)}"/>')
    left, right, top, bottom = s.margins
    out.append(f'<pageMargins left="{left}" right="{right}" top="{top}" bottom="{bottom}" header="0.3" footer="0.3"/>')
    out.append('<pageSetup paperSize="9"' + (' fitToHeight="0"' if s.fit_width else "")
               + (' orientation="landscape"' if s.landscape else "") + "/>")
    if s.footer:
        out.append(f"<headerFooter><oddFooter>{_xml(s.footer)}</oddFooter></headerFooter>")
    out.append("</worksheet>")
    return "".join(out)


class _Styles:
    """styles.xml: cell formats numbered in order of first use (0 is Excel's default)."""

    _DEFAULT_FONT = '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'

    def __init__(self) -> None:
        self.xfs: dict[Style, int] = {}
        self.fonts: dict[tuple[str, float, bool, str | None], int] = {}
        self.fills: dict[str, int] = {}

    def index(self, style: Style) -> int:
        if style not in self.xfs:
            self.fonts.setdefault((style.font, style.size, style.bold, style.color), len(self.fonts) + 1)
            if style.fill:
                self.fills.setdefault(style.fill, len(self.fills) + 2)
            self.xfs[style] = len(self.xfs) + 1
        return self.xfs[style]

    def xml(self) -> str:
        fonts = [self._DEFAULT_FONT] + [
            "<font>" + ("<b/>" if bold else "") + f'<sz val="{_number(size)}"/>'
            + (f'<color rgb="FF{color.upper()}"/>' if color else "")
            + f'<name val="{_attr(name)}"/><family val="2"/></font>'
            for name, size, bold, color in self.fonts]
        fills = ['<fill><patternFill patternType="none"/></fill>', '<fill><patternFill patternType="gray125"/></fill>'] + [
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{c.upper()}"/><bgColor indexed="64"/></patternFill></fill>'
            for c in self.fills]
        thin = "".join(f'<{side} style="thin"><color auto="1"/></{side}>' for side in ("left", "right", "top", "bottom"))
        borders = ["<border><left/><right/><top/><bottom/><diagonal/></border>", f"<border>{thin}<diagonal/></border>"]
        xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
        for st in self.xfs:
            font = self.fonts[(st.font, st.size, st.bold, st.color)]
            fill = self.fills[st.fill] if st.fill else 0
            align = "".join(f' {k}="{v}"' for k, v in (("horizontal", st.halign), ("vertical", st.valign),
                                                        ("wrapText", "1" if st.wrap else None)) if v)
            xfs.append(f'<xf numFmtId="0" fontId="{font}" fillId="{fill}" borderId="{int(st.boxed)}" xfId="0"'
                       ' applyFont="1"' + (' applyFill="1"' if fill else "") + (' applyBorder="1"' if st.boxed else "")
                       + (f' applyAlignment="1"><alignment{align}/></xf>' if align else "/>"))
        return (f'{_HEAD}<styleSheet xmlns="{_MAIN}">'
                f'<fonts count="{len(fonts)}">{"".join(fonts)}</fonts>'
                f'<fills count="{len(fills)}">{"".join(fills)}</fills>'
                f'<borders count="2">{"".join(borders)}</borders>'
                '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
                '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9"'
                ' defaultPivotStyle="PivotStyleLight16"/></styleSheet>')


def _strings_xml(strings: dict[str, int]) -> str:
    items = "".join(
        f'<si><t xml:space="preserve">{t}</t></si>' if t != t.strip() else f"<si><t>{t}</t></si>"
        for t in map(cell_text, strings))
    return f'{_HEAD}<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'


def _workbook_xml(sheets: list[Sheet]) -> str:
    listed = "".join(f'<sheet name="{_attr(s.name)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(sheets, 1))
    names = []
    for i, s in enumerate(sheets):
        q = _xml(_quoted(s.name))
        if s.filter:
            r0, c0, r1, c1 = s.filter
            names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                         f"{q}!{_ref(r0, c0, True)}:{_ref(r1, c1, True)}</definedName>")
        if s.title_rows:
            names.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">'
                         f"{q}!${s.title_rows[0] + 1}:${s.title_rows[1] + 1}</definedName>")
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    return (f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_R}"><workbookPr/>'
            '<bookViews><workbookView xWindow="240" yWindow="15" windowWidth="16095" windowHeight="9660"/></bookViews>'
            f"<sheets>{listed}</sheets>{defined}<calcPr calcId=\"124519\"/></workbook>")


def _workbook_rels(n: int) -> str:
    ws = f"{_R}/worksheet"
    rels = [(f"rId{i}", ws, f"worksheets/sheet{i}.xml") for i in range(1, n + 1)]
    rels += [(f"rId{n + 1}", f"{_R}/theme", "theme/theme1.xml"), (f"rId{n + 2}", f"{_R}/styles", "styles.xml"),
             (f"rId{n + 3}", f"{_R}/sharedStrings", "sharedStrings.xml")]
    body = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{target}"/>' for i, t, target in rels)
    return f'{_HEAD}<Relationships xmlns="{_PKG_R}">{body}</Relationships>'


_ROOT_RELS = (
    f'{_HEAD}<Relationships xmlns="{_PKG_R}">'
    f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_PKG_R}/metadata/core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_R}/extended-properties" Target="docProps/app.xml"/></Relationships>')


def _content_types(n: int) -> str:
    office = "application/vnd.openxmlformats-officedocument"
    over = [("/docProps/app.xml", f"{office}.extended-properties+xml"),
            ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
            ("/xl/workbook.xml", f"{office}.spreadsheetml.sheet.main+xml"),
            ("/xl/styles.xml", f"{office}.spreadsheetml.styles+xml"),
            ("/xl/theme/theme1.xml", f"{office}.theme+xml"),
            ("/xl/sharedStrings.xml", f"{office}.spreadsheetml.sharedStrings+xml")]
    over += [(f"/xl/worksheets/sheet{i}.xml", f"{office}.spreadsheetml.worksheet+xml") for i in range(1, n + 1)]
    body = "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in over)
    return (f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{body}</Types>')


def _theme() -> str:
    """The Office 2007 theme, reduced to what the schema requires: the workbook must have one,
    and its colours and fonts are what Excel's colour picker offers; cells name theirs directly."""
    colors = [("dk1", '<a:sysClr val="windowText" lastClr="000000"/>'), ("lt1", '<a:sysClr val="window" lastClr="FFFFFF"/>')]
    colors += [(k, f'<a:srgbClr val="{v}"/>') for k, v in (
        ("dk2", "1F497D"), ("lt2", "EEECE1"), ("accent1", "4F81BD"), ("accent2", "C0504D"), ("accent3", "9BBB59"),
        ("accent4", "8064A2"), ("accent5", "4BACC6"), ("accent6", "F79646"), ("hlink", "0000FF"), ("folHlink", "800080"))]
    solid = '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>'
    line = f'<a:ln w="9525">{solid}</a:ln>'

    def font(latin: str) -> str:
        return f'<a:latin typeface="{latin}"/><a:ea typeface=""/><a:cs typeface=""/>'

    return (f'{_HEAD}<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" name="Office Theme">'
            '<a:themeElements><a:clrScheme name="Office">' + "".join(f"<a:{k}>{v}</a:{k}>" for k, v in colors)
            + f'</a:clrScheme><a:fontScheme name="Office"><a:majorFont>{font("Cambria")}</a:majorFont>'
            f'<a:minorFont>{font("Calibri")}</a:minorFont></a:fontScheme><a:fmtScheme name="Office">'
            f"<a:fillStyleLst>{solid * 3}</a:fillStyleLst>"
            f"<a:lnStyleLst>{line * 3}</a:lnStyleLst>"
            f'<a:effectStyleLst>{"<a:effectStyle><a:effectLst/></a:effectStyle>" * 3}</a:effectStyleLst>'
            f"<a:bgFillStyleLst>{solid * 3}</a:bgFillStyleLst></a:fmtScheme></a:themeElements>"
            "<a:objectDefaults/><a:extraClrSchemeLst/></a:theme>")


_THEME = _theme()


def _app_xml(sheets: list[Sheet]) -> str:
    names = "".join(f"<vt:lpstr>{_xml(s.name)}</vt:lpstr>" for s in sheets)
    return (f'{_HEAD}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
            ' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
            "<Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>"
            '<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Worksheets</vt:lpstr></vt:variant>'
            f'<vt:variant><vt:i4>{len(sheets)}</vt:i4></vt:variant></vt:vector></HeadingPairs>'
            f'<TitlesOfParts><vt:vector size="{len(sheets)}" baseType="lpstr">{names}</vt:vector></TitlesOfParts>'
            "<LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>"
            "<HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>")


def _core_xml(title: str, author: str, created: datetime) -> str:
    when = created.replace(tzinfo=None, microsecond=0).isoformat() + "Z"
    return (f'{_HEAD}<cp:coreProperties'
            ' xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
            ' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:title>{_xml(title)}</dc:title><dc:creator>{_xml(author)}</dc:creator>"
            f"<cp:lastModifiedBy>{_xml(author)}</cp:lastModifiedBy>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified></cp:coreProperties>')
