"""The evaluation rubric (table A.1) as a validated, immutable model.

The rubric is data: the shipped ``data/rubric.toml`` is read here and checked on load, so a
typo in a custom rubric is caught before any workbook is issued, with a message that names
the item and the rule it breaks. Everything else in qi-excel asks this model what can be
scored and how much it may score; no other module knows the table's contents.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from .errors import QiError
from .errors import os_error_text, toml_error_text
from .lazy_re import lazy_re

Ranges = tuple[tuple[int, int], ...]


def _format_ranges(ranges: Ranges) -> str:
    return "、".join(str(lo) if lo == hi else f"{lo}~{hi}" for lo, hi in ranges)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted inclusive ranges with overlapping and adjacent ones joined: (0,3),(4,6) → (0,6)."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def sum_ranges(a: Ranges, b: Ranges) -> Ranges:
    """Every total of one value from ``a`` and one from ``b``, as merged ranges.

    Works on intervals, never on the values themselves: parts allowed 0..20000 each would
    otherwise mean enumerating billions of sums.
    """
    return merge_ranges((alo + blo, ahi + bhi) for alo, ahi in a for blo, bhi in b)


def collapse_runs(values: Iterable[int]) -> Ranges:
    """Collapse integers into sorted inclusive ranges: {1, 2, 3, 7} → ((1, 3), (7, 7))."""
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return tuple(out)


class Allowed(NamedTuple):
    """The scores a criterion names, as inclusive integer ranges (a named tuple, as the records below).

    Ranges keep the criterion's own bands (``0; 5~9; 10``) rather than merging adjacent ones,
    so what an expert reads in the input message matches the printed standard.
    """

    ranges: Ranges

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return any(lo <= value <= hi for lo, hi in self.ranges)

    def values(self) -> tuple[int, ...]:
        return tuple(v for lo, hi in self.ranges for v in range(lo, hi + 1))

    @property
    def low(self) -> int:
        return self.ranges[0][0]

    @property
    def high(self) -> int:
        return self.ranges[-1][1]

    def is_contiguous(self) -> bool:
        return len(self.ranges) == 1

    def describe(self) -> str:
        """Chinese wording used in input messages, findings and the CLI table."""
        return _format_ranges(self.ranges)

    def as_lists(self) -> list[list[int]]:
        return [[lo, hi] for lo, hi in self.ranges]


# The records below are named tuples rather than frozen dataclasses (as immutable, compared
# field by field; a changed copy is ``x._replace(...)``): defining a frozen dataclass costs ~1 ms,
# and every fresh ``collect`` and ``status`` defines these.
class Part(NamedTuple):
    """One separately scored part of an item (a system, a service content)."""

    id: str
    name: str
    max: int
    allowed: Allowed


class Item(NamedTuple):
    """A numbered scoring item of a second-level indicator."""

    id: str
    level1: str
    level2: str
    number: int
    max: int
    allowed: Allowed
    requirement: str
    criterion: str
    explain: str
    parts: tuple[Part, ...]

    @property
    def cells(self) -> tuple["ScoreCell", ...]:
        """What an expert types: the parts, or the item itself when it has none."""
        if self.parts:
            return tuple(ScoreCell(p.id, self, p) for p in self.parts)
        return (ScoreCell(self.id, self, None),)


class ScoreCell(NamedTuple):
    """One value an expert enters; ``id`` is the item's or the part's id."""

    id: str
    item: Item
    part: Part | None

    @property
    def max(self) -> int:
        return self.part.max if self.part else self.item.max

    @property
    def allowed(self) -> Allowed:
        return self.part.allowed if self.part else self.item.allowed

    @property
    def label(self) -> str:
        base = f"{self.item.level2} 第{self.item.number}项"
        return f"{base}（{self.part.name}）" if self.part else base

    @property
    def name_suffix(self) -> str:
        """The id as used in defined names: ``1.1.1`` → ``1_1_1``."""
        return self.id.replace(".", "_")


class Level2(NamedTuple):
    """A second-level indicator: its points are the sum of its items' maximums (checked on load)."""

    id: str
    name: str
    points: int
    requirement: str
    items: tuple[Item, ...]


class Level1(NamedTuple):
    """A first-level indicator: its points are the sum of its second-level ones (checked on load)."""

    id: str
    name: str
    points: int
    level2: tuple[Level2, ...]


