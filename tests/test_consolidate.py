"""The panel maths on hand-computed examples: no files, just a small rubric and eight sheets.

Every expected number below was worked out on paper from the table in ``SCORES``; the
comments show the working so a reviewer can redo it.
"""

from __future__ import annotations

from pathlib import Path

import json
import random
from decimal import Decimal as D
from fractions import Fraction

import pytest

from qi_excel.consolidate import (
    Consolidation,
    ExpertSheet,
    central_value,
    consolidate,
)
from qi_excel.decimals import round_half_up
from qi_excel.errors import QiError
from qi_excel.rubric import parse_rubric, shipped_rubric

SMALL = (Path(__file__).parent / "small_rubric.toml").read_text(encoding="utf-8")

# cell → the eight experts' scores, E01..E08
SCORES = {
    "1.1.1": [10, 10, 10, 10, 6, 10, 10, 10],  # sum 76; spread 4 > 30 % of 10 → divergent
    "1.1.2.1": [7, 7, 7, 7, 7, 7, 8, 7],  # sum 57 → 7.125
    "1.1.2.2": [6, 6, 6, 7, 7, 6, 6, 7],  # sum 51 → 6.375
    "2.1.1": [2, 5, 5, 5, 5, 5, 5, 5],  # sum 37 → 4.625; spread 3 = exactly 30 % → not divergent
}
HYPERLINK = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def rubric():
    return parse_rubric(SMALL, "test.toml")


def sheets(n: int = 8, **extra_remarks: dict[str, str]) -> list[ExpertSheet]:
    remarks = {
        "E05": {"1.1.1": HYPERLINK},
        "E01": {"2.1.1": "成效证明材料不全"},
        "E04": {"1.1.2.2": "档案记录缺失"},
    }
    out = []
    for k in range(n):
        eid = f"E{k + 1:02d}"
        out.append(ExpertSheet(
            expert_id=eid, name=f"专家{k + 1}",
            scores={cell: values[k] for cell, values in SCORES.items()},
            remarks=remarks.get(eid, {}),
            suggestions=((f"建议{k + 1}", "1.1"),) if k < 2 else (),
        ))
    return out


# ───────────────────────────── rounding and the three central values ─────────────────────────────


def test_round_half_up_not_to_even():
    assert round(0.125, 2) == 0.12  # what float round() would print
    assert round_half_up(Fraction(1, 8), 2) == D("0.13")
    assert round_half_up(Fraction(2675, 1000), 2) == D("2.68")
    assert round_half_up(Fraction(5, 2), 0) == D("3")
    assert round_half_up(Fraction(-5, 2), 0) == D("-3")  # half away from zero, like ROUND_HALF_UP
    assert round_half_up(Fraction(1, 3), 2) == D("0.33")
    assert str(round_half_up(Fraction(7), 2)) == "7.00"  # always `places` digits


def test_trimmed_mean_drops_exactly_one_of_tied_extremes():
    # sorted 5 5 5 9 9: drop one 5 and one 9 → 5 5 9 → 19/3
    assert central_value([9, 5, 5, 9, 5], "trimmed") == Fraction(19, 3)
    # all equal but one: 6 10 10 10 10 → drop 6 and one 10 → 10
    assert central_value([10, 10, 6, 10, 10], "trimmed") == 10
    assert central_value([4, 4, 4, 4, 4], "trimmed") == 4


def test_median_odd_and_even():
    assert central_value([9, 1, 5], "median") == 5
    assert central_value([3, 9, 4, 6], "median") == Fraction(5)  # (4 + 6) / 2
    assert central_value([3, 9, 4, 7], "median") == Fraction(11, 2)


# ───────────────────────────── the small panel, by hand ─────────────────────────────


def test_mean_by_hand(rubric):
    c = consolidate(rubric, sheets())
    cell = {x.id: x.score for x in c.cells}
    # 76/8 = 9.5; 57/8 = 7.125 → 7.13 (half up, not 7.12); 51/8 = 6.375 → 6.38; 37/8 = 4.625 → 4.63
    assert cell == {"1.1.1": D("9.50"), "1.1.2.1": D("7.13"), "1.1.2.2": D("6.38"), "2.1.1": D("4.63")}
    # the item with parts is the sum of its parts' printed values: 7.13 + 6.38 = 13.51,
    # not the rounded mean of the item sums (108/8 = 13.50)
    assert c.items == {"1.1.1": D("9.50"), "1.1.2": D("13.51"), "2.1.1": D("4.63")}
    assert [(s.name, s.score, s.rate) for s in c.level2] == [
        ("机构管理", D("23.01"), D("76.70")), ("综合效果", D("4.63"), D("46.30")),
    ]
    assert [(s.name, s.score) for s in c.level1] == [("组织管理", D("23.01")), ("服务效果", D("4.63"))]
    # 23.01 + 4.63 = 27.64 (the mean of the experts' totals, 221/8 = 27.625, is NOT used)
    assert c.total == D("27.64") and c.rate == D("69.10")


