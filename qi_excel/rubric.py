"""The evaluation rubric (table A.1) as a validated, immutable model.

The rubric is data: the shipped ``data/rubric.toml`` is read here and checked on load, so a
typo in a custom rubric is caught before any workbook is issued, with a message that names
the item and the rule it breaks. Everything else in qi-excel asks this model what can be
scored and how much it may score; no other module knows the table's contents.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import QiError
from .errors import os_error_text, toml_error_text

Ranges = tuple[tuple[int, int], ...]


def _format_ranges(ranges: Ranges) -> str:
    return "、".join(str(lo) if lo == hi else f"{lo}~{hi}" for lo, hi in ranges)


def collapse_runs(values: Iterable[int]) -> Ranges:
    """Collapse integers into sorted inclusive ranges: {1, 2, 3, 7} → ((1, 3), (7, 7))."""
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and out[-1][1] == v - 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return tuple(out)


@dataclass(frozen=True)
class Allowed:
    """The scores a criterion names, as inclusive integer ranges.

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


@dataclass(frozen=True)
class Part:
    """One separately scored part of an item (a system, a service content)."""

    id: str
    name: str
    max: int
    allowed: Allowed


@dataclass(frozen=True)
class Item:
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


@dataclass(frozen=True)
class ScoreCell:
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


@dataclass(frozen=True)
class Level2:
    id: str
    name: str
    points: int
    requirement: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Level1:
    id: str
    name: str
    points: int
    level2: tuple[Level2, ...]


@dataclass(frozen=True)
class Rubric:
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


def default_rubric_text() -> str:
    return resources.files("qi_excel").joinpath("data").joinpath(_DEFAULT).read_text(encoding="utf-8")


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Read and validate a rubric file (the shipped table A.1 when ``path`` is None)."""
    if path is None:
        return parse_rubric(default_rubric_text(), "内置评价表")
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
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
    sums = {0}
    for p in parts:
        sums = {s + v for s in sums for v in p.allowed.values()}
    return Allowed(collapse_runs(sums))


def parse_rubric(text: str, source: str = "评价表") -> Rubric:
    """Parse and validate rubric TOML text; raises ``QiError`` naming the broken rule."""
    r = _Reader(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise QiError(f"评价表 {source} 不是有效的 TOML 文件，{toml_error_text(exc)}。") from None
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
            items: list[Item] = []
            for t3 in r.field(t2, "items", list, w2):
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
                    if "allowed" in t3 and r.allowed(t3, w3, maximum).values() != allowed.values():
                        raise r.fail(w3, f"允许分值应与各分项之和一致（{allowed.describe()}）")
                else:
                    allowed = r.allowed(t3, w3, maximum)
                items.append(
                    Item(item_id, name1, name2, number, maximum, allowed, requirement,
                         criterion, explain, tuple(parts))
                )
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
    return Rubric(title, standard, total, tuple(level1s), text)


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
