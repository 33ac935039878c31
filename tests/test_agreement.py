"""Panel agreement and leniency (issue 14): textbook examples and an independent recomputation.

The independent computations below follow the published formulas step by step with their own
code (sums of squares written out, ranks by counting), so they do not share a line with
qi_excel/agreement.py.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from qi_excel.agreement import average_ranks, icc_2_1, kendall_w, leniency
from qi_excel.cli import main
from qi_excel.collect import collect
from qi_excel.consolidate import ExpertSheet, consolidate
from qi_excel.evaluation import INBOX_DIR, evaluation_rubric, new_evaluation
from qi_excel.rubric import shipped_rubric
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


def half_up(value: Fraction, places: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(value.numerator) / Decimal(value.denominator)
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def test_shrout_fleiss_table_icc_2_1_is_029() -> None:
    # the paper reports ICC(2,1) = .29 (and ICC(3,1) = .71, ICC(1,1) = .17)
    assert half_up(icc_2_1(SHROUT_FLEISS), 2) == Decimal("0.29")


def test_siegel_kendall_w_example() -> None:
    # Siegel (1956): 3 judges rank 6 objects; rank sums 8 14 11 11 11 8, s = 25.5,
    # W = 12·25.5 / (3²·(6³ − 6)) = 306/1890 = 0.1619
    judges = [[1, 6, 3, 2, 5, 4], [1, 5, 6, 4, 2, 3], [6, 3, 2, 5, 4, 1]]
    matrix = [[judges[j][i] for j in range(3)] for i in range(6)]
    assert kendall_w(matrix) == Fraction(306, 1890)


def test_kendall_w_with_ties_hand_checked() -> None:
    # rater A: 1 1 2 → ranks 1.5 1.5 3 (one tie of 2: T = 2³ − 2 = 6); rater B: 1 2 3 → 1 2 3
    # rank sums 2.5 3.5 6, mean 4, S = 2.25 + 0.25 + 4 = 6.5
    # W = 12·6.5 / (2²·(3³ − 3) − 2·6) = 78 / 84 = 13/14
    assert average_ranks([1, 1, 2]) == [Fraction(3, 2), Fraction(3, 2), 3]
    assert kendall_w([[1, 1], [1, 2], [2, 3]]) == Fraction(13, 14)


def test_perfect_agreement_and_undefined_cases() -> None:
    assert kendall_w([[1, 1], [2, 2], [3, 3]]) == 1
    assert icc_2_1([[1, 1], [2, 2], [3, 3]]) == 1
    assert icc_2_1([[1, 1], [1, 1]]) is None  # no variance at all
    assert kendall_w([[1, 1], [1, 1]]) is None  # every rater ties every object
    assert icc_2_1([[1], [2]]) is None and kendall_w([[1], [2]]) is None  # one rater
    # leniency: rater 1 gives 0.2 more than rater 2 on every item → +20 and −20 points
    assert leniency([[Fraction(9, 10), Fraction(7, 10)], [Fraction(1, 2), Fraction(3, 10)]]) == [20, -20]
    assert leniency([[1], [2]]) == [None]


# ───────────────────────────── independent recomputation ─────────────────────────────


def independent_icc(x: list[list[Fraction]]) -> Fraction:
    """ICC(2,1) from the two-way ANOVA table, written the long way."""
    n, k = len(x), len(x[0])
    total = sum(sum(r) for r in x)
    correction = total * total / (n * k)
    ss_total = sum(v * v for r in x for v in r) - correction
    ss_targets = sum(sum(r) ** 2 for r in x) / k - correction
    ss_judges = sum(sum(x[i][j] for i in range(n)) ** 2 for j in range(k)) / n - correction
    ss_resid = ss_total - ss_targets - ss_judges
    bms, jms, ems = ss_targets / (n - 1), ss_judges / (k - 1), ss_resid / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)


def independent_w(x: list[list[Fraction]]) -> Fraction:
    n, m = len(x), len(x[0])
    sums = [Fraction(0)] * n
    correction = 0
    for j in range(m):
        col = [x[i][j] for i in range(n)]
        for i in range(n):
            below = sum(1 for v in col if v < col[i])
            same = sum(1 for v in col if v == col[i])
            sums[i] += below + Fraction(same + 1, 2)
        for v in set(col):
            t = col.count(v)
            correction += t**3 - t
    mean = sum(sums) / n
    s = sum((r - mean) ** 2 for r in sums)
    return 12 * s / (m * m * (n**3 - n) - m * correction)


def independent_leniency(x: list[list[Fraction]], j: int) -> Fraction:
    k = len(x[0])
    gaps = [r[j] - (sum(r) - r[j]) / (k - 1) for r in x]
    return sum(gaps) / len(gaps) * 100


@pytest.fixture(scope="module")
def panel_folder(tmp_path_factory) -> tuple[Path, dict[str, dict[str, int]]]:
    """The sample evaluation with 7 simulated returns; returns the scores each expert typed."""
    folder = tmp_path_factory.mktemp("agree") / "评价"
    new_evaluation(folder, sample=True)
    records = issue_workbooks(folder).records
    rubric = evaluation_rubric(folder)
    levels = platform_levels(rubric, 11)
    typed: dict[str, dict[str, int]] = {}
    for i, rec in enumerate(records):
        fill = simulated_fill(rubric, levels, 500 + i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i, tzinfo=timezone(timedelta(hours=8))))
        typed[rec.expert_id] = dict(fill.scores)  # type: ignore[arg-type]
        data = fill_workbook((folder / rec.file).read_bytes(), rubric, fill)
        (folder / INBOX_DIR / Path(rec.file).name).write_bytes(data)
    collect(folder)
    return folder, typed


def test_sample_panel_equals_independent_computation(panel_folder) -> None:
    folder, typed = panel_folder
    result = CliRunner().invoke(main, ["consolidate", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)

    rubric = shipped_rubric()
    ids = sorted(typed)
    matrix = [
        [Fraction(sum(typed[e][c.id] for c in item.cells), item.max) for e in ids]
        for item in rubric.items
    ]
    assert len(matrix) == 54 and len(ids) == 7
    assert data["agreement"]["icc"] == str(half_up(independent_icc(matrix), 4))
    assert data["agreement"]["kendall_w"] == str(half_up(independent_w(matrix), 4))
    got = {e["expert_id"]: e for e in data["leniency"]}
    assert sorted(got) == ids
    for j, e in enumerate(ids):
        assert got[e]["leniency"] == str(half_up(independent_leniency(matrix, j), 2))
        assert got[e]["total"] == str(sum(typed[e].values()))
    assert sum(Decimal(e["leniency"]) for e in data["leniency"]) == pytest.approx(0, abs=0.05)

    stored = json.loads((folder / ".qi" / "consolidation.json").read_text(encoding="utf-8"))
    assert stored["agreement"] == data["agreement"] and stored["leniency"] == data["leniency"]

    book = openpyxl.load_workbook(folder / "汇总表.xlsx")
    ws = book["一致性"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    icc_row = next(r for r in values if r[0] == "组内相关系数 ICC(2,1)")
    assert f"{icc_row[2]:.4f}" == data["agreement"]["icc"]
    flat = "".join(str(v) for r in values for v in r if v is not None)
    assert "偏低" in flat and "宽严度" in flat
    for e in data["leniency"]:
        row = next(r for r in values if r[0] == e["expert_id"])
        assert f"{row[3]:.2f}" == e["leniency"]


def test_fewer_than_two_experts_gives_null_with_reason() -> None:
    rubric = shipped_rubric()
    sheet = ExpertSheet("E01", "甲", {c.id: c.max for c in rubric.score_cells})
    c = consolidate(rubric, [sheet], draft=True)
    data = c.to_json()
    assert data["agreement"]["icc"] is None and "少于 2 位" in data["agreement"]["icc_reason"]
    assert data["agreement"]["kendall_w"] is None and data["agreement"]["kendall_w_reason"]
    assert data["leniency"] == [{"expert_id": "E01", "expert": "甲", "total": "1000", "leniency": None}]


def test_identical_full_marks_have_no_variance() -> None:
    rubric = shipped_rubric()
    sheets = [ExpertSheet(f"E0{k}", f"专家{k}", {c.id: c.max for c in rubric.score_cells}) for k in range(1, 6)]
    data = consolidate(rubric, sheets).to_json()
    assert data["agreement"]["icc"] is None and "没有差异" in data["agreement"]["icc_reason"]
    assert data["agreement"]["kendall_w"] is None
    assert {e["leniency"] for e in data["leniency"]} == {"0.00"}