def test_trimmed_by_hand(rubric):
    c = consolidate(rubric, sheets(), method="trimmed")
    # 1.1.1: drop 6 and one 10 → 10; 1.1.2.1: drop one 7 and the 8 → 7;
    # 1.1.2.2: drop one 6 and one 7 → (6·4 + 7·2)/6 = 38/6 = 6.333 → 6.33; 2.1.1: drop 2 and a 5 → 5
    assert c.items == {"1.1.1": D("10.00"), "1.1.2": D("13.33"), "2.1.1": D("5.00")}
    assert c.total == D("28.33")
    assert c.level1[0].rate == D("77.77")  # 23.33/30 = 77.766…
    assert c.rate == D("70.83")  # 28.33/40 = 70.825 exactly → half up


def test_median_by_hand(rubric):
    c = consolidate(rubric, sheets(), method="median")
    # 8 values: mean of the 4th and 5th sorted values → 10, 7, 6, 5
    assert c.items == {"1.1.1": D("10.00"), "1.1.2": D("13.00"), "2.1.1": D("5.00")}
    assert c.total == D("28.00")


def test_decimals_option(rubric):
    c = consolidate(rubric, sheets(), decimals=1)
    # 9.5; 7.125 → 7.1; 6.375 → 6.4; 4.625 → 4.6
    assert c.items == {"1.1.1": D("9.5"), "1.1.2": D("13.5"), "2.1.1": D("4.6")}
    assert c.total == D("27.6") and str(c.rate) == "69.0"
    c0 = consolidate(rubric, sheets(), decimals=0)
    assert c0.items == {"1.1.1": D("10"), "1.1.2": D("13"), "2.1.1": D("5")}  # 9.5 → 10, 7.125+6.375 → 7+6


def test_divergence_items_and_experts(rubric):
    c = consolidate(rubric, sheets())
    # 1.1.1 spread 4 > 3; 1.1.2 item sums 13..14, spread 1 ≤ 6; 2.1.1 spread 3 is not MORE than 3
    assert c.divergent == ("1.1.1",)
    assert consolidate(rubric, sheets(), spread_share=D("0.25")).divergent == ("1.1.1", "2.1.1")
    # totals: E01 25, E02 28, E03 28, E04 29, E05 25, E06 28, E07 29, E08 29 (sum 221)
    totals = {e.expert_id: e.total for e in c.experts}
    assert totals == {"E01": 25, "E02": 28, "E03": 28, "E04": 29, "E05": 25, "E06": 28, "E07": 29, "E08": 29}
    dev = {e.expert_id: e.deviation for e in c.experts}
    assert dev["E01"] == D("-3.00")  # 25 − 196/7
    assert dev["E04"] == D("1.57")  # 29 − 192/7 = 1.5714…
    assert dev["E02"] == D("0.43")  # 28 − 193/7 = 0.4285…
    # default threshold 5 % of 40 points = 2
    assert c.deviation_threshold == 2
    assert c.divergent_experts == ("E01", "E05")
    assert consolidate(rubric, sheets(), deviation_threshold=D("1.5")).divergent_experts == (
        "E01", "E04", "E05", "E07", "E08")
    assert c.experts[0].level1 == {"1": D(23), "2": D(2)}


def test_lost_points_largest_first_with_remarks(rubric):
    c = consolidate(rubric, sheets())
    # 20 − 13.51 = 6.49; 10 − 4.63 = 5.37; 10 − 9.50 = 0.50
    assert [(p.item_id, p.lost) for p in c.lost] == [("1.1.2", D("6.49")), ("2.1.1", D("5.37")), ("1.1.1", D("0.50"))]
    assert c.lost[0].remarks == (("专家4", "档案管理：档案记录缺失"),)  # a part's remark names the part
    assert c.lost[1].remarks == (("专家1", "成效证明材料不全"),)
    assert c.lost[2].remarks == (("专家5", HYPERLINK),)
    assert [(s.expert_name, s.text, s.ref) for s in c.suggestions] == [("专家1", "建议1", "1.1"), ("专家2", "建议2", "1.1")]


