"""The physical package of an untrusted .xlsx: format sniffing, bounded zip access, safe XML.

A returned file may be an old .xls, a password-protected file, a renamed .docx, a zip bomb
or something else entirely. Nothing here knows about our layout: it names what the bytes
are, checks the central directory against size and ratio limits before anything is
decompressed, and parses parts without DTDs or entity expansion (python-docx keeps its
physical package apart from the parts in the same way).

The zip and XML modules are imported where a package is opened or parsed, not at the top:
``status`` imports this module for its limits and error type only, and reads no workbook
while every accepted file carries a valid verification mark.
"""

from __future__ import annotations

import re
import sys
import time
from posixpath import dirname, join, normpath
from typing import TYPE_CHECKING

from .errors import QiError
from .lazy_re import lazy_re

if TYPE_CHECKING:
    import zipfile
    from xml.etree.ElementTree import Element

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


_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


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
    if head.startswith((b"rar!", b"7z\xbc\xaf")):
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


def open_package(data: bytes) -> zipfile.ZipFile:
    """Open ``data`` as a zip package after the size, format and central-directory checks."""
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(
            "TOO_LARGE",
            f"文件大小为 {mb(len(data))}，超过 {mb(MAX_FILE_BYTES)} 的上限，不是正常的评分工作簿，未打开。",
        )
    sniffed = sniff(data)
    if sniffed is not None:
        code, what = sniffed
        raise ReadError(code, what + "。")
    import io
    import zipfile

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
                f"压缩包内的 {info.filename[:80]} 解压后为 {mb(info.file_size)}（压缩后 {mb(info.compress_size)}），"
                "疑似“压缩炸弹”，已拒绝打开。",
            )
    if total > MAX_TOTAL_BYTES:
        raise ReadError("ZIP_BOMB", f"压缩包解压后共 {mb(total)}，超过上限，疑似“压缩炸弹”，已拒绝打开。")
    names = set(zf.namelist())
    kind = _package_kind(zf, names)
    if kind is not None:
        zf.close()
        raise ReadError(*kind)
    return zf


def _package_kind(zf: zipfile.ZipFile, names: set[str]) -> tuple[str, str] | None:
    """Name a zip that is not an .xlsx package; None when it looks like one."""
    if "mimetype" in names:
        mimetype = _head(zf, "mimetype", 100).decode("ascii", "replace")  # _head never raises
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
    import zipfile
    import zlib

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


class Package:
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
            raise too_complex(f"内部文件 {part[:80]} 解压后有 {mb(size)}（评分工作簿的内部文件通常不到 1 MB，上限 {mb(MAX_XML_PART)}）")
        self._read_total += size
        if self._read_total > MAX_XML_TOTAL:
            raise too_complex(f"需要读取的内部文件解压后共超过 {mb(MAX_XML_TOTAL)}")
        import zipfile  # loaded: self.zf is a ZipFile
        import zlib

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
        from xml.etree.ElementTree import ParseError

        try:
            return parse_sheet_head(data) if head_only else parse_xml(data)
        except (ParseError, ValueError) as exc:
            if _refused_by_defusedxml(exc):
                raise ReadError("CORRUPT", f"文件内部的 {part} 含有不允许的 XML 实体定义，已拒绝读取。") from None
            raise ReadError("CORRUPT", f"文件已损坏：内部文件 {part} 不是有效的 XML，请重新保存后发送。") from None

    def rels(self, part: str) -> list[tuple[str, str, str]]:
        """(id, type, absolute target part) of the part's relationships."""
        folder, base = dirname(part), part.rsplit("/", 1)[-1]
        root = self.xml(join(folder, "_rels", base + ".rels"))
        out: list[tuple[str, str, str]] = []
        if root is None:
            return out
        for rel in root:
            if local_name(rel.tag) != "Relationship":
                continue
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            target = target.replace("\\", "/")
            absolute = normpath(target.lstrip("/")) if target.startswith("/") else normpath(join(folder, target))
            out.append((rel.get("Id", ""), rel.get("Type", ""), absolute))
        return out


_DECLARATION = lazy_re(rb"<!(?!--|\[CDATA\[)")


def parse_xml(data: bytes) -> Element:
    """Parse an untrusted part without DTDs or entity expansion, at C speed where provable.

    A part in an ASCII-compatible encoding can only declare entities in a ``<!DOCTYPE``,
    which would show as ``<!`` outside comments and CDATA; with none, the C parser is safe.
    Anything else (UTF-16, a DOCTYPE) goes through defusedxml, which refuses DTDs.
    """
    from xml.etree.ElementTree import XMLParser

    if _provably_plain(data):
        parser = XMLParser()
        parser.feed(data)
        return parser.close()
    # imported only here: no part an office program writes needs it, and every command
    # that reads a workbook would otherwise pay for loading it
    from defusedxml.ElementTree import fromstring as defused_fromstring

    return defused_fromstring(data, forbid_dtd=True)


