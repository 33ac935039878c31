"""How far the panel agrees, and which experts score systematically high or low.

Clause 4.3 (客观公正) asks that the process can be supervised; an auditor who sees only the
panel's average cannot tell seven experts who agree from seven who cancel each other out.
Three figures answer that, all computed exactly (fractions, no floats) and rounded half up
once, so anyone can recompute the printed digits from the experts' sheets:

- ICC(2,1) (Shrout & Fleiss 1979, two-way random effects, absolute agreement, single rater)
  over items × experts of score rates (score ÷ max): do experts give the same rate to the
  same item?
- Kendall's W over the items ranked by each expert's rate (average ranks for ties, with the
  tie correction): do experts at least order the items the same way?
- Leniency per expert: the mean over items of (this expert's rate − the mean rate of the
  other experts), in percentage points: who is systematically kinder or stricter?

The input is a plain matrix so the maths is tested without files; ``panel_agreement`` reads
it off a ``Consolidation`` (an item with parts counts as the sum of its parts, as the panel
discusses items).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import TYPE_CHECKING, Any

from .decimals import round_half_up

if TYPE_CHECKING:
    from .consolidate import Consolidation

PLACES = 4  # ICC and W
LENIENCY_PLACES = 2  # percentage points

REASON_FEW_EXPERTS = "计入汇总的专家少于 2 位，无法计算专家之间的一致性。"
REASON_FEW_ITEMS = "评分项少于 2 个，无法计算一致性。"
REASON_NO_VARIANCE_ICC = "所有专家对所有评分项的得分率完全相同（没有差异），组内相关系数没有定义。"
REASON_NO_VARIANCE_W = "每位专家给所有评分项的得分率都相同（无法排出先后），肯德尔和谐系数没有定义。"

# Rough reading guides (Koo & Li 2016 for ICC; common practice for W), shown in 汇总表.
ICC_LOW = Decimal("0.5")
ICC_GOOD = Decimal("0.75")
W_LOW = Decimal("0.3")
W_GOOD = Decimal("0.7")


def _round(value: Fraction, places: int) -> Decimal:
    return round_half_up(value, places)


@dataclass(frozen=True)
class Figure:
    """A coefficient, or None with the Chinese reason it is undefined."""

    value: Decimal | None
    reason: str = ""


@dataclass(frozen=True)
class Leniency:
    expert_id: str
    expert: str
    total: Decimal
    leniency: Decimal | None  # percentage points, half up to 2 places; None with one expert


@dataclass(frozen=True)
class Agreement:
    icc: Figure
    kendall_w: Figure
    leniency: tuple[Leniency, ...]
    items: int
    experts: int

    def to_json(self) -> dict[str, Any]:
        """``"agreement"`` and ``"leniency"`` of ``consolidate --json`` (numbers as strings)."""
        agreement: dict[str, Any] = {
            "icc": None if self.icc.value is None else str(self.icc.value),
            "kendall_w": None if self.kendall_w.value is None else str(self.kendall_w.value),
            "items": self.items,
            "experts": self.experts,
        }
        if self.icc.value is None:
            agreement["icc_reason"] = self.icc.reason
        if self.kendall_w.value is None:
            agreement["kendall_w_reason"] = self.kendall_w.reason
        return {
            "agreement": agreement,
            "leniency": [
                {"expert_id": e.expert_id, "expert": e.expert, "total": str(e.total),
                 "leniency": None if e.leniency is None else str(e.leniency)}
                for e in self.leniency
            ],
        }


# ───────────────────────────── the formulas ─────────────────────────────


def _integers(matrix: Sequence[Sequence[Fraction | int]]) -> tuple[list[list[int]], int]:
    """The matrix times the common denominator D of its entries, as integers, and D.

    ICC and W do not change when every value is multiplied by the same positive number, so
    they are computed on integers (fast, still exact); leniency is divided by D at the end.
    """
    scale = 1
    for row in matrix:
        for v in row:
            d = Fraction(v).denominator
            scale = scale * d // gcd(scale, d)
    return [[int(Fraction(v) * scale) for v in row] for row in matrix], scale


def icc_2_1(matrix: Sequence[Sequence[Fraction | int]]) -> Fraction | None:
    """ICC(2,1) of an n targets × k raters matrix, exactly; None when undefined.

    Shrout & Fleiss (1979), case 2, single rater:
    (BMS − EMS) / (BMS + (k−1)·EMS + k·(JMS − EMS)/n), from the two-way ANOVA mean squares
    (BMS between targets, JMS between judges, EMS residual).
    """
    n = len(matrix)
    k = len(matrix[0]) if n else 0
    if n < 2 or k < 2:
        return None
    x, _ = _integers(matrix)
    total = sum(sum(row) for row in x)
    correction = Fraction(total * total, n * k)
    ss_total = sum(v * v for row in x for v in row) - correction
    ss_rows = Fraction(sum(sum(row) ** 2 for row in x), k) - correction
    ss_cols = Fraction(sum(sum(x[i][j] for i in range(n)) ** 2 for j in range(k)), n) - correction
    ss_error = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    denominator = bms + (k - 1) * ems + k * (jms - ems) / n
    if denominator == 0:
        return None
    return (bms - ems) / denominator


def average_ranks(values: Sequence[Fraction | int]) -> list[Fraction]:
    """Ranks 1..n, ties sharing the mean of the ranks they span (1, 2.5, 2.5, 4)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks: list[Fraction] = [Fraction(0)] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        rank = Fraction(start + end + 2, 2)
        for pos in range(start, end + 1):
            ranks[order[pos]] = rank
        start = end + 1
    return ranks