@dataclass(frozen=True)
class Rubric:
    """The whole table; ``source_text`` is kept because its SHA-256 names the rubric a workbook used."""

    title: str
    standard: str
    total: int
    level1: tuple[Level1, ...]
    source_text: str

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(i for l1 in self.level1 for l2 in l1.level2 for i in l2.items)

    @property
    def level2(self) -> tuple[Level2, ...]:
        return tuple(l2 for l1 in self.level1 for l2 in l1.level2)

    @cached_property
    def score_cells(self) -> tuple[ScoreCell, ...]:
        return tuple(c for i in self.items for c in i.cells)

    @cached_property
    def _cells_by_id(self) -> dict[str, ScoreCell]:
        return {c.id: c for c in self.score_cells}

    def cell(self, cell_id: str) -> ScoreCell:
        """The score cell (item without parts, or part) with this id."""
        return self._cells_by_id[cell_id]

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the rubric file's bytes: which rubric a workbook was issued under."""
        return hashlib.sha256(self.source_text.encode("utf-8")).hexdigest()

    def iter_cells(self) -> Iterator[ScoreCell]:
        return iter(self.score_cells)

    def to_json(self) -> dict[str, Any]:
        """The ``qi-excel rubric --json`` contract that scripts rely on."""
        return {
            "title": self.title,
            "total": self.total,
            "items": [
                {
                    "id": i.id,
                    "level1": i.level1,
                    "level2": i.level2,
                    "number": i.number,
                    "max": i.max,
                    "allowed": i.allowed.as_lists(),
                    "requirement": i.requirement,
                    "criterion": i.criterion,
                    "parts": [
                        {"id": p.id, "name": p.name, "max": p.max, "allowed": p.allowed.as_lists()}
                        for p in i.parts
                    ],
                }
                for i in self.items
            ],
        }


# ───────────────────────────── loading and validation ─────────────────────────────

_DEFAULT = "rubric.toml"

