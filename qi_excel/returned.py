"""Reading a returned workbook: a light, defensive read of the .xlsx package parts.

A returned file is untrusted and may have been saved by Excel, WPS or LibreOffice, or be
something else entirely (an old .xls, a password-protected file, a renamed .docx, a zip
bomb). This module never does a full openpyxl load: it opens the zip, checks the central
directory against size and ratio limits before anything is decompressed, and parses only
the few XML parts the checks need, with defusedxml (no DTDs, no entity expansion).

Cells are kept raw (number / text / formula / blank, with cached values) so the checks can
say exactly what an expert typed. Namespaces are matched by local name only, attribute
order is never relied on, and cell positions are computed where ``r=`` is missing.
"""

from __future__ import annotations

import gc
import io
import itertools
import re
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from posixpath import dirname, join, normpath
from types import MappingProxyType
from typing import Iterator, Literal, Mapping, NamedTuple
from xml.etree.ElementTree import Element

from xml.etree.ElementTree import XMLParser as _CXMLParser

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring as _defused_fromstring

from . import layout as L
from .errors import QiError
from .rubric import Rubric, shipped_rubric

# ───────────────────────────── limits for untrusted packages ─────────────────────────────

MAX_FILE_BYTES = 20 * 1024 * 1024  # an issued workbook is ~100 KB; 20 MB leaves room for pictures
MAX_MEMBER_BYTES = 40 * 1024 * 1024  # uncompressed size of any one part we read
MAX_TOTAL_BYTES = 200 * 1024 * 1024  # declared uncompressed size of the whole package
MAX_RATIO = 200  # compression ratio above which a large member is treated as a bomb
RATIO_FLOOR = 1024 * 1024  # small members may compress very well (repetitive XML) harmlessly
MAX_MEMBERS = 10_000
# Work per file: a package within the size limits above can still hold a 40 MB sheet whose
# parse takes half a minute and gigabytes. An issued workbook's largest part is ~80 KB and
# it has ~1,000 cells and ~300 strings; these bounds are a hundred times that and more.
MAX_XML_PART = 8 * 1024 * 1024  # any one part this reader looks at
MAX_XML_TOTAL = 16 * 1024 * 1024  # all of them together
MAX_SHEET_CELLS = 100_000  # cells in one worksheet that is read
MAX_STRINGS = 100_000  # entries of the shared-string table
MAX_SHEETS = 1_000  # Excel's own sheet tab bar is unusable long before this
TIME_BUDGET = 10.0  # seconds of reading per file, checked before each part

CellKind = Literal["blank", "number", "text", "formula", "bool", "error"]

_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XSD_DOUBLE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)


