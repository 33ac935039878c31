"""Application material review (clause 6.3): the sheet 申请材料审查 of 评价项目.xlsx, read purely.

Clause 6.3 puts the review before everything the panel does: only an application that meets
6.2 is evaluated, otherwise it is corrected within a deadline first. The organizer records
the review where they already type (a sheet of 评价项目.xlsx); ``issue`` refuses expert
workbooks until the conclusion is 符合 (the self-evaluation of 6.1 comes before the review and
is not held back).

The parser takes rows of plain cell values (whatever reader produced them: openpyxl today,
a lighter reader tomorrow), finds the fields by their labels, and does no I/O; the layout the
writer uses (``workbook_project.py``) comes from the constants here, so writer and reader agree.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import QiError

REVIEW_SHEET = "申请材料审查"

# Clause 6.2 a)–e): key, name as the standard writes it
MATERIALS: tuple[tuple[str, str], ...] = (
    ("a)", "评价申请表（见附录 B）"),
    ("b)", "自我评价记录"),
    ("c)", "工作总结"),
    ("d)", "相关制度"),
    ("e)", "规划及实施方案等相关文件"),
)
MATERIAL_HEADERS = ("序号", "申请材料（规范 6.2 条）", "是否提交", "备注")
SUBMITTED_CHOICES = ("是", "否")

CONCLUSION_OK = "符合"
CONCLUSION_FIX = "需整改"
CONCLUSION_CHOICES = (CONCLUSION_OK, CONCLUSION_FIX)

# Label rows below the material table: (label, field, hint for the input message)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("审查结论", "conclusion", "从下拉列表选择：符合（可以实施评价）或 需整改（在整改期限内整改后方可评价，规范 6.3 条）"),
    ("整改期限", "deadline", "结论为“需整改”时填写，如 2025-07-01"),
    ("审查意见", "opinion", "审查发现的问题和整改要求，可多行"),
    ("审查人", "reviewer", "评价组织负责审查的人员"),
    ("审查日期", "review_date", "如 2025-05-25"),
)

_EXCEL_EPOCH = datetime.date(1899, 12, 30)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class MaterialCheck:
    key: str  # "a)" .. "e)"
    name: str
    submitted: str  # "是", "否" or "" (not filled in)
    remark: str


@dataclass(frozen=True)
class MaterialReview:
    """What the organizer recorded in 申请材料审查."""

    materials: tuple[MaterialCheck, ...]
    conclusion: str = ""  # 符合 / 需整改 / "" / anything typed
    deadline: str = ""  # ISO date when it was a date, else as typed
    opinion: str = ""
    reviewer: str = ""
    review_date: str = ""

    @property
    def passed(self) -> bool:
        return not self.gate_problems()

    def gate_problems(self) -> list[str]:
        """Why expert workbooks may not go out yet (empty: the review allows the evaluation)."""
        not_submitted = [f"{m.key} {m.name}" for m in self.materials if m.submitted == "否"]
        unknown = [f"{m.key} {m.name}" for m in self.materials if m.submitted not in SUBMITTED_CHOICES]
        problems: list[str] = []
        if self.conclusion == CONCLUSION_FIX:
            problems.append("审查结论为“需整改”" + (f"（整改期限 {human_date(self.deadline)}）" if self.deadline else ""))
        elif self.conclusion != CONCLUSION_OK:
            problems.append("尚未填写审查结论（应为“符合”或“需整改”）" if not self.conclusion
                            else f"审查结论“{self.conclusion}”无效（应为“符合”或“需整改”）")
        if not_submitted:
            problems.append("未提交的材料：" + "、".join(not_submitted))
        if unknown:
            problems.append("未填写是否提交：" + "、".join(unknown))
        if self.conclusion == CONCLUSION_FIX and self.opinion:
            problems.append(f"整改要求：{self.opinion}")
        return problems


def normalise(text: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def value_text(value: object) -> str:
    """A plain cell value as text: dates as ISO, whole floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time(0, 0) else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return "\n".join(" ".join(line.split()) for line in str(value).replace("\r", "\n").split("\n")).strip()


def date_text(value: object) -> str:
    """A deadline as ISO when it is recognisably a date (a date cell, an Excel serial, or text
    like 2025-7-1 / 2025年7月1日 / 2025/7/1); otherwise the text as typed."""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 20000 < value < 80000:
        return (_EXCEL_EPOCH + datetime.timedelta(days=int(value))).isoformat()
    text = value_text(value)
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if m:
        try:
            return datetime.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return text
    return text


