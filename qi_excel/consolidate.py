"""The panel's official result: exact per-cell averages that add up on paper.

The consolidated score is what the evaluation report prints and what the applicant may
question, so every number must be reproducible by hand from the experts' sheets: each
scored cell is averaged exactly (integer arithmetic on fractions, never floats) and rounded
half up once; everything above a cell is a plain sum of the rounded values that are printed,
so a reader adding up a column with a pencil gets the printed subtotal to the last digit.

The top of this module is pure (``consolidate`` takes a rubric and score sheets and does no
I/O); ``consolidate_folder`` / ``load_consolidation`` at the bottom connect it to an
evaluation folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

from .errors import QiError
from .excuse import Excusal
from .project import KIND_EXPERT, KIND_SELF, MIN_EXPERTS, Kind
from .decimals import round_half_up
from .rubric import Item, Rubric

METHODS: dict[str, str] = {
    "mean": "算术平均",
    "trimmed": "去掉一个最高分和一个最低分后的算术平均",
    "median": "中位数",
}
MAX_DECIMALS = 4
DEFAULT_DECIMALS = 2
DEFAULT_SPREAD_SHARE = Decimal("0.30")
# An expert is flagged when the total deviates from the others' mean by more than this share
# of the rubric's points (50 of 1000). Per-item disagreement is already caught by the 30 %
# spread rule; on the total, independent disagreements partly cancel out, so a systematic
# difference of 5 % (a whole 50-point indicator such as 服务场所 + 档案管理) is worth talking
# about in the internal discussion (8.3.1), while 10 % would almost never fire in practice.
DEFAULT_DEVIATION_SHARE = Decimal("0.05")
SCHEMA_VERSION = 1



# ───────────────────────────── input ─────────────────────────────


@dataclass(frozen=True)
class ExpertSheet:
    """One accepted score sheet, reduced to what consolidation needs."""

    expert_id: str
    name: str
    scores: Mapping[str, int]  # score cell id → the integer the expert typed
    remarks: Mapping[str, str] = field(default_factory=dict)  # cell (or item) id → remark
    suggestions: tuple[tuple[str, str], ...] = ()  # (text, related indicator)
    kind: Kind = KIND_EXPERT  # or KIND_SELF (the applicant's self-evaluation)
    source: str = ""  # file name, for messages


# ───────────────────────────── result ─────────────────────────────


@dataclass(frozen=True)
class ExpertTotal:
    expert_id: str
    name: str
    total: Decimal  # the expert's own total (an integer)
    deviation: Decimal  # total − mean of the other experts' totals, rounded half up
    flagged: bool  # |deviation| exceeds the threshold
    level1: Mapping[str, Decimal] = field(default_factory=dict)  # level1 id → expert's subtotal


@dataclass(frozen=True)
class IndicatorScore:
    id: str
    name: str
    max: int
    score: Decimal  # sum of the displayed values below it
    rate: Decimal  # score / max as a percentage, rounded half up to `decimals` places
    parent: str = ""  # level1 id for a second-level indicator
    self_score: Decimal | None = None


@dataclass(frozen=True)
class CellScore:
    """One scored cell (an item without parts, or a part) across the panel."""

    id: str
    item_id: str
    label: str
    max: int
    scores: tuple[int, ...]  # in the order of Consolidation.experts
    score: Decimal  # the panel score by the chosen method, rounded
    mean: Decimal  # always the plain mean, rounded (明细 shows it whatever the method)
    low: int
    high: int
    self_score: int | None = None

    @property
    def spread(self) -> int:
        return self.high - self.low


@dataclass(frozen=True)
class ItemScore:
    """A numbered item: the panel score, each expert's item score and remarks."""

    id: str
    level1_id: str
    level2_id: str
    label: str
    max: int
    score: Decimal  # a part-less item: its cell; otherwise the sum of its parts' rounded scores
    scores: tuple[int, ...]  # each expert's item score, expert order
    remarks: tuple[str, ...]  # each expert's remarks on this item ("" when none)
    divergent: bool
    self_score: int | None = None

    @property
    def spread(self) -> int:
        return max(self.scores) - min(self.scores)

    @property
    def lost(self) -> Decimal:
        return Decimal(self.max) - self.score


@dataclass(frozen=True)
class LostPoints:
    item_id: str
    label: str
    max: int
    score: Decimal
    lost: Decimal
    remarks: tuple[tuple[str, str], ...]  # (expert name, remark), only experts who wrote one


@dataclass(frozen=True)
class AttributedSuggestion:
    expert_id: str
    expert_name: str
    text: str
    ref: str