def test_fewer_than_five_experts_refused_unless_draft(rubric):
    with pytest.raises(QiError, match="只有 4 份.*7.2.*5 位专家"):
        consolidate(rubric, sheets(4))
    draft = consolidate(rubric, sheets(4), draft=True)
    assert draft.draft and len(draft.experts) == 4
    # E01..E04 on 1.1.1: 10 10 10 10 → 10; median of 2 5 5 5 = 5
    assert consolidate(rubric, sheets(4), draft=True, method="median").items["2.1.1"] == D("5.00")
    with pytest.raises(QiError, match="至少需要 3 位专家"):
        consolidate(rubric, sheets(2), draft=True, method="trimmed")
    with pytest.raises(QiError, match="没有已接收的专家评分表"):
        consolidate(rubric, [], draft=True)


def test_self_evaluation_kept_apart(rubric):
    full = {cell: (20 if cell == "x" else 10) for cell in SCORES}
    self_sheet = ExpertSheet("SELF", "申请方", full, kind="self")
    with_self = consolidate(rubric, [*sheets(), self_sheet])
    without = consolidate(rubric, sheets())
    assert with_self.total == without.total and len(with_self.experts) == 8
    assert with_self.self_total == 40 and without.self_total is None
    assert [s.self_score for s in with_self.level1] == [D(30), D(10)]
    assert with_self.item_score("1.1.2").self_score == 20


def test_bad_sheets_named(rubric):
    broken = sheets()
    broken[2] = ExpertSheet("E03", "专家3", {k: v[2] for k, v in SCORES.items() if k != "1.1.2.2"}, source="E03.xlsx")
    with pytest.raises(QiError, match=r"专家 专家3（E03.xlsx） 缺少 1.1.2.2（机构管理 第2项（档案管理））"):
        consolidate(rubric, broken)
    out_of_range = sheets()
    out_of_range[0] = ExpertSheet("E01", "专家1", {**{k: v[0] for k, v in SCORES.items()}, "2.1.1": 11})
    with pytest.raises(QiError, match="11 不在允许分值 0~10 内"):
        consolidate(rubric, out_of_range)
    with pytest.raises(QiError, match="有不止一份"):
        consolidate(rubric, [*sheets(), sheets()[0]])
    with pytest.raises(QiError, match="未知的汇总方法"):
        consolidate(rubric, sheets(), method="average")
    with pytest.raises(QiError, match="小数位数"):
        consolidate(rubric, sheets(), decimals=9)
    with pytest.raises(QiError, match="分歧比例"):
        consolidate(rubric, sheets(), spread_share=D("1.5"))


def test_json_shape_and_lossless_round_trip(rubric):
    c = consolidate(rubric, sheets(), created_at="2024-05-01T10:00:00+08:00", service_name="某服务")
    shown = c.to_json()
    assert set(shown.pop("agreement")) >= {"icc", "kendall_w"} and len(shown.pop("leniency")) == 8  # issue 14
    assert shown == {
        "method": "mean", "experts": 8, "total": "27.64",
        "level1": {"组织管理": "23.01", "服务效果": "4.63"},
        "level2": {"机构管理": "23.01", "综合效果": "4.63"},
        "items": {"1.1.1": "9.50", "1.1.2": "13.51", "2.1.1": "4.63"},
        "divergent": ["1.1.1"],
        "panel": {"members": 8, "counted": 8, "excused": []},
    }
    text = c.dumps()
    back = Consolidation.loads(text)
    assert back == c
    assert str(back.total) == "27.64" and str(back.items["1.1.1"]) == "9.50"  # places survive
    assert json.loads(text)["total"] == "27.64"


# ───────────────────────────── the shipped rubric: the printed numbers add up ─────────────────────────────


@pytest.mark.parametrize("method", ["mean", "trimmed", "median"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_printed_numbers_add_up_on_table_a1(method, seed):
    rubric = shipped_rubric()
    rng = random.Random(seed)
    panel = [
        ExpertSheet(f"E{k:02d}", f"专家{k}", {c.id: rng.choice(c.allowed.values()) for c in rubric.score_cells})
        for k in range(1, 8)
    ]
    c = consolidate(rubric, panel, method=method)
    cell = {x.id: x.score for x in c.cells}
    for x in c.cells:
        assert x.score.as_tuple().exponent == -2
    for item in rubric.items:
        assert c.items[item.id] == sum((cell[p.id] for p in item.cells), D(0))
    for s in c.level2:
        members = [i for i in rubric.items if i.level2 == s.name]
        assert s.score == sum((c.items[i.id] for i in members), D(0))
        assert s.rate == round_half_up(Fraction(s.score) * 100 / s.max, 2)
    for s in c.level1:
        assert s.score == sum((x.score for x in c.level2 if x.parent == s.id), D(0))
    assert c.total == sum((s.score for s in c.level1), D(0))
    assert D(0) <= c.total <= 1000
