"""Every problem qi-excel can report about a returned file: one registry of finding types.

A finding's code is a stable contract (JSON output, 检查报告.xlsx, scripts); its severity
decides whether the file is refused (error = 拒收) or only worth a look (warning = 提醒);
its category says what it is about, and its Chinese name is what the organizer filters by in
检查报告. Keeping all four in one table (as frictionless-py keeps its error types) means a
new code cannot be produced without a severity and a name, and questions such as "could
this file be attributed to anyone?" are asked of the registry, not of a list kept by hand.
Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]
# file: what the bytes are; identity: whose file it is; content: what the expert filled in;
# between: how this file relates to the other files of the same expert (set by collect)
Category = Literal["file", "identity", "content", "between"]

SEVERITY_LABEL: Mapping[str, str] = MappingProxyType({"error": "拒收", "warning": "提醒"})


class FindingType(NamedTuple):
    """One row of the registry (a named tuple, not a frozen dataclass: pure data, and
    creating a dataclass costs every command ~0.6 ms at import)."""

    code: str
    severity: Severity
    category: Category
    name: str  # what people read in 检查报告 (the code stays in JSON output)


_TYPES = (
    # what the file is: nothing in it could be read or trusted
    FindingType("NOT_WORKBOOK", "error", "file", "不是工作簿"),
    FindingType("CORRUPT", "error", "file", "文件已损坏"),
    FindingType("ENCRYPTED", "error", "file", "文件已加密"),
    FindingType("LEGACY_XLS", "error", "file", "旧版 .xls 格式"),
    FindingType("WRONG_TYPE_DOCX", "error", "file", "误发 Word 文档"),
    FindingType("WRONG_TYPE_ODS", "error", "file", "ODS 格式"),
    FindingType("WRONG_TYPE", "error", "file", "文件类型不符"),
    FindingType("TOO_LARGE", "error", "file", "文件过大"),
    FindingType("ZIP_BOMB", "error", "file", "压缩内容异常"),
    FindingType("NO_ATTACHMENT", "error", "file", "邮件无附件"),
    FindingType("READ_FAILED", "error", "file", "无法读取"),
    FindingType("MACRO_ENABLED", "error", "file", "含宏的工作簿"),
    FindingType("TOO_COMPLEX", "error", "file", "文件内容过多"),
    # whose it is
    FindingType("NOT_ISSUED", "error", "identity", "非本次发放"),
    FindingType("WRONG_EVALUATION", "error", "identity", "其他评价的工作簿"),
    FindingType("UNKNOWN_EXPERT", "error", "identity", "专家不在名单中"),
    FindingType("BAD_SIGNATURE", "error", "identity", "身份校验未通过"),
    FindingType("SELF_AS_EXPERT", "error", "identity", "自评表误作专家表"),
    FindingType("EXPERT_RENAMED", "warning", "identity", "专家姓名被改"),
    FindingType("REISSUED", "warning", "identity", "旧版工作簿"),
    FindingType("SIGNER_MISMATCH", "error", "identity", "签名与发放对象不符"),
    FindingType("SENDER_MISMATCH", "error", "identity", "由另一位专家发来"),
    FindingType("IDENTITY_MISMATCH", "error", "identity", "身份信息前后不一"),
    FindingType("SENDER_UNKNOWN", "warning", "identity", "发件邮箱不在名单中"),
    FindingType("LAST_SAVED_BY_OTHER", "warning", "identity", "最后保存者是他人"),
    # what it contains
    FindingType("RUBRIC_CHANGED", "error", "content", "评价表被改动"),
    FindingType("STRUCTURE_CHANGED", "error", "content", "表格结构被改动"),
    FindingType("SCORE_NOT_ALLOWED", "error", "content", "分值不允许"),
    FindingType("SCORE_TEXT", "error", "content", "得分不是数字"),
    FindingType("SCORE_FORMULA", "error", "content", "得分是公式"),
    FindingType("SCORE_BLANK", "error", "content", "得分未填"),
    FindingType("SCORE_FORMAT", "error", "content", "得分显示与实际不符"),
    FindingType("TOTAL_FORMULA_CHANGED", "warning", "content", "合计公式被改"),
    FindingType("CACHED_TOTAL_MISMATCH", "warning", "content", "合计显示值不符"),
    FindingType("PROTECTION_REMOVED", "warning", "content", "保护已解除"),
    FindingType("REMARK_MISSING", "warning", "content", "缺扣分说明"),
    FindingType("SIGNATURE_BLANK", "warning", "content", "未签名"),
    FindingType("DATE_BLANK", "warning", "content", "未填日期"),
    FindingType("COMMITMENT_MISSING", "error", "content", "未确认评价承诺"),
    # between files (set by collect)
    FindingType("DUPLICATE", "warning", "between", "重复交回"),
    FindingType("SUPERSEDED", "warning", "between", "已被新文件替代"),
    FindingType("ORDER_DOUBT", "warning", "between", "先后顺序存疑"),
    FindingType("CLOCK_WRONG", "warning", "between", "保存时间有误"),
)

REGISTRY: Mapping[str, FindingType] = MappingProxyType({t.code: t for t in _TYPES})
# code → severity, for callers that only need that
CODES: Mapping[str, Severity] = MappingProxyType({t.code: t.severity for t in _TYPES})


def codes_where(*, categories: Iterable[Category], severity: Severity | None = None) -> frozenset[str]:
    """The codes of the given categories (and severity, when given)."""
    wanted = set(categories)
    return frozenset(t.code for t in _TYPES if t.category in wanted and (severity is None or t.severity == severity))


# Errors that mean the file cannot be attributed to anyone: the file itself could not be read
# or trusted, or it failed a check of whose it is. Without any of these, the signature
# verified and the expert named in the file really is the sender.
UNATTRIBUTED_CODES = codes_where(categories=("file",)) | codes_where(categories=("identity",), severity="error")


def finding_name(code: str) -> str:
    """The Chinese name of a code; a code from a newer version reads as 其他问题."""
    t = REGISTRY.get(code)
    return t.name if t is not None else "其他问题"


# The records below are named tuples rather than frozen dataclasses (as immutable, compared
# field by field; a changed copy is ``x._replace(...)``): defining a frozen dataclass costs ~1 ms,
# and every fresh ``collect`` and ``status`` defines these.
class Finding(NamedTuple):
    """One problem of one file: a sentence an organizer can forward to the expert as it is."""

    code: str
    severity: Severity
    cell: str | None  # "评分表!G12" where it applies
    message: str

    def to_json(self) -> dict[str, str | None]:
        return {"code": self.code, "severity": self.severity, "cell": self.cell, "message": self.message}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Finding:
        sev: Severity = "warning" if d.get("severity") == "warning" else "error"
        cell = d.get("cell")
        return cls(str(d.get("code", "")), sev, str(cell) if cell else None, str(d.get("message", "")))


def finding(code: str, message: str, cell: str | None = None) -> Finding:
    """A finding of a registered code (a KeyError for an unregistered one is a bug)."""
    return Finding(code, REGISTRY[code].severity, cell, message)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
