"""``qi-excel collect`` and ``qi-excel status``: check returned workbooks, see whom to chase."""

from __future__ import annotations

import json

import click

from . import main

@main.command("collect")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.argument("paths", metavar="[PATH]...", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供脚本使用）。")
def collect_command(folder: str, paths: tuple[str, ...], as_json: bool) -> None:
    """回收并检查专家交回的评分工作簿。

    PATH 可以是 .xlsx 文件、.eml 邮件（取其中的工作簿附件）或文件夹；不指定时读取评价目录的“收件箱”。
    通过检查的原件复制到“回收”文件夹，问题清单写入“检查报告.xlsx”。
    全部接收时退出码为 0，有文件被拒收时为 1。
    """
    from ..collect import _printable, collect

    result = collect(folder, list(paths))
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        for f in result.files:
            click.echo(f.summary())
            if f.status == "rejected":  # why, in the words to forward to the expert
                for x in f.findings:
                    if x.severity == "error":
                        click.echo(_printable(f"    {x.message}"))
        click.echo(result.summary())
    raise SystemExit(result.exit_code)


@main.command("status")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供脚本使用）。")
def status_command(folder: str, as_json: bool) -> None:
    """查看每位专家的发放、交回和接收情况。"""
    from ..collect import panel_status

    people = panel_status(folder)
    if as_json:
        click.echo(json.dumps({"experts": [p.to_json() for p in people]}, ensure_ascii=False, indent=2))
        return
    from ..evaluation import SELF_ID

    experts = [p for p in people if p.expert_id != SELF_ID]  # the self-evaluation is not a panel member
    done = sum(1 for p in experts if p.accepted)
    for p in people:
        line = f"{p.expert_id:<5} {p.name}  {p.state}"
        problems = [f for f in p.findings if f.severity == "error"] if not p.accepted else []
        if problems:
            line += f"：{problems[0].message}"
            if len(problems) > 1:
                line += f"（另有 {len(problems) - 1} 项）"
        click.echo(line)
    click.echo(f"专家组已接收 {done}/{len(experts)} 份评分表。")
    own = next((p for p in people if p.expert_id == SELF_ID), None)
    if own is not None:
        click.echo(f"申报单位自评表：{own.state}。")