class ReadError(QiError):
    """The bytes are not a readable workbook; ``code`` is the finding code to report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def too_complex(what: str) -> ReadError:
    return ReadError(
        "TOO_COMPLEX",
        f"工作簿内容过多：{what}，远超评分工作簿的正常范围。为免拖慢其他文件的检查，已拒绝读取。"
        "请在发给您的原工作簿上填写（不要粘贴大量数据或图片）后重新发送。",
    )


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
        text = self.value.strip()
        if not (text.isascii() and text.isdigit() and len(text) < 300) and not _XSD_DOUBLE.fullmatch(text):
            return None
        d = Decimal(text)
        return d if d.is_zero() or -400 < d.adjusted() <= 308 else None

    def text(self) -> str:
        """The cell as a person would read it (numbers without a trailing ``.0``)."""
        if self.kind == "number":
            d = self.number()
            return _plain(d) if d is not None else self.value
        if self.kind == "bool":
            return "TRUE" if self.value in ("1", "true") else "FALSE"
        return self.value


@dataclass(frozen=True)
class Suggestion:
    text: str
    ref: str


@dataclass(frozen=True)
class SheetInfo:
    name: str
    state: str  # "visible" | "hidden" | "veryHidden"


@dataclass(frozen=True)
class ReturnedWorkbook:
    """One returned workbook as read from its package; values are raw, nothing is judged."""

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
    defined_names: Mapping[str, str] = field(default_factory=dict)  # workbook-scoped name → refers-to
    workbook_protected: bool = False
    score_sheet_protected: bool = False
    grid: Mapping[str, RawCell] = field(default_factory=dict)  # 评分表 cells in A..H, non-empty only
    application: str = ""  # docProps/app.xml Application ("Microsoft Excel", "LibreOffice/7.4…", "WPS …")
    size: int = 0
    # docProps/core.xml: "title", "creator", "lastModifiedBy" as written (what the file says of
    # who made and last saved it) and 改进建议's printed page header, which names the expert
    properties: Mapping[str, str] = field(default_factory=dict)
    suggestion_header: str = ""
    # score cell ref → its number format code, for score cells whose format is not General
    score_formats: Mapping[str, str] = field(default_factory=dict)
    # 评分表 conditional-format ranges (sqref) → the number format the rule applies
    conditional_formats: Mapping[str, str] = field(default_factory=dict)

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


def read_returned(data: bytes, name: str, *, rubric: Rubric | None = None) -> ReturnedWorkbook:
    """Read ``data`` (the file's bytes) as a returned score workbook.

    Raises ``ReadError`` (a ``QiError`` with ``.code``) naming what the file is when it is
    not a readable .xlsx package; a readable workbook that is not ours is returned with
    empty meta, for the checks to reject.
    """
    rubric = rubric or shipped_rubric()
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(
            "TOO_LARGE",
            f"文件大小为 {_mb(len(data))}，超过 {_mb(MAX_FILE_BYTES)} 的上限，不是正常的评分工作簿，未打开。",
        )
    zf = _open_package(data)
    with zf:
        pkg = _Package(zf)
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


def sniff(data: bytes) -> tuple[str, str] | None:
    """(code, what-it-is) for bytes that are clearly not a zip package, else None."""
    if not data:
        return "NOT_WORKBOOK", "文件是空的（0 字节）"
    if data.startswith(_CFB_MAGIC):
        return _sniff_cfb(data)
    if data.startswith(b"PK"):
        return None
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "NOT_WORKBOOK", "这是 PDF 文件，不是 Excel 工作簿"
    if head.startswith(b"\x89png"):
        return "NOT_WORKBOOK", "这是 PNG 图片，不是 Excel 工作簿"
    if head.startswith(b"\xff\xd8\xff"):
        return "NOT_WORKBOOK", "这是 JPEG 图片，不是 Excel 工作簿"
    if head.startswith((b"gif87a", b"gif89a")):
        return "NOT_WORKBOOK", "这是 GIF 图片，不是 Excel 工作簿"
    if head.startswith(b"rar!") or head.startswith(b"7z\xbc\xaf"):
        return "NOT_WORKBOOK", "这是 RAR/7z 压缩包，不是 Excel 工作簿，请解压后发送其中的评分工作簿"
    if head.startswith((b"<html", b"<!doctype html", b"mime-version")) or b"urn:schemas-microsoft-com:office:excel" in head:
        return "WRONG_TYPE", "这是网页格式（HTML/MHT）的表格，不是 .xlsx 工作簿"
    if head.startswith(b"<?xml"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in data[:4096]:
            return "WRONG_TYPE", "这是“XML 电子表格 2003”格式，不是 .xlsx 工作簿"
        return "NOT_WORKBOOK", "这是一个 XML 文本文件，不是 Excel 工作簿"
    if head.startswith(b"{\\rtf"):
        return "WRONG_TYPE", "这是 RTF 文档，不是 Excel 工作簿"
    if _looks_like_text(data[:4096]):
        return "NOT_WORKBOOK", "这是纯文本文件（可能是 CSV），不是 Excel 工作簿"
    return "NOT_WORKBOOK", "无法识别的文件格式，不是 Excel 工作簿"


# ───────────────────────────── package level ─────────────────────────────


def _open_package(data: bytes) -> zipfile.ZipFile:
    sniffed = sniff(data)
    if sniffed is not None:
        code, what = sniffed
        raise ReadError(code, what + "。")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError):
        raise ReadError("CORRUPT", "文件已损坏（压缩包结构无法读取），可能是下载或保存不完整，请重新保存后发送。") from None
    if len(infos) > MAX_MEMBERS:
        raise ReadError("ZIP_BOMB", f"压缩包内有 {len(infos)} 个文件，远超正常工作簿，已拒绝打开。")
    total = 0
    seen: set[str] = set()
    for info in infos:
        total += info.file_size
        # Part names are case-insensitive (OPC). Two members with one name make the package
        # ambiguous: this reader and the expert's program could each read a different copy.
        key = info.filename.lstrip("/").lower()
        if key in seen and not key.endswith("/"):
            raise ReadError(
                "CORRUPT",
                f"文件已损坏：压缩包内有两个同名的内部文件 {info.filename[:80]}，不同程序可能读出不同的内容，"
                "已拒绝读取。请在 Excel/WPS 中打开后重新保存发送。",
            )
        seen.add(key)
        if info.file_size > MAX_MEMBER_BYTES or (
            info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1)
        ):
            raise ReadError(
                "ZIP_BOMB",
                f"压缩包内的 {info.filename[:80]} 解压后为 {_mb(info.file_size)}（压缩后 {_mb(info.compress_size)}），"
                "疑似“压缩炸弹”，已拒绝打开。",
            )
    if total > MAX_TOTAL_BYTES:
        raise ReadError("ZIP_BOMB", f"压缩包解压后共 {_mb(total)}，超过上限，疑似“压缩炸弹”，已拒绝打开。")
    names = set(zf.namelist())
    kind = _package_kind(zf, names)
    if kind is not None:
        zf.close()
        raise ReadError(*kind)
    return zf


def _package_kind(zf: zipfile.ZipFile, names: set[str]) -> tuple[str, str] | None:
    """Name a zip that is not an .xlsx package; None when it looks like one."""
    if "mimetype" in names:
        try:
            mimetype = _head(zf, "mimetype", 100).decode("ascii", "replace")
        except Exception:
            mimetype = ""
        if "opendocument.spreadsheet" in mimetype:
            return "WRONG_TYPE_ODS", "这是 OpenDocument 表格（.ods），请在“另存为”中选择 Excel 工作簿（.xlsx）格式后发送。"
        if "opendocument.text" in mimetype:
            return "WRONG_TYPE", "这是 OpenDocument 文本文档（.odt），不是评分工作簿。"
        if "opendocument" in mimetype:
            return "WRONG_TYPE", "这是 OpenDocument 文档，不是评分工作簿。"
    if "word/document.xml" in names:
        return "WRONG_TYPE_DOCX", "这是 Word 文档（.docx），只是扩展名被改成了工作簿，不是评分工作簿。"
    if "ppt/presentation.xml" in names:
        return "WRONG_TYPE", "这是 PowerPoint 演示文稿（.pptx），不是评分工作簿。"
    if "xl/workbook.bin" in names:
        return "WRONG_TYPE", "这是 Excel 二进制工作簿（.xlsb），请另存为 Excel 工作簿（.xlsx）后发送。"
    if any(n.lower().rsplit("/", 1)[-1] in ("vbaproject.bin", "vbaprojectsignature.bin") for n in names) or (
        "[Content_Types].xml" in names and b"macroenabled" in _head(zf, "[Content_Types].xml", 200_000).lower()
    ):
        return "MACRO_ENABLED", (
            "这是启用宏的工作簿（含 VBA 宏代码，实际是 .xlsm 格式），只是扩展名为 .xlsx。为安全起见不打开、不归档。"
            "请在发给您的原工作簿上填写，按原格式（Excel 工作簿 .xlsx）保存后发送。"
        )
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") or n.endswith("workbook.xml") for n in names):
        return "NOT_WORKBOOK", "这是一个普通的 ZIP 压缩包，不是 Excel 工作簿；如评分工作簿在其中，请解压后发送。"
    return None


def _head(zf: zipfile.ZipFile, name: str, n: int) -> bytes:
    """The first ``n`` bytes of a member, without decompressing the rest of it."""
    try:
        with zf.open(name) as fh:
            return fh.read(n)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, RuntimeError, KeyError):
        return b""


def _sniff_cfb(data: bytes) -> tuple[str, str]:
    """Tell apart what an OLE2 compound file is by the stream names in its directory."""

    def has(stream: str) -> bool:
        return stream.encode("utf-16-le") in data

    if has("EncryptionInfo") or has("EncryptedPackage"):
        return "ENCRYPTED", "文件设置了打开密码（已加密），无法检查。请在 Excel/WPS 中取消“用密码进行加密”后重新保存发送"
    if has("WordDocument"):
        return "WRONG_TYPE", "这是旧版 Word 文档（.doc），不是评分工作簿"
    if has("Workbook") or has("Book"):
        return "LEGACY_XLS", "这是旧版 Excel 97-2003 工作簿（.xls），请使用发放的 .xlsx 工作簿填写并按原格式保存后发送"
    if has("PowerPoint Document"):
        return "WRONG_TYPE", "这是旧版 PowerPoint 演示文稿（.ppt），不是评分工作簿"
    return "LEGACY_XLS", "这是旧版 Office 复合文档格式（如 .xls 或 WPS .et），不是发放的 .xlsx 工作簿"


class _Package:
    """Bounded access to the parts of an opened zip, parts named relative to the package root."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.names = {n.lstrip("/"): n for n in zf.namelist()}
        self._lower = {n.lower(): n for n in self.names}
        self._read_total = 0
        self._deadline = time.monotonic() + TIME_BUDGET

    def find(self, part: str) -> str | None:
        part = part.lstrip("/")
        return self.names.get(part) or self.names.get(self._lower.get(part.lower(), ""), None)

    def read(self, part: str) -> bytes | None:
        real = self.find(part)
        if real is None:
            return None
        if time.monotonic() > self._deadline:
            raise too_complex(f"读取用时超过 {TIME_BUDGET:.0f} 秒")
        try:
            size = self.zf.getinfo(real).file_size
        except KeyError:
            size = 0
        if size > MAX_XML_PART:
            raise too_complex(f"内部文件 {part[:80]} 解压后有 {_mb(size)}（评分工作簿的内部文件通常不到 1 MB，上限 {_mb(MAX_XML_PART)}）")
        self._read_total += size
        if self._read_total > MAX_XML_TOTAL:
            raise too_complex(f"需要读取的内部文件解压后共超过 {_mb(MAX_XML_TOTAL)}")
        try:
            with self.zf.open(real) as fh:
                data = fh.read(MAX_XML_PART + 1)
        except RuntimeError:  # member-level zip encryption
            raise ReadError("ENCRYPTED", "工作簿的内部文件被加密，无法读取。") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError):
            raise ReadError("CORRUPT", f"文件已损坏：内部文件 {part} 无法解压，请重新保存后发送。") from None
        if len(data) > MAX_XML_PART:  # the directory understated the size
            raise ReadError("ZIP_BOMB", f"内部文件 {part} 解压后超过上限，疑似“压缩炸弹”，已拒绝打开。")
        return data

    def xml(self, part: str, *, head_only: bool = False) -> Element | None:
        data = self.read(part)
        if data is None:
            return None
        return self.parse(part, data, head_only=head_only)

    def parse(self, part: str, data: bytes, *, head_only: bool = False) -> Element:
        try:
            return parse_sheet_head(data) if head_only else parse_xml(data)
        except DefusedXmlException:
            raise ReadError("CORRUPT", f"文件内部的 {part} 含有不允许的 XML 实体定义，已拒绝读取。") from None
        except (ParseError, ValueError):
            raise ReadError("CORRUPT", f"文件已损坏：内部文件 {part} 不是有效的 XML，请重新保存后发送。") from None

    def rels(self, part: str) -> list[tuple[str, str, str]]:
        """(id, type, absolute target part) of the part's relationships."""
        folder, base = dirname(part), part.rsplit("/", 1)[-1]
        root = self.xml(join(folder, "_rels", base + ".rels"))
        out: list[tuple[str, str, str]] = []
        if root is None:
            return out
        for rel in root:
            if _local(rel.tag) != "Relationship":
                continue
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            target = target.replace("\\", "/")
            absolute = normpath(target.lstrip("/")) if target.startswith("/") else normpath(join(folder, target))
            out.append((rel.get("Id", ""), rel.get("Type", ""), absolute))
        return out