# Limits a custom rubric must keep (the shipped table A.1 is far inside every one of them).
# A score sheet is read and typed by people: an item worth more than 1000 points or a rubric
# worth more than 10000 means nothing on paper, and unbounded numbers only make the data
# validations, the checks and the consolidation grow without need.
MAX_RUBRIC_BYTES = 1 << 20  # the shipped file is about 29 KB
MAX_CELL_POINTS = 1000  # one item's or one part's maximum
MAX_TOTAL_POINTS = 10000
MAX_SCORE_CELLS = 2000  # the shipped rubric has 79
MAX_NAME_CHARS = 100  # indicator and part names, the rubric title
CELL_TEXT_LIMIT = 32767  # characters Excel keeps in one cell
EXCEL_MAX_ROW_HEIGHT = 409.0  # points
DV_FORMULA_LIMIT = 255  # characters of a data-validation formula
ID_PATTERN = re.compile(r"\d{1,4}(?:\.\d{1,4}){0,5}")
# compiled on first use (by limit_problems): a command that reads a validated rubric need not pay
_XML_INVALID = lazy_re(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def default_rubric_text() -> str:
    from importlib import resources  # only the shipped rubric is read this way

    return resources.files("qi_excel").joinpath("data").joinpath(_DEFAULT).read_text(encoding="utf-8")


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Read and validate a rubric file (the shipped table A.1 when ``path`` is None)."""
    if path is None:
        return parse_rubric(default_rubric_text(), "内置评价表")
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_RUBRIC_BYTES + 1)
        if len(raw) > MAX_RUBRIC_BYTES:
            raise QiError(f"评价表文件 {p} 超过 {MAX_RUBRIC_BYTES // 1024} KB 的上限，不像是评价表，未读取。")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise QiError(f"评价表文件 {p} 不存在。") from None
    except UnicodeDecodeError:
        raise QiError(f"评价表文件 {p} 不是 UTF-8 编码的文本文件。") from None
    except OSError as exc:
        raise QiError(f"无法读取评价表文件 {p}：{os_error_text(exc)}。") from None
    return parse_rubric(text, p.name)


_cache: dict[str, Rubric] = {}


def shipped_rubric() -> Rubric:
    """The built-in rubric, parsed once per process."""
    if "default" not in _cache:
        _cache["default"] = load_rubric()
    return _cache["default"]


class _Reader:
    """Pulls typed fields out of TOML tables, naming the place on failure."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, rule: str) -> QiError:
        return QiError(f"评价表 {self.source} 有误：{where}：{rule}")

    def field(self, table: Any, key: str, kind: type, where: str) -> Any:
        if not isinstance(table, dict):
            raise self.fail(where, "应为表（table）")
        if key not in table:
            raise self.fail(where, f"缺少字段“{key}”")
        value = table[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(where, f"字段“{key}”应为整数，实际为 {value!r}")
        if kind is str and (not isinstance(value, str) or not value.strip()):
            raise self.fail(where, f"字段“{key}”应为非空文本")
        if kind is list and not isinstance(value, list):
            raise self.fail(where, f"字段“{key}”应为列表")
        return value

    def allowed(self, table: dict[str, Any], where: str, maximum: int) -> Allowed:
        raw = self.field(table, "allowed", list, where)
        ranges: list[tuple[int, int]] = []
        for r in raw:
            if (
                not isinstance(r, list)
                or len(r) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in r)
                or r[0] > r[1]
            ):
                raise self.fail(where, f"允许分值 {r!r} 应为 [下限, 上限] 两个整数且下限不大于上限")
            ranges.append((r[0], r[1]))
        if not ranges:
            raise self.fail(where, "允许分值为空")
        ranges.sort()
        for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
            if lo <= hi:
                raise self.fail(where, f"允许分值区间重叠（{_format_ranges(tuple(ranges))}）")
        allowed = Allowed(tuple(ranges))
        if allowed.low < 0 or allowed.high > maximum:
            raise self.fail(where, f"允许分值 {allowed.describe()} 超出 0~{maximum} 分的范围")
        if allowed.high != maximum:
            raise self.fail(where, f"允许分值 {allowed.describe()} 达不到满分 {maximum} 分")
        return allowed


def _sum_set(parts: tuple[Part, ...]) -> Allowed:
    """Every total the parts can add up to: the item's own allowed set."""
    sums: Ranges = ((0, 0),)
    for p in parts:
        sums = sum_ranges(sums, p.allowed.ranges)
    return Allowed(sums)


def parse_rubric(text: str, source: str = "评价表") -> Rubric:
    """Parse and validate rubric TOML text; raises ``QiError`` naming the broken rule."""
    import tomllib  # pure Python and costly to import: only when a rubric is really parsed

    r = _Reader(source)
    if len(text) > MAX_RUBRIC_BYTES:
        raise QiError(f"评价表 {source} 超过 {MAX_RUBRIC_BYTES // 1024} KB 的上限，不像是评价表，未读取。")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QiError(f"评价表 {source} 不是有效的 TOML 文件，{toml_error_text(exc)}。") from None
    except RecursionError:
        raise QiError(f"评价表 {source} 中的列表或表嵌套层数过深，不是有效的评价表。") from None
    title = r.field(data, "title", str, "文件头")
    standard = str(data.get("standard", "")).strip()
    total = r.field(data, "total", int, "文件头")
    seen: set[str] = set()

    def claim(ident: str, where: str) -> None:
        if ident in seen:
            raise r.fail(where, f"编号 {ident} 重复")
        seen.add(ident)

    level1s: list[Level1] = []
    for t1 in r.field(data, "level1", list, "文件头"):
        id1 = str(r.field(t1, "id", str, "一级指标"))
        name1 = r.field(t1, "name", str, f"一级指标 {id1}")
        w1 = f"一级指标 {id1} {name1}"
        claim(id1, w1)
        points1 = r.field(t1, "points", int, w1)
        level2s: list[Level2] = []
        for t2 in r.field(t1, "level2", list, w1):
            id2 = r.field(t2, "id", str, f"{w1} 的二级指标")
            name2 = r.field(t2, "name", str, f"二级指标 {id2}")
            w2 = f"二级指标 {id2} {name2}"
            claim(id2, w2)
            points2 = r.field(t2, "points", int, w2)
            requirement = r.field(t2, "requirement", str, w2)
            items = [_parse_item(r, t3, claim, w2, name1, name2, requirement)
                     for t3 in r.field(t2, "items", list, w2)]
            if not items:
                raise r.fail(w2, "没有评分项")
            item_sum = sum(i.max for i in items)
            if item_sum != points2:
                raise r.fail(w2, f"各评分项满分之和 {item_sum} 分与该指标分值 {points2} 分不符")
            level2s.append(Level2(id2, name2, points2, requirement, tuple(items)))
        if not level2s:
            raise r.fail(w1, "没有二级指标")
        l2_sum = sum(l2.points for l2 in level2s)
        if l2_sum != points1:
            raise r.fail(w1, f"各二级指标分值之和 {l2_sum} 分与该一级指标分值 {points1} 分不符")
        level1s.append(Level1(id1, name1, points1, tuple(level2s)))
    if not level1s:
        raise r.fail("文件头", "没有一级指标")
    l1_sum = sum(l1.points for l1 in level1s)
    if l1_sum != total:
        raise r.fail("文件头", f"各一级指标分值之和 {l1_sum} 分与总分 {total} 分不符")
    rubric = Rubric(title, standard, total, tuple(level1s), text)
    problems = limit_problems(rubric)
    if problems:
        raise QiError("\n".join(f"评价表 {source} 有误：{p}" for p in problems))
    return rubric

def _parse_item(r: "_Reader", t3: Any, claim: Callable[[str, str], None], w2: str, name1: str, name2: str,
                requirement: str) -> Item:
    """One scoring item (and its parts) of a second-level indicator."""
    item_id = r.field(t3, "id", str, f"{w2} 的评分项")
    w3 = f"评分项 {item_id}（{name2}）"
    claim(item_id, w3)
    number = r.field(t3, "number", int, w3)
    maximum = r.field(t3, "max", int, w3)
    if maximum <= 0:
        raise r.fail(w3, f"满分应为正整数，实际为 {maximum}")
    criterion = r.field(t3, "criterion", str, w3)
    explain = str(t3.get("explain", "")).strip()
    parts: list[Part] = []
    for tp in t3.get("parts", []) or []:
        pid = r.field(tp, "id", str, f"{w3} 的分项")
        wp = f"评分项 {item_id} 的分项 {pid}"
        claim(pid, wp)
        pname = r.field(tp, "name", str, wp)
        pmax = r.field(tp, "max", int, wp)
        if pmax <= 0:
            raise r.fail(wp, f"满分应为正整数，实际为 {pmax}")
        parts.append(Part(pid, pname, pmax, r.allowed(tp, wp, pmax)))
    if parts:
        part_sum = sum(p.max for p in parts)
        if part_sum != maximum:
            raise r.fail(w3, f"各分项满分之和 {part_sum} 分与本项满分 {maximum} 分不符")
        allowed = _sum_set(tuple(parts))
        if "allowed" in t3 and merge_ranges(r.allowed(t3, w3, maximum).ranges) != allowed.ranges:
            raise r.fail(w3, f"允许分值应与各分项之和一致（{allowed.describe()}）")
    else:
        allowed = r.allowed(t3, w3, maximum)
    return Item(item_id, name1, name2, number, maximum, allowed, requirement, criterion, explain, tuple(parts))


# ───────────────────────────── limits the score sheet imposes ─────────────────────────────


def max_criterion_lines() -> int:
    """Wrapped lines of a criterion the writer can show: Excel's rows stop at 409 points."""
    from .textfit import row_height

    lines = 1
    while row_height(lines + 1) <= EXCEL_MAX_ROW_HEIGHT:
        lines += 1
    return lines


def limit_problems(rubric: Rubric) -> list[str]:
    """Everything that would make the issued workbook hang, break or silently cut text.

    Checked once the rubric parsed, so every problem is listed at once (one line each) rather
    than one per attempt. The limits come from the writer (column widths, row heights) and
    from Excel (cell text, row height, data-validation formulas, defined names).
    """
    from .textfit import WIDTHS, line_count, text_width

    out: list[str] = []
    max_lines = max_criterion_lines()

    def text(where: str, label: str, value: str, *, name: bool = False) -> None:
        if _XML_INVALID.search(value):
            out.append(f"{where}：{label}含有控制字符（不可见字符），Excel 无法保存，请删除")
        if len(value) > CELL_TEXT_LIMIT:
            out.append(f"{where}：{label}有 {len(value)} 个字符，超过 Excel 单元格 {CELL_TEXT_LIMIT} 个字符的上限")
        elif name and len(value) > MAX_NAME_CHARS:
            out.append(f"{where}：{label}有 {len(value)} 个字符，名称不能超过 {MAX_NAME_CHARS} 个字符")

    def fits(where: str, label: str, value: str, column: str) -> None:
        lines = line_count(value, WIDTHS[column])
        if lines > max_lines:
            out.append(f"{where}：{label}在评分表中要占 {lines} 行，超过 Excel 行高上限（{EXCEL_MAX_ROW_HEIGHT:g} 磅）"
                       f"能显示的 {max_lines} 行，请精简")

    text("文件头", "标题", rubric.title, name=True)
    text("文件头", "标准名称", rubric.standard, name=True)
    if rubric.total > MAX_TOTAL_POINTS:
        out.append(f"文件头：总分 {rubric.total} 分超过 {MAX_TOTAL_POINTS} 分的上限")
    if len(rubric.score_cells) > MAX_SCORE_CELLS:
        out.append(f"文件头：共 {len(rubric.score_cells)} 个打分格，超过 {MAX_SCORE_CELLS} 个的上限")

    ids: list[tuple[str, str]] = []
    l1_names: set[str] = set()
    l2_names: set[str] = set()
    for l1 in rubric.level1:
        w1 = f"一级指标 {l1.id}"
        ids.append((l1.id, w1))
        text(w1, "名称", l1.name, name=True)
        fits(w1, "名称", f"{l1.name}\n（{l1.points} 分）", "A")
        if l1.name in l1_names:
            out.append(f"{w1}：名称“{l1.name}”与另一个一级指标重复")
        l1_names.add(l1.name)
        for l2 in l1.level2:
            w2 = f"二级指标 {l2.id}"
            ids.append((l2.id, w2))
            text(w2, "名称", l2.name, name=True)
            text(w2, "内容要求", l2.requirement)
            fits(w2, "名称", f"{l2.name}\n（{l2.points} 分）", "B")
            fits(w2, "内容要求", l2.requirement, "C")
            if l2.name in l2_names:
                out.append(f"{w2}：名称“{l2.name}”与另一个二级指标重复（评分表中两者的合并单元格会重叠）")
            l2_names.add(l2.name)
            for item in l2.items:
                w3 = f"评分项 {item.id}"
                ids.append((item.id, w3))
                text(w3, "评分标准", item.criterion)
                text(w3, "对照说明", item.explain)
                fits(w3, "评分标准", item.criterion, "E")
                if not 0 < item.number <= 999:
                    out.append(f"{w3}：项号 {item.number} 应为 1~999 的整数")
                if item.max > MAX_CELL_POINTS:
                    out.append(f"{w3}：满分 {item.max} 分超过每项 {MAX_CELL_POINTS} 分的上限")
                for part in item.parts:
                    wp = f"评分项 {item.id} 的分项 {part.id}"
                    ids.append((part.id, wp))
                    text(wp, "名称", part.name, name=True)
                    label = f"（{part.id.rsplit('.', 1)[-1]}）{part.name}"
                    if text_width(label) > WIDTHS["E"] - 1.5:
                        out.append(f"{wp}：名称“{part.name}”过长，评分表中分项只占一行，请缩短")
                    if part.max > MAX_CELL_POINTS:
                        out.append(f"{wp}：满分 {part.max} 分超过每项 {MAX_CELL_POINTS} 分的上限")
    out.extend(_id_problems(ids))
    out.extend(_validation_problems(rubric))
    return out


def _id_problems(ids: list[tuple[str, str]]) -> list[str]:
    """Ids that are malformed, or that map to the same (case-blind) workbook name."""
    from .layout import score_name

    out: list[str] = []
    names: dict[str, str] = {}
    for ident, where in ids:
        if not ID_PATTERN.fullmatch(ident):
            out.append(f"{where}：编号“{ident}”应为以点分隔的数字（如 1.1.1），每段不超过 4 位、不超过 6 段")
            continue
        key = score_name(ident).lower()  # Excel names ignore case
        if key in names and names[key] != ident:
            out.append(f"{where}：编号“{ident}”与“{names[key]}”在工作簿中的名称相同")
        names.setdefault(key, ident)
    return out


def _validation_problems(rubric: Rubric) -> list[str]:
    """Score cells whose validation formula would exceed what Excel accepts."""
    from .score_validation import validation_for

    out: list[str] = []
    for cell in rubric.score_cells:
        if cell.max > MAX_CELL_POINTS or cell.allowed.is_contiguous():
            continue
        rule = validation_for(cell, "G1048576").options  # the widest reference the writer can use
        if rule.get("validate") == "custom" and len(str(rule["value"]).lstrip("=")) > DV_FORMULA_LIMIT:
            out.append(f"评分项 {cell.id}：允许分值分为 {len(cell.allowed.ranges)} 段，超出 Excel 数据验证公式 "
                       f"{DV_FORMULA_LIMIT} 个字符的上限，请合并分值段")
    return out


def render_table(rubric: Rubric) -> str:
    """A plain-text table for the terminal: indicator, item, maximum, allowed scores."""
    lines = [f"{rubric.title}（总分 {rubric.total} 分）", ""]
    for l1 in rubric.level1:
        lines.append(f"{l1.id} {l1.name}（{l1.points} 分）")
        for l2 in l1.level2:
            lines.append(f"  {l2.id} {l2.name}（{l2.points} 分）")
            for item in l2.items:
                lines.append(f"    {item.id:<8} 满分 {item.max:>3}  允许分值：{item.allowed.describe()}")
                for part in item.parts:
                    lines.append(f"      {part.id:<9} {part.name}  满分 {part.max}  允许分值：{part.allowed.describe()}")
    lines.append("")
    lines.append(f"共 {len(rubric.items)} 个评分项，{len(rubric.score_cells)} 个打分格。")
    return "\n".join(lines)
