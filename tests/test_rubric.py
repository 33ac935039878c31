"""The shipped rubric against table A.1, and broken rubrics against their messages."""

from __future__ import annotations

import re

import pytest

from qi_excel.errors import QiError
from qi_excel.rubric import default_rubric_text, parse_rubric, shipped_rubric


@pytest.fixture(scope="module")
def rubric():
    return shipped_rubric()


def test_shape_matches_table_a1(rubric):
    assert rubric.total == 1000
    assert [(l1.name, l1.points) for l1 in rubric.level1] == [
        ("组织管理", 100), ("服务平台建设", 400), ("服务实施", 300), ("服务效果", 200),
    ]
    assert len(rubric.items) == 54
    assert len(rubric.level2) == 18
    # 79 cells to type: 54 items, of which 3 are replaced by 12 + 8 + 8 parts
    assert len(rubric.score_cells) == 54 - 3 + 12 + 8 + 8


def test_every_level_adds_up(rubric):
    assert sum(l1.points for l1 in rubric.level1) == rubric.total
    for l1 in rubric.level1:
        assert sum(l2.points for l2 in l1.level2) == l1.points, l1.name
        for l2 in l1.level2:
            assert sum(i.max for i in l2.items) == l2.points, l2.name
            for item in l2.items:
                if item.parts:
                    assert sum(p.max for p in item.parts) == item.max


def test_printing_errors_resolved(rubric):
    by_name = {l2.name: l2 for l2 in rubric.level2}
    assert by_name["服务模式总结和推广"].points == 70
    assert [i.max for i in by_name["服务模式总结和推广"].items] == [20, 20, 20, 10]
    assert [i.max for i in by_name["综合效果"].items] == [40, 10, 10, 10, 40]
    level1_of = {l2.name: l1.name for l1 in rubric.level1 for l2 in l1.level2}
    assert level1_of["满意度测评"] == "服务效果"
    assert level1_of["档案管理"] == "服务平台建设"
    assert "统计和分析" in rubric.item("4.2.4").criterion


def test_every_allowed_set_within_range_and_reaches_max(rubric):
    for cell in rubric.score_cells:
        values = cell.allowed.values()
        assert min(values) >= 0 and max(values) == cell.max, cell.id
        assert 0 in values, cell.id  # every criterion allows scoring nothing (E4)


def _numbers(text: str) -> set[int]:
    """Every point value a criterion names: "5分~9分" → 5..9, "10 分" → 10."""
    out: set[int] = set()
    for lo, hi in re.findall(r"(\d+)\s*分?\s*~\s*(\d+)\s*分", text):
        out.update(range(int(lo), int(hi) + 1))
    text = re.sub(r"(\d+)\s*分?\s*~\s*(\d+)\s*分", "", text)
    out.update(int(n) for n in re.findall(r"(\d+)\s*分", text))
    return out


# criteria whose text names thresholds (percentages, satisfaction scores), not only points
_MAPPED = {"2.2.1", "4.1.1", "4.3.2", "4.3.3", "4.3.4", "4.2.4"}


@pytest.mark.parametrize(
    "item_id", [i.id for i in shipped_rubric().items if not i.parts and i.id not in _MAPPED]
)
def test_allowed_values_are_what_the_criterion_names(rubric, item_id):
    """Band criteria: the allowed set is exactly the scores the text names, plus 0 (E4)."""
    item = rubric.item(item_id)
    named = _numbers(item.criterion) | {0}
    assert set(item.allowed.values()) == named, (item_id, item.criterion)


def test_mapping_criteria(rubric):
    v = lambda i: set(rubric.item(i).allowed.values())  # noqa: E731
    assert v("4.1.1") == {0, 7, 10, 15, 17, 20}
    assert v("4.3.2") == v("4.3.3") == {0, 5, 8, 10}
    assert v("4.3.4") == {0, 1, 2, 3, 4, 5, 7, 10}
    assert v("4.2.4") == {0, 3, 7, 10}
    assert v("2.2.1") == set(range(61))
    for item_id in ("4.1.1", "4.3.2", "4.3.4", "2.2.1"):
        assert rubric.item(item_id).explain, item_id


