"""The evaluation's records and the rules of its roster: no I/O, imported by every layer.

What 评价项目.xlsx holds (EvaluationInfo, Expert, Panel), the folder's file names, the
issued-workbook record and the clause-7.2 roster rules live here so that the readers and
writers (evaluation.py reads the folder, workbook_project.py writes the form, excuse.py,
conflict.py, eml.py) all stand on the same bottom layer instead of importing each other.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Literal, NamedTuple, Sequence

from .errors import QiError

if TYPE_CHECKING:
    from .review import MaterialReview

PROJECT_FILE = "评价项目.xlsx"
PASSWORD_FILE = "保护密码.txt"
STATE_DIR = ".qi"
SECRET_FILE = ".qi/secret.json"
ISSUED_FILE = ".qi/issued.json"
RUBRIC_FILE = ".qi/rubric.toml"
ISSUE_DIR = "发放"
INBOX_DIR = "收件箱"
ACCEPTED_DIR = "回收"
LEDGER_FILE = "回收/ledger.json"
CHECK_REPORT_FILE = "检查报告.xlsx"
SUMMARY_FILE = "汇总表.xlsx"
CONSOLIDATION_FILE = ".qi/consolidation.json"
APPLICATION_FILE = "评价申请表.docx"
REPORT_FILE = "评价报告.docx"

INFO_SHEET = "基本信息"
PANEL_SHEET = "专家组"

SELF_ID = "SELF"

# Whose workbook it is: an expert's score workbook or the applicant's self-evaluation (6.1).
Kind = Literal["expert", "self"]
KIND_EXPERT: Kind = "expert"
KIND_SELF: Kind = "self"
LEADER = "组长"
MEMBER = "成员"


class EvaluationInfo(NamedTuple):
    """基本信息: every field of Appendix B plus the organizer's own dates.

    A named tuple rather than a frozen dataclass (as immutable, compared field by field; a
    changed copy is ``info._replace(...)``): a dataclass of 18 fields costs ~2 ms to define,
    paid by every fresh ``collect`` and ``status``.
    """

    service_name: str  # 服务名称
    applicant: str  # 申报单位
    address: str  # 地址
    head: str  # 负责人
    head_phone: str
    head_email: str
    contact: str  # 联系人
    contact_phone: str
    contact_email: str
    goals: str  # 总体目标和要求
    organizer: str  # 评价组织
    evaluation_date: str  # 评价日期 (text as the organizer wrote it, ISO when a real date)
    first_meeting: str  # 首次会议
    site_visit: str  # 现场考察
    last_meeting: str  # 末次会议
    self_summary: str = ""  # 自查情况总结报告 (optional)
    application_date: str = ""  # 申请日期 (optional)
    internal_meeting: str = ""  # 内部沟通 (8.3; optional: the report infers it when blank)


# The records below are named tuples rather than frozen dataclasses (as immutable, compared
# field by field; a changed copy is ``x._replace(...)``): defining a frozen dataclass costs ~1 ms,
# and every fresh ``collect`` and ``status`` defines these.
class Expert(NamedTuple):
    """One row of 专家组, as typed (the name without the spaces of Chinese forms)."""

    number: int  # 序号
    name: str
    title: str  # 职称
    employer: str  # 工作单位
    field: str  # 专业领域
    phone: str
    email: str
    role: str  # 组长 / 成员
    excused: str = ""  # 未参加原因 typed in 专家组 (optional column; see excuse.py)

    @property
    def expert_id(self) -> str:
        return f"E{self.number:02d}"


class Panel(NamedTuple):
    """The roster in 序号 order; built only once it keeps clause 7.2 (see ``check_panel``)."""

    experts: tuple[Expert, ...]

    @property
    def leader(self) -> Expert:
        return next(e for e in self.experts if e.role == LEADER)

    def by_id(self, expert_id: str) -> Expert | None:
        return next((e for e in self.experts if e.expert_id == expert_id), None)


class Secret(NamedTuple):
    """``.qi/secret.json``: what signs and locks this evaluation's workbooks; never sent out."""

    evaluation_id: str
    hmac_key: bytes
    password: str


def folder_path(root: str | Path, relative: str) -> Path:
    return Path(root) / relative


# ───────────────────────────── records and problems ─────────────────────────────


class IssuedRecord(NamedTuple):
    """One line of ``.qi/issued.json``: a workbook ``issue`` wrote (latest issue last)."""

    expert_id: str
    name: str
    file: str  # relative to the evaluation folder, "/"-separated
    kind: str  # a Kind ("expert" or "self"); read from JSON, so not narrowed here
    issued_at: str
    sha256: str


