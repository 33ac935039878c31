"""``qi-excel excuse``: record that a panel member does not take part, and why."""

from __future__ import annotations

import click

from . import main


@main.command("excuse")
@click.argument("folder", type=click.Path(file_okay=False))
@click.argument("expert")
@click.option("--reason", default="", help="未参加评价的原因，将写入评价报告和评价档案（如：因病未能参加现场考察）。")
@click.option("--undo", is_flag=True, help="撤销该专家的请假登记（此后需要其评分表）。")
def excuse_command(folder: str, expert: str, reason: str, undo: bool) -> None:
    """登记专家组成员 EXPERT（编号如 E03，或姓名）请假、不参加评分。

    请假的专家不计入汇总，也不在评价报告的签字表中；报告和档案写明其姓名和原因。
    登记后计入评分的专家不得少于 5 人（规范 7.2 条）。
    """
    from ..excuse import excuse, undo_excuse

    if undo:
        if reason:
            raise click.UsageError("--undo 不需要 --reason。")
        done = undo_excuse(folder, expert)
        click.echo(f"已撤销 {done.expert}（{done.expert_id}）的请假登记（原因：{done.reason}）。"
                   "正式汇总需要其评分表：请回收后运行 qi-excel consolidate。")
        return
    if not reason.strip():
        raise click.UsageError("请用 --reason 写明未参加的原因。")
    done = excuse(folder, expert, reason)
    click.echo(f"已登记 {done.expert}（{done.expert_id}）请假：{done.reason}")
    click.echo(f"其评分不计入汇总，评价报告和档案将写明原因。下一步：qi-excel consolidate {folder}")