_DECLARATION = re.compile(rb"<!(?!--|\[CDATA\[)")


def parse_xml(data: bytes) -> Element:
    """Parse an untrusted part without DTDs or entity expansion, at C speed where provable.

    A part in an ASCII-compatible encoding can only declare entities in a ``<!DOCTYPE``,
    which would show as ``<!`` outside comments and CDATA; with none, the C parser is safe.
    Anything else (UTF-16, a DOCTYPE) goes through defusedxml, which refuses DTDs.
    """
    if _provably_plain(data):
        parser = _CXMLParser()
        parser.feed(data)
        return parser.close()
    return _defused_fromstring(data, forbid_dtd=True)


def _provably_plain(data: bytes) -> bool:
    ascii_compatible = not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in data[:4]
    return ascii_compatible and _DECLARATION.search(data) is None


_SHEET_DATA_END = re.compile(rb"</(?:[A-Za-z_][\w.\-]*:)?sheetData\s*>")
_SHEET_PROTECTION = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?sheetProtection\b[^<>]*>")
_ROOT_START = re.compile(rb"<((?:[A-Za-z_][\w.\-]*:)?worksheet)[\s>]")


def parse_sheet_head(data: bytes) -> Element:
    """A worksheet's root with sheetData and sheetProtection: the rest is never needed.

    Merged ranges, conditional formats and validations follow sheetData and make up most of
    the part. In a part without any ``<!`` (no DTD, comment or CDATA) ``</sheetData>`` can
    only be markup, so the document is cut there, the protection element (which the schema
    puts right after) kept, and the root closed; anything unusual is parsed whole.
    """
    if b"<!" not in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in data[:4]:
        end = _SHEET_DATA_END.search(data)
        root = _ROOT_START.search(data, 0, 4096)
        if end is not None and root is not None:
            tail = data[end.end() : end.end() + 4096]
            prot = _SHEET_PROTECTION.match(tail.lstrip())
            if prot is None:
                prot = _SHEET_PROTECTION.search(data, end.end())
            head = data[: end.end()] + (prot.group(0) if prot else b"") + b"</" + root.group(1) + b">"
            if prot is not None and not prot.group(0).endswith(b"/>"):
                head = data[: end.end()] + prot.group(0)[:-1] + b"/></" + root.group(1) + b">"
            parser = _CXMLParser()
            parser.feed(head)
            return parser.close()
    return parse_xml(data)