def human_date(iso: str) -> str:
    """2025-07-01 → 2025年7月1日 (GB/T 9704, no zero padding); anything else unchanged."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso)
    return f"{int(m[1])}年{int(m[2])}月{int(m[3])}日" if m else iso


def _label(value: object) -> str:
    return normalise(value_text(value)).replace("*", "").replace("＊", "").rstrip("：:")


def _next_value(row: Sequence[object], start: int) -> object:
    for v in row[start:]:
        if v is not None and value_text(v) != "":
            return v
    return None


_KEY_RE = re.compile(r"^([a-eA-E])[)）.、]?$")


def parse_review(rows: Sequence[Sequence[object]] | None, source: str = "评价项目.xlsx") -> MaterialReview | None:
    """The review from the sheet's rows (``None``: the workbook has no such sheet).

    Material rows are recognised by their key (a)–e)) or name in the first two columns, the
    other fields by their label anywhere in a row, the value being the next filled cell to its
    right; so an organizer may restyle, insert rows or move the blocks.
    """
    if rows is None:
        return None
    by_key = {k[0]: (k, n) for k, n in MATERIALS}
    by_name = {normalise(n): k[0] for k, n in MATERIALS}
    by_name.update({normalise(re.sub(r"（.*?）", "", n)): k[0] for k, n in MATERIALS})
    labels = {normalise(lab): attr for lab, attr, _ in FIELDS}
    found: dict[str, MaterialCheck] = {}
    values: dict[str, str] = {}
    for row in rows:
        cells = list(row)
        if not cells:
            continue
        letter = None
        for i in range(min(2, len(cells))):
            text = _label(cells[i])
            m = _KEY_RE.match(text)
            if m:
                letter = m[1].lower()
                break
            if text in by_name:
                letter = by_name[text]
                break
        if letter is not None and letter not in found:
            key, name = by_key[letter]
            tail = [value_text(c) for c in cells[2:4]] + ["", ""]
            submitted = normalise(tail[0])
            submitted = {"√": "是", "✓": "是", "×": "否", "✗": "否", "已提交": "是", "未提交": "否"}.get(submitted, submitted)
            found[letter] = MaterialCheck(key, name, submitted, tail[1])
            continue
        for i, cell in enumerate(cells):
            attr = labels.get(_label(cell))
            if attr is None or attr in values:
                continue
            raw = _next_value(cells, i + 1)
            if attr in ("deadline", "review_date"):
                values[attr] = date_text(raw) if raw is not None else ""
            else:
                values[attr] = value_text(raw)
                if attr == "conclusion":
                    values[attr] = normalise(values[attr])
            break
    materials = tuple(found.get(k[0]) or MaterialCheck(k, n, "", "") for k, n in MATERIALS)
    return MaterialReview(materials, **values)


def require_review(review: MaterialReview | None, source: str = "评价项目.xlsx") -> None:
    """Refuse to issue expert workbooks before the application passed the review (6.3)."""
    if review is None:
        raise QiError(
            f"{source} 中没有“{REVIEW_SHEET}”工作表，无法确认申请材料已通过审查（规范 6.3 条）。"
            f"请用 qi-excel new 新建一个评价目录，把其中 {source} 的“{REVIEW_SHEET}”工作表复制到本文件并填写后重新发放；"
            "未写入任何文件。"
        )
    problems = review.gate_problems()
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise QiError(
            f"申请材料审查（规范 6.3 条）尚未通过，暂不能向专家发放评分工作簿：\n{lines}\n"
            f"请在 {source} 的“{REVIEW_SHEET}”工作表中记录整改情况，审查结论为“符合”后重新运行；未写入任何文件。"
            "（申报单位的自我评价记录表不受影响，可用 --self 生成。）"
        )


def sample_review() -> MaterialReview:
    """The --sample folder's review: every material submitted, conclusion 符合."""
    remarks = {"a)": "已盖章", "b)": "逐项自评记录", "c)": "2024 年度工作总结", "d)": "共 12 项制度", "e)": "三年建设规划及实施方案"}
    return MaterialReview(
        tuple(MaterialCheck(k, n, "是", remarks[k]) for k, n in MATERIALS),
        conclusion=CONCLUSION_OK,
        opinion="申请材料齐全，符合规范 6.2 条要求，同意实施评价。",
        reviewer="邓晓梅",
        review_date="2025-05-26",
    )
