"""The data-validation rule of each score cell: what Excel lets an expert type there.

Pure: it depends only on the rubric's allowed scores (``ScoreCell``), so the rubric's own
limit check can ask how long a rule would be without importing the workbook writer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from .rubric import ScoreCell

# Value sets up to this size get a dropdown list; larger ones are typed and checked by formula.
DROPDOWN_MAX_VALUES = 12
_DV_LIMIT = 255  # characters: list source and input message
_DV_TITLE_LIMIT = 32


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _moved_from_print(item: Any) -> bool:
    return item.level2 == "服务模式总结和推广" and item.criterion.startswith("对质量基础设施“一站式”服务工作情况进行统计和分析")


@dataclass(frozen=True)
class Validation:
    """How one score cell is validated; ``options`` is what XlsxWriter's data_validation takes."""

    kind: str  # "list", "whole", "custom"
    options: dict[str, Any] = field(hash=False, compare=False)


def custom_formula(ref: str, ranges: Sequence[tuple[int, int]]) -> str:
    terms = [f"{ref}={lo}" if lo == hi else f"AND({ref}>={lo},{ref}<={hi})" for lo, hi in ranges]
    return f"AND(ISNUMBER({ref}),{ref}=INT({ref}),OR({','.join(terms)}))"


def validation_for(cell: ScoreCell, ref: str) -> Validation:
    allowed = cell.allowed
    described = allowed.describe()
    values = allowed.values()
    source = [str(v) for v in values]
    if allowed.is_contiguous():
        kind = "whole"
        rule: dict[str, Any] = {"validate": "integer", "criteria": "between",
                                "minimum": allowed.low, "maximum": allowed.high}
        how = "请输入整数"
    elif len(values) <= DROPDOWN_MAX_VALUES and len(",".join(source)) <= _DV_LIMIT:
        kind = "list"
        rule = {"validate": "list", "source": source}
        how = "可从下拉列表选择，或直接输入"
    else:
        kind = "custom"
        rule = {"validate": "custom", "value": "=" + custom_formula(ref, allowed.ranges)}
        how = "请输入整数"
    what = f"{cell.item.level2} 第{cell.item.number}项" + (f"（{cell.part.name}）" if cell.part else "")
    message = f"{what}\n允许分值：{described}（{how}）。"
    if cell.item.explain:
        message += f"\n对照：{cell.item.explain}"
    if _moved_from_print(cell.item):
        message += "\n注意：规范印刷版中此项排在“综合效果”栏内。"
    message += "\n低于满分请在“扣分说明/备注”写明理由。"
    rule.update({
        "ignore_blank": True,
        "input_title": _clip(f"{cell.id} 满分 {cell.max} 分", _DV_TITLE_LIMIT),
        "input_message": _clip(message, _DV_LIMIT),
        "error_type": "stop",
        "error_title": "分值不符合评分标准",
        "error_message": _clip(f"{cell.id}（{what}）只能填写：{described}，满分 {cell.max} 分。请重新输入。", _DV_LIMIT),
    })
    return Validation(kind, rule)