@dataclass(frozen=True)
class Consolidation:
    method: str
    decimals: int
    draft: bool
    experts: tuple[ExpertTotal, ...]
    total: Decimal
    max_total: int
    rate: Decimal
    level1: tuple[IndicatorScore, ...]
    level2: tuple[IndicatorScore, ...]
    items: Mapping[str, Decimal]
    item_scores: tuple[ItemScore, ...]
    cells: tuple[CellScore, ...]
    lost: tuple[LostPoints, ...]
    suggestions: tuple[AttributedSuggestion, ...]
    divergent: tuple[str, ...]
    divergent_experts: tuple[str, ...]
    spread_share: Decimal
    deviation_threshold: Decimal
    self_total: Decimal | None
    self_name: str = ""
    rubric_title: str = ""
    rubric_fingerprint: str = ""
    service_name: str = ""
    applicant: str = ""
    created_at: str = ""
    not_counted: tuple[str, ...] = ()  # panel members without an accepted workbook
    members: int = 0  # roster size (0: not recorded, a result made before excusals existed)
    excused: tuple[Excusal, ...] = ()  # members excused by the organizer, with the reason

    @property
    def panel_members(self) -> int:
        return self.members or len(self.experts)

    def panel_json(self) -> dict[str, Any]:
        """The ``panel`` block: roster size, members counted, who was excused and why."""
        return {"members": self.panel_members, "counted": len(self.experts),
                "excused": [e.to_json() for e in self.excused]}

    @property
    def method_label(self) -> str:
        return METHODS[self.method]

    def item_score(self, item_id: str) -> ItemScore:
        for i in self.item_scores:
            if i.id == item_id:
                return i
        raise KeyError(item_id)

    def rule_text(self) -> str:
        """The rounding rule in words, printed in the workbook's notes and the report."""
        d = self.decimals
        places = f"保留 {d} 位小数" if d else "取整数"
        return (
            f"计分规则：每个打分格的专家组得分为 {len(self.experts)} 位专家评分的{self.method_label}，"
            f"按四舍五入（逢五进一）{places}；有分项的评分项得分为各分项得分之和；"
            "二级指标、一级指标得分和总分均为表中所列（已四舍五入）得分直接相加，"
            f"因此表中数字逐级相加完全一致。得分率 = 得分 ÷ 分值 × 100%，四舍五入{places}。"
        )

    def to_json(self) -> dict[str, Any]:
        """The ``qi-excel consolidate --json`` contract (scores as decimal strings)."""
        return {
            "method": self.method,
            "experts": len(self.experts),
            "total": str(self.total),
            "level1": {s.name: str(s.score) for s in self.level1},
            "level2": {s.name: str(s.score) for s in self.level2},
            "items": {k: str(v) for k, v in self.items.items()},
            "divergent": list(self.divergent),
            **_agreement_json(self),
            "panel": self.panel_json(),
        }

    # lossless (de)serialisation for .qi/consolidation.json -------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **_encode(self), **_agreement_json(self)}

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Consolidation":
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported consolidation schema {data.get('schema')!r}")
        d = dict(data)
        d.pop("schema")
        dec = Decimal
        opt = lambda v: None if v is None else dec(v)  # noqa: E731
        return cls(
            method=d["method"], decimals=d["decimals"], draft=d["draft"],
            experts=tuple(
                ExpertTotal(e["expert_id"], e["name"], dec(e["total"]), dec(e["deviation"]), e["flagged"],
                            {k: dec(v) for k, v in e["level1"].items()})
                for e in d["experts"]
            ),
            total=dec(d["total"]), max_total=d["max_total"], rate=dec(d["rate"]),
            level1=tuple(_indicator(s) for s in d["level1"]),
            level2=tuple(_indicator(s) for s in d["level2"]),
            items={k: dec(v) for k, v in d["items"].items()},
            item_scores=tuple(
                ItemScore(i["id"], i["level1_id"], i["level2_id"], i["label"], i["max"], dec(i["score"]),
                          tuple(i["scores"]), tuple(i["remarks"]), i["divergent"], i["self_score"])
                for i in d["item_scores"]
            ),
            cells=tuple(
                CellScore(c["id"], c["item_id"], c["label"], c["max"], tuple(c["scores"]), dec(c["score"]),
                          dec(c["mean"]), c["low"], c["high"], c["self_score"])
                for c in d["cells"]
            ),
            lost=tuple(
                LostPoints(p["item_id"], p["label"], p["max"], dec(p["score"]), dec(p["lost"]),
                           tuple((n, t) for n, t in p["remarks"]))
                for p in d["lost"]
            ),
            suggestions=tuple(AttributedSuggestion(**s) for s in d["suggestions"]),
            divergent=tuple(d["divergent"]), divergent_experts=tuple(d["divergent_experts"]),
            spread_share=dec(d["spread_share"]), deviation_threshold=dec(d["deviation_threshold"]),
            self_total=opt(d["self_total"]), self_name=d["self_name"],
            rubric_title=d["rubric_title"], rubric_fingerprint=d["rubric_fingerprint"],
            service_name=d["service_name"], applicant=d["applicant"], created_at=d["created_at"],
            not_counted=tuple(d.get("not_counted", ())),
            members=int(d.get("members", 0)),
            excused=tuple(Excusal(str(x["expert_id"]), str(x["expert"]), str(x["reason"]))
                          for x in d.get("excused", ())),
        )

    @classmethod
    def loads(cls, text: str) -> "Consolidation":
        return cls.from_dict(json.loads(text))