def test_parts(rubric):
    systems = rubric.item("2.4.1")
    assert [p.name for p in systems.parts] == [
        "岗位职责", "专家库管理", "平台服务机构管理", "首问负责", "一次性告知", "全程代办",
        "服务过程管理", "设备安全管理", "数据安全", "记录及档案管理", "服务投诉及反馈处理",
        "服务质量监督考核管理",
    ]
    assert all(p.allowed.values() == tuple(range(6)) for p in systems.parts)
    contents = ["计量", "标准", "认证认可", "检验检测", "质量管理", "知识产权", "质量品牌", "质量培训"]
    gather = rubric.item("4.3.1")
    assert [p.name for p in gather.parts] == contents
    assert all(set(p.allowed.values()) == {0, 2, 4, 5} for p in gather.parts)
    proof = rubric.item("4.3.5")
    assert [p.name for p in proof.parts] == contents
    assert all(p.allowed.values() == tuple(range(6)) for p in proof.parts)
    # the item's own set is every sum its parts can make: 1 and 3 are impossible for 4.3.1
    assert 1 not in gather.allowed and 3 not in gather.allowed and 40 in gather.allowed
    assert systems.allowed.values() == tuple(range(61))


def test_json_contract(rubric):
    data = rubric.to_json()
    assert data["total"] == 1000 and len(data["items"]) == 54
    first = data["items"][0]
    assert first == {
        "id": "1.1.1", "level1": "组织管理", "level2": "机构管理", "number": 1, "max": 10,
        "allowed": [[0, 0], [5, 9], [10, 10]],
        "requirement": "成立领导小组、统筹部门、运营机构，明确其工作职责",
        "criterion": first["criterion"], "parts": [],
    }
    assert first["criterion"].startswith("机构成立及成立文件齐全的")
    part = next(i for i in data["items"] if i["id"] == "2.4.1")["parts"][0]
    assert part == {"id": "2.4.1.1", "name": "岗位职责", "max": 5, "allowed": [[0, 5]]}


# ───────────────────────────── broken rubrics ─────────────────────────────

def _broken(old: str, new: str, count: int = 1) -> str:
    text = default_rubric_text()
    assert old in text, old
    return text.replace(old, new, count)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('id = "1.1"\nname = "机构管理"\npoints = 30', 'id = "1.1"\nname = "机构管理"\npoints = 35',
         "二级指标 1.1 机构管理：各评分项满分之和 30 分与该指标分值 35 分不符"),
        ('id = "1"\nname = "组织管理"\npoints = 100', 'id = "1"\nname = "组织管理"\npoints = 90',
         "一级指标 1 组织管理：各二级指标分值之和 100 分与该一级指标分值 90 分不符"),
        ("total = 1000", "total = 999", "文件头：各一级指标分值之和 1000 分与总分 999 分不符"),
        ('id = "1.1.1"\nnumber = 1\nmax = 10\nallowed = [[0, 0], [5, 9], [10, 10]]',
         'id = "1.1.1"\nnumber = 1\nmax = 10\nallowed = [[0, 0], [5, 9], [10, 12]]',
         "评分项 1.1.1（机构管理）：允许分值 0、5~9、10~12 超出 0~10 分的范围"),
        ('id = "1.1.1"\nnumber = 1\nmax = 10\nallowed = [[0, 0], [5, 9], [10, 10]]',
         'id = "1.1.1"\nnumber = 1\nmax = 10\nallowed = [[0, 0], [5, 9]]',
         "评分项 1.1.1（机构管理）：允许分值 0、5~9 达不到满分 10 分"),
        ('id = "1.1.2"', 'id = "1.1.1"', "评分项 1.1.1（机构管理）：编号 1.1.1 重复"),
        ('id = "1.1.1"\nnumber = 1\nmax = 10\n', 'id = "1.1.1"\nnumber = 1\n',
         "评分项 1.1.1（机构管理）：缺少字段“max”"),
        ('{ id = "2.4.1.2", name = "专家库管理", max = 5, allowed = [[0, 5]]',
         '{ id = "2.4.1.2", name = "专家库管理", max = 6, allowed = [[0, 6]]',
         "评分项 2.4.1（制度建设）：各分项满分之和 61 分与本项满分 60 分不符"),
    ],
    ids=["level2-sum", "level1-sum", "total", "above-max", "not-reaching-max", "duplicate-id",
         "missing-field", "parts-sum"],
)
def test_broken_rubric_messages(old, new, expected):
    with pytest.raises(QiError) as err:
        parse_rubric(_broken(old, new), "my.toml")
    assert str(err.value) == f"评价表 my.toml 有误：{expected}"


def test_not_toml():
    with pytest.raises(QiError, match=r"^评价表 my.toml 不是有效的 TOML 文件"):
        parse_rubric("title = [unclosed", "my.toml")