class PanelProblem(NamedTuple):
    """A roster rule broken; warnings (unrecognised titles) can be confirmed by the organizer."""

    row: int | None  # Excel row in 专家组, when known
    message: str
    severity: Literal["error", "warning"] = "error"

    @property
    def text(self) -> str:
        where = f"{PANEL_SHEET} 第 {self.row} 行：" if self.row else f"{PANEL_SHEET}："
        if not self.row and self.message.startswith(PANEL_SHEET):
            where = ""  # never "专家组：专家组只有 4 名专家"
        return where + self.message


class Project(NamedTuple):
    """What 评价项目.xlsx says, with every roster problem found (nothing raised yet)."""

    info: EvaluationInfo
    experts: tuple[Expert, ...]
    rows: tuple[int, ...]
    problems: tuple[PanelProblem, ...]
    review: MaterialReview | None = None  # from 申请材料审查 (None: the workbook has no such sheet)

    @property
    def errors(self) -> tuple[PanelProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[PanelProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


# ───────────────────────────── panel rules (clause 7.2) ─────────────────────────────

MIN_EXPERTS = 5
MAX_EXPERTS = 99  # expert ids are E01..E99

# Senior professional titles and the positions that count as equivalent (clause 7.2). A title
# is recognised when it contains one of these and is not a junior prefix such as 助理研究员.
_SENIOR_MARKERS = (
    "高级", "正高", "副高", "教授", "研究员", "高工", "主任医师", "主任药师", "主任技师", "主任护师",
    "编审", "研究馆员", "译审", "主任记者", "主任编辑", "高讲",
)
_JUNIOR_PREFIXES = ("助理", "见习", "实习")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def is_email(text: str) -> bool:
    return bool(_EMAIL_RE.match(text))


def is_senior_title(title: str) -> bool:
    t = title.replace(" ", "")
    if not t or t.startswith(_JUNIOR_PREFIXES):
        return False
    return any(m in t for m in _SENIOR_MARKERS)


def check_panel(experts: Sequence[Expert], rows: Sequence[int] | None = None) -> list[PanelProblem]:
    """Every clause-7.2 and roster rule ``experts`` breaks; ``rows`` are their Excel rows."""
    problems: list[PanelProblem] = []
    row_of = (lambda i: rows[i]) if rows is not None else (lambda i: None)
    for i, e in enumerate(experts):
        r = row_of(i)
        if not e.name:
            problems.append(PanelProblem(r, "姓名为空"))
        if not 1 <= e.number <= MAX_EXPERTS:
            problems.append(PanelProblem(r, f"序号 {e.number} 应为 1~{MAX_EXPERTS} 的整数"))
        if e.role not in (LEADER, MEMBER):
            problems.append(PanelProblem(r, f"角色“{e.role}”无效，应为“{LEADER}”或“{MEMBER}”"))
        if e.email and not is_email(e.email):
            problems.append(PanelProblem(r, f"邮箱“{e.email}”格式不正确"))
        if not e.title:
            problems.append(PanelProblem(r, f"{e.name or '该专家'}的职称为空（规范 7.2 条要求高级专业技术职称）"))
        elif not is_senior_title(e.title):
            problems.append(PanelProblem(
                r,
                f"{e.name or '该专家'}的职称“{e.title}”不是可识别的高级专业技术职称（规范 7.2 条）；"
                "如确属高级职称或相应职务，请确认后使用 --accept-titles 发放",
                "warning",
            ))
    seen_names: dict[str, int] = {}
    seen_numbers: dict[int, int] = {}
    for i, e in enumerate(experts):
        if e.name:
            if e.name in seen_names:
                first = row_of(seen_names[e.name])
                extra = f"（与第 {first} 行相同）" if first else ""
                problems.append(PanelProblem(row_of(i), f"姓名“{e.name}”重复{extra}"))
            else:
                seen_names[e.name] = i
        if e.number in seen_numbers:
            first = row_of(seen_numbers[e.number])
            extra = f"（与第 {first} 行相同）" if first else ""
            problems.append(PanelProblem(row_of(i), f"序号 {e.number} 重复{extra}"))
        else:
            seen_numbers[e.number] = i
    if len(experts) < MIN_EXPERTS:
        problems.append(PanelProblem(
            None, f"专家组只有 {len(experts)} 名专家；规范 7.2 条要求不少于 {MIN_EXPERTS} 人"))
    leaders = [i for i, e in enumerate(experts) if e.role == LEADER]
    if not leaders and experts:
        problems.append(PanelProblem(None, f"没有组长：请在“角色”列把一位专家设为“{LEADER}”"))
    elif len(leaders) > 1:
        where = "、".join(str(row_of(i)) for i in leaders) if rows is not None else ""
        extra = f"（第 {where} 行）" if where else ""
        problems.append(PanelProblem(None, f"有 {len(leaders)} 位组长{extra}：专家组只能有一位组长"))
    return problems


def raise_panel_problems(problems: Sequence[PanelProblem], source: str) -> None:
    if len(problems) == 1:
        raise QiError(f"{source} 的专家组名单有误：{problems[0].text}")
    lines = "\n".join(f"  {p.text}" for p in problems)
    raise QiError(f"{source} 的专家组名单有 {len(problems)} 处问题：\n{lines}")


# ───────────────────────────── 评价项目.xlsx ─────────────────────────────

# (label in column A of 基本信息, EvaluationInfo field, required, hint shown in column C)
INFO_FIELDS: tuple[tuple[str, str, bool, str], ...] = (
    ("服务名称", "service_name", True, "必填。用“×××质量基础设施‘一站式’服务”，印在评分表表头"),
    ("申报单位", "applicant", True, "必填。具体承担“一站式”服务的申请方，印在评分表表头"),
    ("申请日期", "application_date", False, "如 2025-05-20"),
    ("地址", "address", False, "申报单位地址"),
    ("负责人", "head", False, "服务平台负责人"),
    ("负责人电话", "head_phone", False, ""),
    ("负责人邮箱", "head_email", False, ""),
    ("联系人", "contact", False, ""),
    ("联系人电话", "contact_phone", False, ""),
    ("联系人邮箱", "contact_email", False, ""),
    ("总体目标和要求", "goals", False, "可多行；单元格内换行按 Alt+Enter"),
    ("自查情况总结报告", "self_summary", False, "依照评价表（附录A）自评自查的情况，可简写"),
    ("评价组织", "organizer", False, "组织评价的单位，用于邮件和评价报告"),
    ("评价日期", "evaluation_date", False, "如 2025-06-18"),
    ("首次会议", "first_meeting", False, "时间和地点，如 2025-06-18 09:00 服务中心三楼会议室"),
    ("现场考察", "site_visit", False, "时间和地点"),
    ("内部沟通", "internal_meeting", False, "时间和地点（规范 8.3 条）；空着时按汇总日期推算"),
    ("末次会议", "last_meeting", False, "时间和地点"),
)

# Column headers of 专家组 (and accepted variants an organizer may type instead)
PANEL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("序号", "number"),
    ("姓名", "name"),
    ("职称", "title"),
    ("工作单位", "employer"),
    ("专业领域", "field"),
    ("电话", "phone"),
    ("邮箱", "email"),
    ("角色", "role"),
)

EXCUSE_COLUMN = "未参加原因"
# Headers an organizer may type instead of 未参加原因.
EXCUSE_HEADERS = frozenset({EXCUSE_COLUMN, "请假说明", "请假原因", "缺席原因", "未参加说明"})


# ───────────────────────────── the optional 未参加原因 column ─────────────────────────────


def clean_reason(text: object) -> str:
    """A reason as one line of plain text (it is printed inside a sentence of the report)."""
    if text is None:
        return ""
    value = " ".join(str(text).split())
    return "".join(ch for ch in value if ch >= " ")


def reasons_from_rows(rows: Iterable[Sequence[object]]) -> dict[int, str]:
    """未参加原因 of the 专家组 sheet: Excel row number (1-based) → reason, blank ones left out.

    ``rows`` are the sheet's rows as plain cell values from row 1. The header row is the
    first of the first ten that has a 姓名 cell; without an excuse column nothing is excused.
    """
    column: int | None = None
    header_seen = False
    out: dict[int, str] = {}
    for number, row in enumerate(rows, start=1):
        if not header_seen:
            if number > 10:
                break
            keys = ["" if v is None else str(v).replace(" ", "").replace("*", "") for v in row]
            if "姓名" in keys:
                header_seen = True
                column = next((i for i, k in enumerate(keys) if k in EXCUSE_HEADERS), None)
                if column is None:
                    break
            continue
        if column is not None and column < len(row):
            reason = clean_reason(row[column])
            if reason:
                out[number] = reason
    return out