def _agreement_json(c: "Consolidation") -> dict[str, Any]:
    """Panel agreement and leniency (qi_excel/agreement.py), derived: from_dict ignores them."""
    from .agreement import agreement_json

    return agreement_json(c)


def _indicator(s: Mapping[str, Any]) -> IndicatorScore:
    self_score = s["self_score"]
    return IndicatorScore(s["id"], s["name"], s["max"], Decimal(s["score"]), Decimal(s["rate"]), s["parent"],
                          None if self_score is None else Decimal(self_score))


def _encode(value: Any) -> Any:
    """Dataclasses → dicts, Decimals → strings (lossless: '873.40' keeps its places)."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: _encode(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Mapping):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    return value


# ───────────────────────────── arithmetic ─────────────────────────────


def central_value(values: Sequence[int], method: str) -> Fraction:
    """The exact (unrounded) panel value of one cell by ``method``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    n = len(ordered)
    if method == "mean":
        return Fraction(sum(ordered), n)
    if method == "trimmed":
        if n < 3:
            raise QiError("“去掉一个最高分和一个最低分”的平均至少需要 3 位专家的评分。")
        # drop exactly one instance of the highest and one of the lowest, even when tied
        kept = ordered[1:-1]
        return Fraction(sum(kept), len(kept))
    if method == "median":
        mid = n // 2
        return Fraction(ordered[mid]) if n % 2 else Fraction(ordered[mid - 1] + ordered[mid], 2)
    raise QiError(f"未知的汇总方法“{method}”，可选：{'、'.join(METHODS)}。")


def _rate(score: Decimal, maximum: int, places: int) -> Decimal:
    return round_half_up(Fraction(score) * 100 / maximum, places)


def _check_options(method: str, decimals: int, spread_share: Decimal, deviation: Decimal) -> None:
    if method not in METHODS:
        raise QiError(f"未知的汇总方法“{method}”，可选：{'、'.join(METHODS)}。")
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise QiError(f"小数位数应为 0~{MAX_DECIMALS} 的整数，实际为 {decimals!r}。")
    if not Decimal(0) < spread_share <= Decimal(1):
        raise QiError(f"分歧比例应大于 0 且不超过 1（例如 0.3 表示 30%），实际为 {spread_share}。")
    if deviation < 0:
        raise QiError(f"专家总分偏离阈值不能为负数，实际为 {deviation}。")


def _sheet_name(sheet: ExpertSheet) -> str:
    where = f"（{sheet.source}）" if sheet.source else ""
    who = "自评表" if sheet.kind == KIND_SELF else f"专家 {sheet.name}"
    return who + where


def _check_complete(rubric: Rubric, sheet: ExpertSheet) -> None:
    for cell in rubric.score_cells:
        value = sheet.scores.get(cell.id)
        if value is None:
            raise QiError(f"{_sheet_name(sheet)} 缺少 {cell.id}（{cell.label}）的评分，不能汇总。")
        if isinstance(value, bool) or not isinstance(value, int) or value not in cell.allowed:
            raise QiError(
                f"{_sheet_name(sheet)} 中 {cell.id}（{cell.label}）的评分 {value!r} 不在允许分值 "
                f"{cell.allowed.describe()} 内，不能汇总。"
            )


def _item_remark(item: Item, remarks: Mapping[str, str]) -> str:
    """An expert's remarks on an item: its own row, then each part's, named by the part."""
    lines = []
    own = remarks.get(item.id, "").strip()
    if own:
        lines.append(own)
    for part in item.parts:
        text = remarks.get(part.id, "").strip()
        if text:
            lines.append(f"{part.name}：{text}")
    return "\n".join(lines)