# ───────────────────────────── workbook level ─────────────────────────────


def _read_workbook(pkg: _Package, name: str, rubric: Rubric, size: int) -> ReturnedWorkbook:
    root_rels = pkg.rels("")
    wb_part = next((t for _, ty, t in root_rels if ty.endswith("/officeDocument")), None) or "xl/workbook.xml"
    wb = pkg.xml(wb_part)
    if wb is None:
        raise ReadError("CORRUPT", "文件已损坏：缺少工作簿主体（workbook.xml），请重新保存后发送。")
    rels = pkg.rels(wb_part)
    by_id = {rid: target for rid, _, target in rels}
    sst_part = next((t for _, ty, t in rels if ty.endswith("/sharedStrings")), None)
    sst_data = pkg.read(sst_part) if sst_part else None
    if sst_data is not None and len(sst_data) > 5 * MAX_STRINGS:  # <si/> is 5 bytes
        n_strings = sst_data.count(b"<si>") + sst_data.count(b"<si ") + sst_data.count(b":si>") + sst_data.count(b":si ")
        if n_strings > MAX_STRINGS:
            raise too_complex(f"共享字符串表有约 {n_strings} 条（上限 {MAX_STRINGS}）")
    strings = _shared_strings(pkg.parse(sst_part, sst_data) if sst_part and sst_data is not None else None)

    sheets: list[SheetInfo] = []
    sheet_keys: set[str] = set()
    sheet_parts: dict[str, str | None] = {}
    names: dict[str, str] = {}
    protected = False
    for child in wb:
        tag = _local(child.tag)
        if tag == "sheets":
            for sh in child:
                if _local(sh.tag) != "sheet":
                    continue
                sname = sh.get("name", "")
                if len(sheets) >= MAX_SHEETS:
                    raise too_complex(f"工作簿有超过 {MAX_SHEETS} 个工作表")
                if sname.lower() in sheet_keys:
                    # Excel refuses such a file; other programs show one copy, this reader another
                    raise ReadError(
                        "CORRUPT",
                        f"文件已损坏：工作簿中有两个名为“{sname[:40]}”的工作表，无法确定专家填写的是哪一个。"
                        "请在 Excel/WPS 中打开后重新保存发送。",
                    )
                sheet_keys.add(sname.lower())
                sheets.append(SheetInfo(sname, sh.get("state", "visible") or "visible"))
                sheet_parts[sname] = by_id.get(_attr(sh, "id") or "")
        elif tag == "definedNames":
            dn_tag = child.tag[: len(child.tag) - len(tag)] + "definedName"
            for dn in child:
                if (dn.tag == dn_tag or _local(dn.tag) == "definedName") and dn.get("localSheetId") is None:
                    names[dn.get("name", "")] = (dn.text or "").strip()
        elif tag == "workbookProtection":
            protected = any(_truthy(v) for k, v in child.attrib.items() if _local(k) in ("lockStructure", "lockWindows"))

    headers: dict[str, str] = {}
    raws: dict[str, bytes] = {}

    def sheet_cells(sheet: str, max_col: int, style_col: int = 0,
                    styles: dict[str, str] | None = None) -> tuple[dict[str, RawCell], bool] | None:
        if sheet not in sheet_parts:
            return None
        part = sheet_parts[sheet]
        raw = pkg.read(part) if part else None
        if raw is not None:
            # a cell takes at least 4 bytes (<c/>): only a part this large can hold too many
            cells = raw.count(b"<c ") + raw.count(b"<c>") + raw.count(b":c ") if len(raw) > 4 * MAX_SHEET_CELLS else 0
            if cells > MAX_SHEET_CELLS:
                raise too_complex(f"工作表“{sheet[:40]}”有约 {cells} 个单元格（上限 {MAX_SHEET_CELLS}）")
            if sheet == L.SUGGESTION_SHEET:
                headers[sheet] = _odd_header(raw)
            elif sheet == L.SCORE_SHEET:
                raws[sheet] = raw
        root = pkg.parse(part, raw, head_only=True) if part and raw is not None else None
        if root is None:
            raise ReadError("CORRUPT", f"文件已损坏：找不到工作表“{sheet}”的内容，请重新保存后发送。")
        try:
            return _read_cells(root, strings, max_col, style_col, styles)
        except _DuplicateCell:
            raise ReadError(
                "CORRUPT",
                f"文件已损坏：工作表“{sheet}”中有单元格重复出现，不同程序会显示不同的值，无法确定填写内容。"
                "请在 Excel/WPS 中打开后重新保存发送。",
            ) from None

    meta: dict[str, str] = {}
    got = sheet_cells(L.META_SHEET, 2)
    if got is not None:
        meta_cells = got[0]
        for r in range(1, len(L.META_KEYS) + 20):
            key = meta_cells.get(f"A{r}")
            if key is not None and key.text().strip() in L.META_KEYS:
                meta[key.text().strip()] = meta_cells.get(f"B{r}", RawCell(f"B{r}")).text().strip()

    grid: dict[str, RawCell] = {}
    sheet_protected = False
    score_styles: dict[str, str] = {}
    got = sheet_cells(L.SCORE_SHEET, 8, _col_index(L.COL_SCORE), score_styles)
    score_raw = raws.get(L.SCORE_SHEET, b"")
    has_score_sheet = got is not None
    if got is not None:
        grid, sheet_protected = got

    suggestions: list[Suggestion] = []
    got = sheet_cells(L.SUGGESTION_SHEET, 3)
    if got is not None:
        cells = got[0]
        rows = sorted({_split_ref(ref)[1] for ref in cells})
        for r in rows:
            if r < L.SUGGESTION_FIRST_ROW:
                continue
            text = _typed(cells.get(f"{L.SUGGESTION_TEXT_COL}{r}"))
            if text:
                suggestions.append(Suggestion(text, _typed(cells.get(f"{L.SUGGESTION_REF_COL}{r}"))))

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
    if has_score_sheet:
        styles_part = next((t for _, ty, t in rels if ty.endswith("/styles")), None) or "xl/styles.xml"
        xf_formats, dxf_formats = _cell_formats(pkg.read(styles_part) or b"")
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
            for sqref, ids in _conditional_formats(score_raw):
                for i in ids:
                    if i < len(dxf_formats) and dxf_formats[i] is not None:
                        conditional[sqref] = dxf_formats[i]  # type: ignore[assignment]
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
        sheets=tuple(sheets),
        defined_names=MappingProxyType(names),
        workbook_protected=protected,
        score_sheet_protected=sheet_protected,
        grid=MappingProxyType(grid),
        application=app,
        size=size,
        properties=MappingProxyType(props),
        suggestion_header=headers.get(L.SUGGESTION_SHEET, ""),
        score_formats=MappingProxyType(formats),
        conditional_formats=MappingProxyType(conditional),
    )


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