def kendall_w(matrix: Sequence[Sequence[Fraction | int]]) -> Fraction | None:
    """Kendall's W of n objects (rows) ranked by m raters (columns), tie-corrected; exact.

    W = 12·S / (m²(n³ − n) − m·ΣT), S the sum of squared deviations of the rank sums from
    their mean, T = Σ(t³ − t) over each rater's groups of t tied objects.
    """
    n = len(matrix)
    m = len(matrix[0]) if n else 0
    if n < 2 or m < 2:
        return None
    x, _ = _integers(matrix)
    rank_sums = [Fraction(0)] * n
    ties = 0
    for j in range(m):
        column = [x[i][j] for i in range(n)]
        for i, r in enumerate(average_ranks(column)):
            rank_sums[i] += r
        counts: dict[int, int] = {}
        for v in column:
            counts[v] = counts.get(v, 0) + 1
        ties += sum(t**3 - t for t in counts.values())
    mean = Fraction(m * (n + 1), 2)
    s = sum(((r - mean) ** 2 for r in rank_sums), Fraction(0))
    denominator = m * m * (n**3 - n) - m * ties
    if denominator == 0:
        return None
    return 12 * s / denominator


def leniency(matrix: Sequence[Sequence[Fraction | int]]) -> list[Fraction | None]:
    """Per rater (column): mean over rows of (own value − mean of the other raters), ×100."""
    n = len(matrix)
    k = len(matrix[0]) if n else 0
    if k < 2 or n == 0:
        return [None] * k
    x, scale = _integers(matrix)
    out: list[Fraction | None] = []
    row_sums = [sum(row) for row in x]
    for j in range(k):
        # Σ_i (x_ij − (R_i − x_ij)/(k−1)) = Σ_i (k·x_ij − R_i)/(k−1)
        diff = sum(k * row[j] - r for row, r in zip(x, row_sums))
        out.append(Fraction(diff * 100, (k - 1) * n * scale))
    return out


# ───────────────────────────── from a consolidation ─────────────────────────────


def rate_matrix(c: Consolidation) -> list[list[Fraction]]:
    """Items × experts of score rates; an item with parts is the sum of its parts."""
    return [[Fraction(v, i.max) for v in i.scores] for i in c.item_scores]


def agreement_of(matrix: Sequence[Sequence[Fraction]], experts: Sequence[tuple[str, str, Decimal]]) -> Agreement:
    """The three figures for a rate matrix whose columns are ``experts`` (id, name, total)."""
    n, k = len(matrix), len(experts)
    if k < 2:
        icc = w = Figure(None, REASON_FEW_EXPERTS)
    elif n < 2:
        icc = w = Figure(None, REASON_FEW_ITEMS)
    else:
        icc_value = icc_2_1(matrix)
        w_value = kendall_w(matrix)
        icc = Figure(None, REASON_NO_VARIANCE_ICC) if icc_value is None else Figure(_round(icc_value, PLACES))
        w = Figure(None, REASON_NO_VARIANCE_W) if w_value is None else Figure(_round(w_value, PLACES))
    lean = leniency(matrix) if n else [None] * k
    return Agreement(
        icc, w,
        tuple(Leniency(e_id, name, total, None if v is None else _round(v, LENIENCY_PLACES))
              for (e_id, name, total), v in zip(experts, lean)),
        items=n, experts=k,
    )


def panel_agreement(c: Consolidation) -> Agreement:
    """Agreement and leniency of the counted experts of a consolidation."""
    return agreement_of(rate_matrix(c), [(e.expert_id, e.name, e.total) for e in c.experts])


def agreement_json(c: Consolidation) -> dict[str, Any]:
    return panel_agreement(c).to_json()


def icc_reading(value: Decimal | None) -> str:
    if value is None:
        return "无法计算"
    if value < ICC_LOW:
        return "偏低"
    if value < ICC_GOOD:
        return "中等"
    return "良好"


def w_reading(value: Decimal | None) -> str:
    if value is None:
        return "无法计算"
    if value < W_LOW:
        return "偏低"
    if value < W_GOOD:
        return "中等"
    return "良好"


LENIENCY_NOTE = Decimal(5)  # percentage points: worth a word in the internal discussion (8.3.1)


def leniency_reading(value: Decimal | None) -> str:
    if value is None:
        return ""
    if value > LENIENCY_NOTE:
        return "明显偏宽"
    if value < -LENIENCY_NOTE:
        return "明显偏严"
    return ""