def consolidate(
    rubric: Rubric,
    sheets: Sequence[ExpertSheet],
    *,
    method: str = "mean",
    decimals: int = DEFAULT_DECIMALS,
    draft: bool = False,
    spread_share: Decimal = DEFAULT_SPREAD_SHARE,
    deviation_threshold: Decimal | None = None,
    created_at: str = "",
    service_name: str = "",
    applicant: str = "",
) -> Consolidation:
    """Combine the panel's sheets (and, kept apart, the self-evaluation) into one result.

    ``deviation_threshold`` is in points; None means ``DEFAULT_DEVIATION_SHARE`` of the
    rubric's total. Fewer than ``MIN_EXPERTS`` experts is refused unless ``draft``.
    """
    spread_share = Decimal(spread_share)
    threshold = _threshold(rubric, deviation_threshold)
    _check_options(method, decimals, spread_share, threshold)
    experts, self_sheet = _panel_sheets(rubric, sheets, method, draft)

    q = lambda v: round_half_up(v, decimals)  # noqa: E731
    cells = [_cell_score(cell, experts, self_sheet, method, q) for cell in rubric.score_cells]
    cell_score = {c.id: c.score for c in cells}
    item_scores = _item_scores(rubric, experts, self_sheet, cell_score, spread_share)
    level1, level2 = _indicator_scores(rubric, item_scores, self_sheet is not None, decimals)
    total = sum((s.score for s in level1), Decimal(0))
    expert_totals = _expert_totals(rubric, experts, threshold, q)

    lost_items = sorted(
        (i for i in item_scores if i.lost > 0),
        key=lambda i: -i.lost,  # stable: rubric order among equal losses
    )
    lost = tuple(
        LostPoints(i.id, i.label, i.max, i.score, i.lost,
                   tuple((e.name, r) for e, r in zip(experts, i.remarks) if r))
        for i in lost_items
    )
    suggestions = tuple(
        AttributedSuggestion(s.expert_id, s.name, text.strip(), ref.strip())
        for s in experts for text, ref in s.suggestions if text.strip()
    )
    self_total = Decimal(sum(self_sheet.scores[c.id] for c in rubric.score_cells)) if self_sheet else None
    return Consolidation(
        method=method, decimals=decimals, draft=draft, experts=tuple(expert_totals),
        total=total, max_total=rubric.total, rate=_rate(total, rubric.total, decimals),
        level1=tuple(level1), level2=tuple(level2),
        items={i.id: i.score for i in item_scores}, item_scores=tuple(item_scores), cells=tuple(cells),
        lost=lost, suggestions=suggestions,
        divergent=tuple(i.id for i in item_scores if i.divergent),
        divergent_experts=tuple(e.expert_id for e in expert_totals if e.flagged),
        spread_share=spread_share, deviation_threshold=threshold,
        self_total=self_total, self_name=self_sheet.name if self_sheet else "",
        rubric_title=rubric.title, rubric_fingerprint=rubric.fingerprint,
        service_name=service_name, applicant=applicant, created_at=created_at,
    )


def _threshold(rubric: Rubric, deviation_threshold: Decimal | None) -> Decimal:
    """The deviation threshold in points (a share of the total when none is given)."""
    if deviation_threshold is not None:
        return Decimal(deviation_threshold)
    threshold = DEFAULT_DEVIATION_SHARE * rubric.total
    if threshold == threshold.to_integral_value():
        threshold = threshold.quantize(Decimal(1))
    return threshold


def _panel_sheets(rubric: Rubric, sheets: Sequence[ExpertSheet], method: str,
                  draft: bool) -> tuple[list[ExpertSheet], ExpertSheet | None]:
    """The experts' sheets in id order and the self-evaluation, refused when they cannot count."""
    experts = sorted((s for s in sheets if s.kind == KIND_EXPERT), key=lambda s: s.expert_id)
    selfs = [s for s in sheets if s.kind == KIND_SELF]
    others = [s for s in sheets if s.kind not in (KIND_EXPERT, KIND_SELF)]
    if others:
        raise QiError(f"{_sheet_name(others[0])} 的类型“{others[0].kind}”无法识别。")
    if not experts:
        raise QiError("没有已接收的专家评分表，无法汇总。请先回收并检查专家评分表。")
    ids = [s.expert_id for s in experts]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise QiError(f"专家编号 {'、'.join(dupes)} 有不止一份评分表，请只保留当前有效的一份。")
    if len(experts) < MIN_EXPERTS and not draft:
        raise QiError(
            f"已接收的专家评分表只有 {len(experts)} 份，少于评价规范 7.2 规定的 {MIN_EXPERTS} 位专家，"
            "不能形成正式汇总结果。如需先看初步结果，请生成草稿（--draft）。"
        )
    if len(selfs) > 1:
        raise QiError("收到不止一份申请方自评表，请只保留当前有效的一份。")
    if method == "trimmed" and len(experts) < 3:
        central_value([0, 0], method)  # raises the Chinese message
    self_sheet = selfs[0] if selfs else None
    for s in [*experts, *selfs]:
        _check_complete(rubric, s)
    return experts, self_sheet


