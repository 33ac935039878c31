"""Assembling an issued score workbook from the rendered template: the physical package.

Issuing a workbook only rewrites ``xl/sharedStrings.xml`` (the placeholder tokens),
``docProps/core.xml`` and a page header, and reassembles the zip from pre-compressed parts,
which keeps a panel of seven well under the time an organizer notices. Kept apart from the
sheet rendering (``score_sheet``) as python-docx keeps its package apart from its parts.
"""

from __future__ import annotations

import datetime
import re
import struct
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence
from html import escape as _html_escape

from . import layout as L
from .errors import QiError
from .identity import sign
from .project import KIND_EXPERT, KIND_SELF, SELF_ID, Kind, EvaluationInfo, Expert, Secret
from .rubric import Rubric

from .score_sheet import _TEMPLATE_PASSWORD, _template, _texts, legacy_password_hash

_INVALID_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def escape(text: str) -> str:
    """XML text escaping (& < >), as xml.sax.saxutils.escape, whose import pulls in urllib and
    http.client: a third of ``collect``'s start-up, which writes 检查报告.xlsx through this module."""
    return _html_escape(text, quote=False)


def _sst_text(value: str) -> str:
    """Escape for a shared string: XML, and literal ``_xHHHH_`` that Excel would decode."""
    return escape(_ESCAPE_LIKE.sub(r"_x005F_\1", _INVALID_XML.sub("", value)))


# ───────────────────────────── assembling a package ─────────────────────────────


@dataclass(frozen=True)
class _Packed:
    name: bytes
    crc: int
    size: int
    data: bytes  # raw deflate


def _pack(name: str, data: bytes) -> _Packed:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return _Packed(name.encode("ascii"), zlib.crc32(data), len(data), c.compress(data) + c.flush())


def _zip(entries: Sequence[_Packed], when: datetime.datetime) -> bytes:
    """A plain deflated zip from pre-compressed entries (zipfile cannot take raw deflate)."""
    t = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    d = ((max(when.year, 1980) - 1980) << 9) | (when.month << 5) | when.day
    out = bytearray()
    central = bytearray()
    for e in entries:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, t, d, e.crc, len(e.data), e.size, len(e.name), 0)
        out += e.name
        out += e.data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, t, d, e.crc, len(e.data), e.size,
                               len(e.name), 0, 0, 0, 0, 0, offset)
        central += e.name
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), cd_offset, 0)
    return bytes(out)


_SST = "xl/sharedStrings.xml"
_SUGGESTION_PART = "xl/worksheets/sheet2.xml"  # 改进建议: its page header names the expert
_CORE = "docProps/core.xml"
_WORKBOOK = "xl/workbook.xml"


@dataclass(frozen=True)
class _Prepared:
    """A template with one evaluation's password applied, static parts compressed once."""

    order: tuple[str, ...]
    static: dict[str, _Packed] = field(hash=False, compare=False)
    sst: str = ""
    suggestion: str = ""


@lru_cache(maxsize=16)
def _prepared(rubric: Rubric, kind: Kind, password: str) -> _Prepared:
    template = _template(rubric, kind)
    old = f'password="{legacy_password_hash(_TEMPLATE_PASSWORD)}"'.encode()
    new = f'password="{legacy_password_hash(password)}"'.encode()
    static: dict[str, _Packed] = {}
    sst = suggestion = ""
    for part in template.parts:
        data = part.data
        if part.name == _SST:
            sst = data.decode("utf-8")
            continue
        if part.name == _CORE:
            continue
        if part.name.startswith("xl/worksheets/sheet"):
            data = data.replace(old, new)
            if part.name == _SUGGESTION_PART:
                suggestion = data.decode("utf-8")
                continue
        elif part.name == _WORKBOOK:
            protection = (f'<workbookProtection workbookPassword="{legacy_password_hash(password)}" '
                          'lockStructure="1"/>').encode()
            data = data.replace(b"<bookViews>", protection + b"<bookViews>", 1)
        static[part.name] = _pack(part.name, data)
    return _Prepared(tuple(p.name for p in template.parts), static, sst, suggestion)


