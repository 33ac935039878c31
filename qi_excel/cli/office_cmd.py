"""``qi-excel export|register|log`` and the audit hook: the evaluation office's memory (issue 14)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from . import main
from .common import EXIT_ATTENTION, evaluation

# Commands whose run is recorded here, around the callback: only those that do not go through
# the folder handle (every folder command does, and the handle logs it: Evaluation.action).
AUDITED = ("demo",)


def install_audit(group: click.Group, names: tuple[str, ...] = AUDITED) -> None:
    """Wrap each named command so that a run on an evaluation folder is recorded (audit.py).

    The record is written by ``audit.audited``, the same function the handle calls, so
    every command leaves the same trail.
    """
    for name in names:
        command = group.commands.get(name)
        if command is None or command.callback is None or getattr(command.callback, "_audited", False):
            continue
        command.callback = _audited_callback(name, command.callback)


def _audited_callback(name: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(**kwargs: Any) -> Any:
        from ..audit import audited, input_files

        folder = kwargs.get("folder")
        if not folder:
            return callback(**kwargs)
        with audited(folder, name, kwargs, read=input_files(folder)):
            return callback(**kwargs)

    run._audited = True  # type: ignore[attr-defined]
    return run


@main.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="导出格式：csv（UTF-8，Excel 可直接打开）或 xlsx；默认按 -o 的扩展名，否则为 csv。")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="输出文件（默认为评价目录中的“评分数据.csv”）。")
def export_command(folder: str, fmt: str | None, output: str | None) -> None:
    """导出每位专家每个打分格的原始评分（长表格式），供审计或统计分析。

    每行一位专家的一个打分格：评价编号、专家、指标、评分项、打分格、分值、得分和扣分说明；
    申报单位的自评（如已回收）也一并导出，“类型”列标为“自评”。
    """
    path, rows = evaluation(folder).export(fmt=fmt, output=output)
    click.echo(f"已导出 {rows} 行评分数据：{path}")


@main.command("register")
@click.argument("root", type=click.Path(file_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="输出文件（默认为 ROOT 中的“评价台账.xlsx”）。")
def register_command(root: str, output: str | None) -> None:
    """扫描 ROOT 下的所有评价目录，生成评价台账.xlsx（各评价的进度和专家参评情况）。"""
    from ..register import write_register

    path, reg = write_register(root, output)
    click.echo(f"已扫描 {len(reg.entries)} 个评价目录，台账：{path}")
    for e in reg.entries:
        click.echo(f"  {e.folder}  {e.stage}  {e.service or '（未填服务名称）'}")
    if reg.broken:
        click.echo(f"有 {len(reg.broken)} 个目录存在问题（详见台账“问题”列）：")
        for e in reg.broken:
            click.echo(f"  {e.folder}：{e.problems[0]}")


@main.command("log")
@click.argument("folder", type=click.Path(file_okay=False))
def log_command(folder: str) -> None:
    """显示评价目录的操作记录，并核对记录链是否完整（被改动或删除的记录会被指出）。"""
    import json

    from ..errors import QiError

    handle = evaluation(folder)
    check = handle.log()
    for line in handle.log_lines():
        try:
            rec = json.loads(line)
            click.echo(f"{rec.get('seq')}. {str(rec.get('time', ''))[:19].replace('T', ' ')}  "
                       f"qi-excel {rec.get('command')}  {rec.get('user')}  {rec.get('result')}")
        except (ValueError, AttributeError):
            click.echo("（无法读取的记录）")
    if check.problems:
        click.echo(f"操作记录校验未通过，发现 {len(check.problems)} 个问题：")
        for p in check.problems:
            click.echo(f"  {p}")
        raise QiError("操作记录被改动或删除过。", exit_code=EXIT_ATTENTION)
    if check.records == 0:
        click.echo("该评价目录还没有操作记录（用 qi-excel 命令改动评价目录后会自动记录）。")
        return
    click.echo(f"操作记录校验通过：共 {check.records} 条，记录链完整。")