def _cell_score(cell: Any, experts: Sequence[ExpertSheet], self_sheet: ExpertSheet | None, method: str,
                q: Callable[[Fraction], Decimal]) -> CellScore:
    values = tuple(s.scores[cell.id] for s in experts)
    return CellScore(
        cell.id, cell.item.id, cell.label, cell.max, values, q(central_value(values, method)),
        q(central_value(values, "mean")), min(values), max(values),
        self_sheet.scores[cell.id] if self_sheet else None,
    )


def _expert_item(s: ExpertSheet, item: Item) -> int:
    return sum(s.scores[c.id] for c in item.cells)


def _item_scores(rubric: Rubric, experts: Sequence[ExpertSheet], self_sheet: ExpertSheet | None,
                 cell_score: Mapping[str, Decimal], spread_share: Decimal) -> list[ItemScore]:
    item_scores: list[ItemScore] = []
    for l1 in rubric.level1:
        for l2 in l1.level2:
            for item in l2.items:
                per_expert = tuple(_expert_item(s, item) for s in experts)
                spread = max(per_expert) - min(per_expert)
                item_scores.append(ItemScore(
                    id=item.id, level1_id=l1.id, level2_id=l2.id, label=f"{l2.name} 第{item.number}项",
                    max=item.max,
                    score=sum((cell_score[c.id] for c in item.cells), Decimal(0)),
                    scores=per_expert,
                    remarks=tuple(_item_remark(item, s.remarks) for s in experts),
                    divergent=Fraction(spread) > Fraction(spread_share) * item.max,
                    self_score=_expert_item(self_sheet, item) if self_sheet else None,
                ))
    return item_scores


def _indicator_scores(rubric: Rubric, item_scores: Sequence[ItemScore], has_self: bool,
                      decimals: int) -> tuple[list[IndicatorScore], list[IndicatorScore]]:
    """First- and second-level indicator scores (sums of item scores) with their rates."""
    by_item = {i.id: i for i in item_scores}
    level2: list[IndicatorScore] = []
    level1: list[IndicatorScore] = []
    for l1 in rubric.level1:
        l2_scores = []
        for l2 in l1.level2:
            members = [by_item[i.id] for i in l2.items]
            score = sum((m.score for m in members), Decimal(0))
            self_score = Decimal(sum(m.self_score or 0 for m in members)) if has_self else None
            l2_scores.append(IndicatorScore(l2.id, l2.name, l2.points, score, _rate(score, l2.points, decimals),
                                            l1.id, self_score))
        score = sum((s.score for s in l2_scores), Decimal(0))
        l1_self = sum((s.self_score or Decimal(0) for s in l2_scores), Decimal(0)) if has_self else None
        level1.append(IndicatorScore(l1.id, l1.name, l1.points, score, _rate(score, l1.points, decimals), "",
                                     l1_self))
        level2.extend(l2_scores)
    return level1, level2


def _expert_totals(rubric: Rubric, experts: Sequence[ExpertSheet], threshold: Decimal,
                   q: Callable[[Fraction | int], Decimal]) -> list[ExpertTotal]:
    """Each expert's total and how far it lies from the others' mean (flagged past ``threshold``)."""
    totals = [sum(s.scores[c.id] for c in rubric.score_cells) for s in experts]
    expert_totals: list[ExpertTotal] = []
    for k, s in enumerate(experts):
        rest = totals[:k] + totals[k + 1:]
        deviation = q(Fraction(totals[k]) - Fraction(sum(rest), len(rest))) if rest else q(0)
        by_l1 = {
            l1.id: Decimal(sum(_expert_item(s, i) for l2 in l1.level2 for i in l2.items)) for l1 in rubric.level1
        }
        expert_totals.append(ExpertTotal(s.expert_id, s.name, Decimal(totals[k]), deviation,
                                         bool(rest) and abs(deviation) > threshold, by_l1))
    return expert_totals