_BUILTIN_FORMATS = {1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%", 11: "0.00E+00",
                    12: "# ?/?", 13: "# ??/??", 14: "yyyy/m/d", 49: "@"}
_NUM_FMT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?numFmt\b")
_CELL_XFS = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?cellXfs\b[^>]{0,4000}>")
_XF = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?xf\b")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_DXFS = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?dxfs\b[^>]{0,4000}>")
_DXF_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?dxf\b")
_Formats = tuple[tuple[str | None, ...], tuple[str | None, ...]]
_FORMATS_SEEN: dict[bytes, _Formats] = {}
_CF_START = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?conditionalFormatting\b([^>]{0,4000})>")
_DXF_ID = re.compile(rb"\bdxfId\s*=\s*[\"']?(\d{1,6})")
_SQREF = re.compile(rb"\bsqref\s*=\s*[\"']([^\"']{0,2000})")


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


def _conditional_formats(sheet: bytes) -> list[tuple[str, list[int]]]:
    """(sqref, dxf ids) of every conditional format of a worksheet."""
    out: list[tuple[str, list[int]]] = []
    # each format runs to the start of the next: one linear pass, whatever the markup
    starts = list(_CF_START.finditer(sheet, max(0, sheet.find(b"conditionalFormatting") - 64)))[:1000]
    for m, after in zip(starts, starts[1:] + [None]):
        body = sheet[m.end() : after.start() if after is not None else len(sheet)]
        ref = _SQREF.search(m.group(1))
        out.append((ref.group(1).decode("ascii", "replace") if ref else "", [int(i) for i in _DXF_ID.findall(body)]))
    return out