def _core_xml(title: str, creator: str, when: datetime.datetime) -> bytes:
    stamp = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(creator)}</dc:creator>"
        f"<cp:lastModifiedBy>{escape(creator)}</cp:lastModifiedBy>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    ).encode("utf-8")


_TOKEN_RE = re.compile(r"<t>QIPH([a-z_]+)QIPH</t>|QIPH([a-z_]+)QIPH")


def _fill(sst: str, values: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return f'<t xml:space="preserve">{_sst_text(values[m.group(1)])}</t>'
        return _sst_text(values[m.group(2)])

    return _TOKEN_RE.sub(repl, sst)


_HEADER_TOKEN_RE = re.compile(r"QIPH([a-z_]+)QIPH")


HEADER_VALUE_LIMIT = 80  # characters of one value in a page header (Excel's whole header: 255)


def header_value(text: str, limit: int = HEADER_VALUE_LIMIT) -> str:
    """A value as it may go into a page header: ``&`` doubled (it starts a header code there),
    and shortened with "…" so header codes, title and two values stay within Excel's 255
    characters (a longer header makes Excel "repair" the file)."""
    text = " ".join(_INVALID_XML.sub("", text).split())
    if len(text.replace("&", "&&")) <= limit:
        return text.replace("&", "&&")
    out = ""
    for ch in text:
        piece = "&&" if ch == "&" else ch
        if len(out) + len(piece) > limit - 1:
            break
        out += piece
    return out + "…"


def _fill_header(xml: str, values: dict[str, str]) -> str:
    """Tokens inside a page header (see ``header_value``)."""
    return _HEADER_TOKEN_RE.sub(lambda m: escape(header_value(values[m.group(1)])), xml)


def identity_meta(rubric: Rubric, info: EvaluationInfo, expert: Expert | None, secret: Secret,
                  issued_at: str) -> dict[str, str]:
    """The _qi values, signed: what ties a returned file to this evaluation and person."""
    meta = {
        "kind": KIND_SELF if expert is None else KIND_EXPERT,
        "evaluation_id": secret.evaluation_id,
        "expert_id": SELF_ID if expert is None else expert.expert_id,
        "expert_name": info.applicant if expert is None else expert.name,
        "rubric_fingerprint": rubric.fingerprint,
        "issued_at": issued_at,
        "layout_version": L.LAYOUT_VERSION,
    }
    meta["signature"] = sign(secret.hmac_key, meta, rubric.source_text)
    return meta


def render_score_workbook(rubric: Rubric, info: EvaluationInfo, expert: Expert | None, secret: Secret,
                          issued_at: str) -> bytes:
    """The .xlsx bytes for one expert (``expert=None``: the applicant's self-evaluation)."""
    kind = KIND_SELF if expert is None else KIND_EXPERT
    try:
        when = datetime.datetime.fromisoformat(issued_at)
    except ValueError:
        raise QiError(f"发放时间“{issued_at}”不是 ISO 8601 格式。") from None
    prepared = _prepared(rubric, kind, secret.password)
    values = identity_meta(rubric, info, expert, secret, issued_at)
    values.update(service_name=info.service_name, applicant=info.applicant,
                  organizer=info.organizer or "评价组织")
    sst = _pack(_SST, _fill(prepared.sst, values).encode("utf-8"))
    texts = _texts(kind)
    core = _pack(_CORE, _core_xml(f"{texts.title}（{values['expert_name']}）", info.organizer or "qi-excel", when))
    dynamic = {_SST: sst, _CORE: core}
    if prepared.suggestion:
        dynamic[_SUGGESTION_PART] = _pack(_SUGGESTION_PART, _fill_header(prepared.suggestion, values).encode("utf-8"))
    entries = [dynamic.get(n) or prepared.static[n] for n in prepared.order]
    return _zip(entries, when)