def _refused_by_defusedxml(exc: Exception) -> bool:
    """Whether ``exc`` is defusedxml refusing a DTD or an entity (a ValueError subclass)."""
    defused = sys.modules.get("defusedxml")  # loaded by parse_xml whenever it could raise one
    return defused is not None and isinstance(exc, defused.DefusedXmlException)


def _provably_plain(data: bytes) -> bool:
    ascii_compatible = not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in data[:4]
    return ascii_compatible and _DECLARATION.search(data) is None


_SHEET_DATA_END = lazy_re(rb"</(?:[A-Za-z_][\w.\-]*:)?sheetData\s*>")
_SHEET_PROTECTION = lazy_re(rb"<(?:[A-Za-z_][\w.\-]*:)?sheetProtection\b[^<>]*>")
_ROOT_START = lazy_re(rb"<((?:[A-Za-z_][\w.\-]*:)?worksheet)[\s>]")


def parse_sheet_head(data: bytes) -> Element:
    """A worksheet's root with sheetData and sheetProtection: the rest is never needed.

    Merged ranges, conditional formats and validations follow sheetData and make up most of
    the part. In a part without any ``<!`` (no DTD, comment or CDATA) ``</sheetData>`` can
    only be markup, so the document is cut there, the protection element (which the schema
    puts right after) kept, and the root closed; anything unusual is parsed whole.
    """
    if b"<!" not in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in data[:4]:
        end = _sheet_data_end(data)
        root = _ROOT_START.search(data, 0, 4096)
        if end is not None and root is not None:
            tail = data[end.end() : end.end() + 4096]
            prot = _SHEET_PROTECTION.match(tail.lstrip())
            if prot is None:
                prot = _SHEET_PROTECTION.search(data, end.end())
            head = data[: end.end()] + (prot.group(0) if prot else b"") + b"</" + root.group(1) + b">"
            if prot is not None and not prot.group(0).endswith(b"/>"):
                head = data[: end.end()] + prot.group(0)[:-1] + b"/></" + root.group(1) + b">"
            from xml.etree.ElementTree import XMLParser

            parser = XMLParser()
            parser.feed(head)
            return parser.close()
    return parse_xml(data)


def _sheet_data_end(data: bytes) -> re.Match[bytes] | None:
    """``_SHEET_DATA_END.search(data)``, found faster from the literal name.

    The pattern is tried at every ``<`` of the part (a tenth of a millisecond for a score
    sheet); the end tag it finds holds ``sheetData`` with no ``<`` between the tag's start
    and the name, so trying it only at the ``<`` before each ``sheetData`` finds the same
    first match. A part that mentions the name more often than an office program would is
    searched the plain way.
    """
    i = data.find(b"sheetData")
    for _ in range(8):
        if i < 0:
            return None
        m = _SHEET_DATA_END.match(data, max(0, data.rfind(b"<", 0, i)))
        if m is not None:
            return m
        i = data.find(b"sheetData", i + 1)
    return _SHEET_DATA_END.search(data)


_LOCAL: dict[str, str] = {}


def local_name(tag: str) -> str:
    """Local name of a tag or attribute, whatever namespace or prefix it carries (memoised)."""
    name = _LOCAL.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1] if "}" in tag else tag.rsplit(":", 1)[-1]
        if len(_LOCAL) < 4096:
            _LOCAL[tag] = name
    return name


_XML_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))  # &amp; last
_OTHER_REFERENCE = lazy_re(r"&(?!(?:amp|lt|gt|quot|apos);)")


def unescape_markup(text: str) -> str:
    """Text cut out of markup by a pattern, with its references resolved as ``html.unescape`` does.

    Office programs write only the five XML entities; those are replaced here directly,
    which gives exactly what ``html.unescape`` gives (``&amp;`` last, so ``&amp;lt;`` stays
    ``&lt;``) without loading the html package and its table of 2,000 entities in every
    command. Text with any other reference goes to ``html.unescape`` itself.
    """
    if "&" not in text:
        return text
    if _OTHER_REFERENCE.search(text) is None:
        for ref, char in _XML_ENTITIES:
            text = text.replace(ref, char)
        return text
    from html import unescape

    return unescape(text)


def ns_attr(el: Element, local: str) -> str | None:
    """An attribute by local name in a namespace (``r:id`` whatever the prefix)."""
    for k, v in el.attrib.items():
        if k.startswith("{") and local_name(k) == local:
            return v
    return None


def truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "on")


def mb(n: int) -> str:
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
