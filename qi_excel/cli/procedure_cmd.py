"""``qi-excel review|plan|signin|pledge|remind``: the procedure's papers and the reminders."""

from __future__ import annotations

from pathlib import Path

import click

from . import main
from .common import echo_json, echo_written, evaluation, json_option

_template = click.option("--template", type=click.Path(dir_okay=False), help="使用修改过的模板（.docx）。")
_pdf = click.option("--pdf", is_flag=True, help="同时用 LibreOffice 生成 PDF。")


def _written(title: str, paths: list[Path], pdf: bool) -> None:
    click.echo(title)
    echo_written(paths, pdf)


@main.command("review")
@click.argument("folder", type=click.Path(file_okay=False))
@_template
@_pdf
def review_command(folder: str, template: str | None, pdf: bool) -> None:
    """生成申请材料审查记录（规范 6.3 条）：申请材料审查记录.docx。

    内容取自“评价项目.xlsx”的“申请材料审查”工作表；审查结论为“符合”后才能发放专家评分工作簿。
    """
    _written("已生成申请材料审查记录：", evaluation(folder).review(template=template, pdf=pdf), pdf)


@main.command("plan")
@click.argument("folder", type=click.Path(file_okay=False))
@_template
@_pdf
def plan_command(folder: str, template: str | None, pdf: bool) -> None:
    """生成评价计划（规范 7.1 条）：评价计划.docx，含专家组、日程、需准备的材料和评价纪律。"""
    _written("已生成评价计划：", evaluation(folder).plan(template=template, pdf=pdf), pdf)


@main.command("signin")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--meeting", type=click.Choice(["first", "last"]),
              help="只生成一个会议的签到表：first 首次会议，last 末次会议；默认两个都生成。")
@_template
@_pdf
def signin_command(folder: str, meeting: str | None, template: str | None, pdf: bool) -> None:
    """生成首次会议、末次会议签到表（规范 8.1、8.4 条），专家组名单已预先印好。"""
    meetings = (meeting,) if meeting else ("first", "last")
    _written("已生成会议签到表，请打印后在会上签到：", evaluation(folder).signin(meetings, template=template, pdf=pdf), pdf)


@main.command("pledge")
@click.argument("folder", type=click.Path(file_okay=False))
@_template
@_pdf
def pledge_command(folder: str, template: str | None, pdf: bool) -> None:
    """生成持续改进承诺书（规范 8.4.2 条），引用汇总得出的主要改进建议，供服务平台负责人签字。"""
    _written("已生成持续改进承诺书，请在末次会议上由服务平台负责人签字：",
             evaluation(folder).pledge(template=template, pdf=pdf), pdf)


@main.command("remind")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--deadline", help="邮件中写明的交回期限，如“6月18日17:00前”；默认取基本信息中的内部沟通（或末次会议）时间。")
@json_option
def remind_command(folder: str, deadline: str | None, as_json: bool) -> None:
    """为尚未交回或交回后被拒收的专家生成催办邮件草稿（放在“催办”文件夹中）。

    未交回的附上发放的评分工作簿并写明交回期限；被拒收的逐条列出问题（工作表、单元格、说明）并附上其本人交回的文件。
    已接收或已免于交回的专家不生成。
    """
    result = evaluation(folder).remind(deadline=deadline)
    if as_json:
        echo_json(result.to_json())
        return
    if not result.reminders:
        click.echo("无需催办：每位专家的评分工作簿都已接收（或已免于交回）。")
    else:
        click.echo(f"已生成 {len(result.reminders)} 封催办邮件草稿（双击 .eml 检查后发送）：")
        for r in result.reminders:
            what = "尚未交回" if r.reason == "missing" else f"被拒收，需更正 {sum(1 for f in r.findings if f.severity == 'error')} 项"
            click.echo(f"  {r.expert}（{r.expert_id}）{what}：{r.file}")
        if result.deadline:
            click.echo(f"邮件中的交回期限：{result.deadline}")
    for line in result.skipped:
        click.echo(f"注意：{line}")
