"""Hostile custom rubrics are refused up front, each problem on its own Chinese line.

A custom rubric travels between offices; whatever it says must not hang ``rubric --check``,
crash the parser or produce a workbook Excel repairs. Every case here was a hang, a
traceback or a broken workbook before the limits existed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qi_excel.cli import main
from qi_excel.errors import QiError
from qi_excel.rubric import (
    MAX_CELL_POINTS,
    MAX_RUBRIC_BYTES,
    parse_rubric,
    shipped_rubric,
    sum_ranges,
)

SMALL = (Path(__file__).parent / "small_rubric.toml").read_text(encoding="utf-8")


def _problems(text: str) -> list[str]:
    with pytest.raises(QiError) as err:
        parse_rubric(text, "hostile.toml")
    lines = str(err.value).splitlines()
    assert lines and all(line.strip() for line in lines)
    return lines


def _five_wide_parts(width: int) -> str:
    """The small rubric with item 1.1.2 made of five parts each allowed 0..width."""
    parts = ",\n".join(
        f'  {{ id = "1.1.2.{i}", name = "分项{i}", max = {width}, allowed = [[0, {width}]] }}' for i in range(1, 6)
    )
    text = SMALL.replace(
        'max = 20\ncriterion = "两项制度，各 10 分"\nparts = [\n'
        '  { id = "1.1.2.1", name = "岗位职责", max = 10, allowed = [[0, 10]] },\n'
        '  { id = "1.1.2.2", name = "档案管理", max = 10, allowed = [[0, 10]] },\n]',
        f'max = {5 * width}\ncriterion = "五项制度"\nparts = [\n{parts},\n]',
    )
    assert text != SMALL
    total = 5 * width + 10
    return (text.replace("points = 30\n\n[[level1.level2]]", f"points = {total}\n\n[[level1.level2]]", 1)
            .replace('points = 30\nrequirement = "成立机构"', f'points = {total}\nrequirement = "成立机构"')
            .replace("total = 40", f"total = {total + 10}"))


def test_sum_ranges_merges_intervals_without_enumerating():
    wide = ((0, 20000),)
    acc: tuple[tuple[int, int], ...] = ((0, 0),)
    for _ in range(5):
        acc = sum_ranges(acc, wide)
    assert acc == ((0, 100000),)
    # the shipped bands: 0, 5~9, 10 plus 0, 5~9, 10 → 0, 5~20
    assert sum_ranges(((0, 0), (5, 9), (10, 10)), ((0, 0), (5, 9), (10, 10))) == ((0, 0), (5, 20))
    assert sum_ranges(((0, 0), (3, 3)), ((0, 0), (10, 10))) == ((0, 0), (3, 3), (10, 10), (13, 13))


def test_five_wide_parts_are_refused_for_their_size():
    lines = _problems(_five_wide_parts(20000))
    assert any(str(MAX_CELL_POINTS) in line and "1.1.2" in line for line in lines)


def test_fifty_million_point_range_is_refused():
    text = SMALL.replace('max = 10\nallowed = [[0, 10]]\ncriterion = "成效明显的，10 分"',
                         'max = 50000000\nallowed = [[0, 50000000]]\ncriterion = "成效明显的"')
    text = text.replace('points = 10\n\n[[level1.level2]]', 'points = 50000000\n\n[[level1.level2]]')
    text = text.replace('points = 10\nrequirement = "有成效"', 'points = 50000000\nrequirement = "有成效"')
    text = text.replace("total = 40", "total = 50000030")
    lines = _problems(text)
    assert any("2.1.1" in line and str(MAX_CELL_POINTS) in line for line in lines)


def test_parts_within_the_cap_still_sum_exactly():
    rubric = parse_rubric(_five_wide_parts(200), "wide.toml")
    assert rubric.item("1.1.2").allowed.ranges == ((0, 1000),)


def test_deep_nesting_is_a_chinese_message():
    text = SMALL + "\ndeep = " + "[" * 100_000 + "]" * 100_000 + "\n"
    lines = _problems(text)
    assert any("嵌套" in line for line in lines)


def test_oversized_file_is_refused(tmp_path):
    from qi_excel.rubric import load_rubric

    big = tmp_path / "big.toml"
    big.write_text(SMALL + "#" + "x" * MAX_RUBRIC_BYTES + "\n", encoding="utf-8")
    with pytest.raises(QiError, match="超过"):
        load_rubric(big)


@pytest.mark.parametrize("bad_id", ["1.1_1", "../x y", "1..2", "a.1"])
def test_item_ids_follow_the_dotted_pattern(bad_id):
    text = SMALL.replace('id = "1.1.1"', f'id = "{bad_id}"')
    lines = _problems(text)
    assert any("编号" in line for line in lines)


def test_duplicate_second_level_names_are_refused():
    text = SMALL.replace('name = "综合效果"', 'name = "机构管理"')
    lines = _problems(text)
    assert any("机构管理" in line and "重复" in line for line in lines)


def test_control_character_in_a_name_is_refused():
    text = SMALL.replace('name = "岗位职责"', 'name = "岗位\\u0001职责"')
    lines = _problems(text)
    assert any("控制字符" in line and "1.1.2.1" in line for line in lines)


def test_long_criterion_is_refused_with_the_writers_limit():
    from qi_excel.rubric import max_criterion_lines

    text = SMALL.replace('criterion = "有机构的，10 分"', f'criterion = "{"很" * 40_000}"')
    lines = _problems(text)
    assert any("1.1.1" in line and f"{max_criterion_lines()} 行" in line for line in lines)


def test_every_problem_gets_its_own_line():
    text = SMALL.replace('name = "岗位职责"', 'name = "岗位\\u0001职责"').replace(
        'criterion = "有机构的，10 分"', f'criterion = "{"很" * 40_000}"')
    assert len(_problems(text)) >= 2


def test_shipped_and_small_rubrics_still_pass():
    assert shipped_rubric().total == 1000
    assert parse_rubric(SMALL, "small.toml").total == 40


def _hostile_files(tmp_path: Path) -> list[Path]:
    cases = {
        "wide.toml": _five_wide_parts(20000),
        "deep.toml": SMALL + "\ndeep = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "ids.toml": SMALL.replace('id = "1.1.1"', 'id = "../x y"'),
        "dup.toml": SMALL.replace('name = "综合效果"', 'name = "机构管理"'),
        "ctrl.toml": SMALL.replace('name = "岗位职责"', 'name = "岗位\\u0001职责"'),
        "long.toml": SMALL.replace('criterion = "有机构的，10 分"', f'criterion = "{"很" * 40_000}"'),
    }
    out = []
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        out.append(p)
    return out


def test_rubric_check_refuses_every_hostile_rubric_in_a_subprocess(tmp_path):
    env = dict(os.environ)
    for path in _hostile_files(tmp_path):
        # the timeout is only a safety net against a hang, not a timing assertion
        proc = subprocess.run([sys.executable, "-m", "qi_excel", "rubric", "--file", str(path), "--check"],
                              capture_output=True, text=True, timeout=20, env=env)
        assert proc.returncode != 0, path.name
        assert "Traceback" not in proc.stderr, (path.name, proc.stderr[-2000:])
        assert proc.stderr.startswith("错误：评价表"), (path.name, proc.stderr[:300])


def test_new_with_a_hostile_rubric_writes_nothing(tmp_path):
    for path in _hostile_files(tmp_path):
        folder = tmp_path / f"eval-{path.stem}"
        result = CliRunner().invoke(main, ["new", str(folder), "--rubric", str(path)])
        assert result.exit_code != 0, path.name
        assert "评价表" in result.output
        assert not (folder / "评价项目.xlsx").exists()


def test_allowed_bands_beyond_a_validation_formula_are_refused():
    bands = ", ".join(f"[{v}, {v}]" for v in range(0, 101, 2))
    text = (SMALL.replace('max = 10\nallowed = [[0, 10]]\ncriterion = "有机构的，10 分"',
                          f'max = 100\nallowed = [{bands}]\ncriterion = "有机构的"')
            .replace("points = 30\n\n[[level1.level2]]", "points = 120\n\n[[level1.level2]]", 1)
            .replace('points = 30\nrequirement = "成立机构"', 'points = 120\nrequirement = "成立机构"')
            .replace("total = 40", "total = 130"))
    lines = _problems(text)
    assert any("1.1.1" in line and "数据验证" in line for line in lines)
    # a few bands still fit: the shipped style 0; 5~9; 10 is fine
    few = SMALL.replace('allowed = [[0, 10]]\ncriterion = "有机构的，10 分"',
                        'allowed = [[0, 0], [5, 9], [10, 10]]\ncriterion = "有机构的，10 分"')
    assert parse_rubric(few, "few.toml").item("1.1.1").allowed.ranges == ((0, 0), (5, 9), (10, 10))


def test_part_name_longer_than_its_one_line_row_is_refused():
    text = SMALL.replace('name = "岗位职责"', f'name = "{"岗位职责" * 10}"')
    lines = _problems(text)
    assert any("1.1.2.1" in line and "过长" in line for line in lines)
