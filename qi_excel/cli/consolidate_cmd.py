"""``qi-excel consolidate``: the panel's result from the accepted workbooks."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import click

from . import main
from .common import echo_json, evaluation, json_option


class _DecimalType(click.ParamType):
    """A plain decimal number; ``30%`` is read as 0.30 when ``percent`` is allowed."""

    name = "number"

    def __init__(self, percent: bool = False) -> None:
        self.percent = percent

    def convert(self, value: Any, param: Any, ctx: Any) -> Decimal:
        if isinstance(value, Decimal):
            return value
        text = str(value).strip()
        scale = Decimal(1)
        if self.percent and text.endswith("%"):
            text, scale = text[:-1], Decimal("0.01")
        try:
            number = Decimal(text) * scale
        except InvalidOperation:
            self.fail(f"“{value}”不是数字", param, ctx)
        if not number.is_finite():
            self.fail(f"“{value}”不是数字", param, ctx)
        return number


@main.command("consolidate")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--method", type=click.Choice(["mean", "trimmed", "median"]), default="mean", show_default=True,
              help="每个打分格的汇总方法：mean 算术平均；trimmed 去掉一个最高分和一个最低分后平均；median 中位数。")
@click.option("--decimals", type=click.IntRange(0, 4), default=2, show_default=True, help="保留的小数位数（四舍五入）。")
@click.option("--spread", "spread", type=_DecimalType(percent=True), default="0.3", show_default=True,
              help="评分项极差超过该项分值的这一比例即列为分歧项（0.3 或 30%）。")
@click.option("--deviation", type=_DecimalType(), default=None,
              help="专家总分与其他专家平均总分相差超过此分数即提示（默认为总分的 5%，即 50 分）。")
@click.option("--draft", is_flag=True,
              help="专家评分未全部回收（或计入的专家不足 5 人）时仍生成汇总，所有输出标注“草稿”。")
@json_option
def consolidate_command(folder: str, method: str, decimals: int, spread: Decimal, deviation: Decimal | None,
                        draft: bool, as_json: bool) -> None:
    """汇总专家组评分：计算得分、标出评分分歧，生成 汇总表.xlsx 和 专家组意见.docx（草稿）。

    正式汇总要求专家组每位成员都有已接收的评分表，或已用 qi-excel excuse 登记请假原因。
    """
    from pathlib import Path

    from ..evaluation import SUMMARY_FILE

    run = evaluation(folder).run_consolidation(method=method, decimals=decimals, draft=draft, spread_share=spread,
                                               deviation_threshold=deviation)
    if as_json:
        echo_json(run.result.to_json())
        return
    click.echo(render_text(run.result, str(Path(folder) / SUMMARY_FILE)))
    if run.panel.ignored:
        click.echo(f"注意：{'、'.join(run.panel.ignored)} 已登记请假，其评分表未计入汇总"
                   "（如需计入，请用 qi-excel excuse --undo 撤销请假）。")
    click.echo(run.opinion.message())


def render_text(c: Any, summary_path: str) -> str:
    """The terminal report: what the organizer needs before opening the workbook."""
    from ..decimals import percent_text, plain_number

    lines = []
    if c.draft:
        from ..project import MIN_EXPERTS

        if len(c.experts) < MIN_EXPERTS:
            lines.append(f"【草稿】本次汇总只有 {len(c.experts)} 位专家的评分表，结果仅供讨论，不是正式评价结果。")
        else:  # --draft asked for on a full panel: do not claim experts are missing
            lines.append("【草稿】按要求生成草稿，结果仅供讨论，不是正式评价结果。")
    lines.append(
        f"汇总完成：{len(c.experts)} 位专家，{c.method_label}，保留 {c.decimals} 位小数。"
    )
    if c.excused:
        lines.append(f"专家组 {c.panel_members} 人，实到 {len(c.experts)} 人；请假："
                     + "；".join(f"{x.expert}（{x.expert_id}，{x.reason}）" for x in c.excused) + "。")
    if c.not_counted:
        lines.append(f"注意：专家组中 {'、'.join(c.not_counted)} 没有已接收的评分表，未计入汇总"
                     "（可用 qi-excel status 查看原因）。")
    lines.append(f"总分：{c.total} 分（满分 {c.max_total} 分，得分率 {c.rate}%）")
    width = max(len(s.name) for s in c.level1)
    for s in c.level1:
        lines.append(f"  {s.name}{'　' * (width - len(s.name))}  {s.score:>8} / {s.max:<4} 得分率 {s.rate}%")
    if c.divergent:
        lines.append(f"评分分歧（极差超过该项分值的 {percent_text(c.spread_share)}）：{len(c.divergent)} 项")
        for ident in c.divergent:
            item = c.item_score(ident)
            lines.append(f"  {ident} {item.label}：极差 {item.spread} 分（分值 {item.max}），专家评分 "
                         + "、".join(str(v) for v in item.scores))
    else:
        lines.append("评分分歧：无。")
    flagged = [e for e in c.experts if e.flagged]
    if flagged:
        lines.append(f"总分偏离较大的专家（与其他专家平均总分相差超过 {plain_number(c.deviation_threshold)} 分）：")
        for e in flagged:
            side = "高" if e.deviation > 0 else "低"
            lines.append(f"  {e.name}（{e.expert_id}）：总分 {e.total}，比其他专家平均总分{side} {abs(e.deviation)} 分")
    if c.self_total is not None:
        lines.append(f"申请方自评总分：{c.self_total} 分（未计入专家组得分）")
    lines.append(f"汇总表：{summary_path}")
    return "\n".join(lines)