def _cell_formats(styles: bytes) -> _Formats:
    """Number format code per cell style (cellXfs index) and per differential (conditional)
    format (dxfs index); None for General / none.

    Read with patterns, not a parse: styles.xml is the same in every file of an evaluation
    (memoised) and only numFmt codes and each xf's numFmtId are needed.
    """
    got = _FORMATS_SEEN.get(styles)
    if got is not None:
        return got
    from html import unescape

    def attrs(blob: bytes) -> dict[bytes, str]:
        return {k.rsplit(b":", 1)[-1]: unescape((a if a or not b else b).decode("utf-8", "replace"))
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


_CORE_KEYS = ("modified", "title", "creator", "lastModifiedBy")


def _core_properties(pkg: _Package, root_rels: list[tuple[str, str, str]]) -> dict[str, str]:
    """Save time and who the file says made and last saved it (docProps/core.xml)."""
    part = next((t for _, ty, t in root_rels if ty.endswith("/core-properties")), None) or "docProps/core.xml"
    root = pkg.xml(part)
    out: dict[str, str] = {}
    if root is None:
        return out
    for child in root:
        tag = _local(child.tag)
        if tag in _CORE_KEYS and tag not in out and (child.text or "").strip():
            out[tag] = child.text.strip()[: 40 if tag == "modified" else 200]
    return out


_ODD_HEADER = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?oddHeader>([^<]{0,2000})</")


def _odd_header(data: bytes) -> str:
    """A sheet's printed page header as stored (``&`` codes and all); it follows sheetData."""
    m = _ODD_HEADER.search(data, max(0, data.rfind(b"sheetData>")))
    if m is None:
        return ""
    from html import unescape

    return unescape(m.group(1).decode("utf-8", "replace"))


_APPLICATION = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Application>([^<]{0,200})<")


def _application(pkg: _Package, root_rels: list[tuple[str, str, str]]) -> str:
    """The program that saved the file; only this one element of app.xml is ever needed."""
    part = next((t for _, ty, t in root_rels if ty.endswith("/extended-properties")), None) or "docProps/app.xml"
    data = pkg.read(part)
    m = _APPLICATION.search(data) if data else None
    return m.group(1).decode("utf-8", "replace").strip() if m else ""


# ───────────────────────────── sheet level ─────────────────────────────


class _Strings:
    """The shared-string table, each entry turned into text only when a cell we read uses it."""

    def __init__(self, root: Element | None) -> None:
        ns = root.tag[: len(root.tag) - len(_local(root.tag))] if root is not None else ""  # "{…}" or ""
        si_tag, self._t_tag = ns + "si", ns + "t"  # for the common <si><t>text</t></si> entry
        self._items = [si for si in root if si.tag == si_tag or _local(si.tag) == "si"] if root is not None else []
        self._text: list[str | None] = [None] * len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> str:
        text = self._text[index]
        if text is None:
            si = self._items[index]
            if len(si) == 1 and si[0].tag == self._t_tag and not len(si[0]):
                text = _unescape_ooxml(si[0].text or "")  # plain entry: what _string_item gives
            else:
                text = _string_item(si)
            self._text[index] = text
        return text


def _shared_strings(root: Element | None) -> _Strings:
    return _Strings(root)


def _string_item(si: Element) -> str:
    """Text of an <si>/<is>: plain <t> or rich-text runs <r><t>, never phonetic <rPh>."""
    parts: list[str] = []
    for child in si:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if _local(t.tag) == "t":
                    parts.append(t.text or "")
    return _unescape_ooxml("".join(parts))


_X_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape_ooxml(text: str) -> str:
    """Undo ST_Xstring escapes (``_x000D_``) that Excel writes for control characters."""
    if "_x" not in text:
        return text
    text = _X_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    if _SURROGATE.search(text):
        # ``_xD83D__xDE00_`` is one emoji written as a UTF-16 pair; a lone half (``_xD800_``)
        # is no character at all and could not be written to any file: shown as U+FFFD
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _is(tag: str, name: str) -> bool:
    return _local(tag) == name


def _read_cells(root: Element, strings: _Strings, max_col: int, style_col: int = 0,
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
            row_no = 0
            prefix = tag[: len(tag) - len("sheetData")]  # "{ns}" or "x:" or ""
            row_tag, cell_tag, v_tag = prefix + "row", prefix + "c", prefix + "v"
            n_strings = len(strings)
            positions, new_cell = _POSITIONS, tuple.__new__  # RawCell without its Python __new__
            for row in child:
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
                    if ref:
                        pos = positions.get(ref, _UNKNOWN)
                        if pos is _UNKNOWN:
                            pos = _position(ref)
                    else:
                        pos = None
                    if pos is not None:
                        col_no = pos[0]
                        if pos[1]:
                            row_no = pos[1]
                    else:
                        if pending is not None and not ref:
                            known = _position(pending)
                            if known is not None:
                                col_no = known[0]
                        pending = None
                        col_no += 1
                    if not n_children:
                        continue
                    if col_no > max_col or c.tag != cell_tag:
                        continue
                    a1 = ref if pos is not None and pos[1] == row_no and pos[2] else f"{_col_letters(col_no)}{row_no}"
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
                                    cells[a1] = new_cell(RawCell, (a1, "text", strings[idx], ""))
                                    stored += 1
                                    continue
                    cell = _cell(c, a1, strings, shared, row_no, col_no)
                    if cell.kind != "blank":
                        cells[a1] = cell
                        stored += 1
        elif _is(tag, "sheetProtection"):
            sheet_attr = child.get("sheet")
            protected = sheet_attr is None or _truthy(sheet_attr)
    if stored != len(cells):
        # Excel refuses such a sheet and other programs keep either copy: which value the
        # expert saw cannot be known.
        raise _DuplicateCell()
    return cells, protected


class _DuplicateCell(Exception):
    pass


_CELL_REF = re.compile(r"\$?([A-Z]{1,3})\$?(\d*)$", re.ASCII)
_UNKNOWN = object()
_POSITIONS: dict[str, tuple[int, int, bool] | None] = {}


def _position(ref: str) -> tuple[int, int, bool] | None:
    """(column, row, ref-is-plain-A1) of a cell reference; memoised, refs repeat across files."""
    try:
        return _POSITIONS[ref]
    except KeyError:
        pass
    m = _CELL_REF.match(ref)
    pos = (_col_index(m.group(1)), int(m.group(2)) if m.group(2) else 0, "$" not in ref and bool(m.group(2))) if m else None
    if len(_POSITIONS) < 200_000:
        _POSITIONS[ref] = pos
    return pos


def _cell(c: Element, ref: str, strings: _Strings, shared: dict[str, tuple[str, int, int]], row: int, col: int) -> RawCell:
    t = c.get("t", "n")
    v_text: str | None = None
    formula: str | None = None
    inline: str | None = None
    for child in c:
        tag = _LOCAL.get(child.tag) or _local(child.tag)
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
            inline = _string_item(child)
    if formula is not None:
        value = v_text or ""
        if t == "s" and value.isascii() and value.isdigit():
            idx = int(value)
            value = strings[idx] if idx < len(strings) else ""
        return RawCell(ref, "formula", _unescape_ooxml(value), formula)
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
        return RawCell(ref, "text", _unescape_ooxml(v_text))
    if t == "b":
        return RawCell(ref, "bool", v_text.strip())
    if t == "e":
        return RawCell(ref, "error", v_text.strip())
    if t == "d":
        return RawCell(ref, "text", v_text.strip())
    return RawCell(ref, "number", v_text.strip()) if v_text.strip() else RawCell(ref)


# ───────────────────────────── small helpers ─────────────────────────────

_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d*)$")


def _split_ref(ref: str) -> tuple[str, int]:
    m = _REF.match(ref.strip())
    if not m:
        return "", 0
    return m.group(1).upper(), int(m.group(2)) if m.group(2) else 0


def _col_index(letters: str) -> int:
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


_COL_LETTERS = [_letters(i) for i in range(0, 64)]


def _col_letters(n: int) -> str:
    return _COL_LETTERS[n] if 0 <= n < 64 else _letters(n)


_FORMULA_REF = re.compile(r"(\"[^\"]*\")|(?<![A-Za-z0-9_.!])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![A-Za-z0-9_(])")


def shift_formula(formula: str, drow: int, dcol: int) -> str:
    """Translate a shared formula's master text to a follower cell (relative refs move)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return m.group(1)
        cabs, col, rabs, row = m.group(2), m.group(3), m.group(4), int(m.group(5))
        new_col = col if cabs else _col_letters(max(1, _col_index(col) + dcol))
        new_row = row if rabs else max(1, row + drow)
        return f"{cabs}{new_col}{rabs}{new_row}"

    return _FORMULA_REF.sub(sub, formula)


_LOCAL: dict[str, str] = {}


def _local(tag: str) -> str:
    """Local name of a tag or attribute, whatever namespace or prefix it carries (memoised)."""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1] if "}" in tag else tag.rsplit(":", 1)[-1]
        if len(_LOCAL) < 4096:
            _LOCAL[tag] = name
    return name


def _attr(el: Element, local: str) -> str | None:
    """An attribute by local name in a namespace (``r:id`` whatever the prefix)."""
    for k, v in el.attrib.items():
        if k.startswith("{") and _local(k) == local:
            return v
    return None


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "on")


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


def _plain(d: Decimal) -> str:
    """A number as a person writes it; never raises (``quantize`` does beyond 28 digits)."""
    if d == d.to_integral_value():
        return format(d.to_integral_value(), "f")
    return format(d.normalize(), "f")


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes are UTF-8 or GB18030 text.

    ``head`` is a fixed-size slice and may end inside a character (up to 3 bytes of a UTF-8
    sequence, 3 of a four-byte GB18030 one): an incomplete last character is no evidence.
    """
    if b"\x00" in head:
        return False
    for codec in ("utf-8", "gb18030"):
        for cut in range(4):
            try:
                head[: len(head) - cut].decode(codec)
                return True
            except UnicodeDecodeError as exc:
                if exc.end < len(head) - cut or cut == 3:
                    break  # an error before the end: not this encoding
    return False


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


_RANGE = re.compile(
    r"(?P<sheet>(?:'[^']+'|[^\s'!(),+\-*/=<>]+)!)?\$?(?P<c1>[A-Z]{1,3})\$?(?P<r1>\d+)(?::\$?(?P<c2>[A-Z]{1,3})\$?(?P<r2>\d+))?"
)

