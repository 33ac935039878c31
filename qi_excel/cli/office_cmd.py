"""``qi-excel export|register|log`` and the audit hook: the evaluation office's memory (issue 14)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import main

# Commands that change an evaluation folder: each run appends one record to its log.
AUDITED = ("new", "issue", "collect", "consolidate", "application", "report", "archive", "export", "demo")
# What a command reads besides the folder's records (audit.STATE_INPUTS) and the files it is given.
_READS = {
    "consolidate": ("回收",),
    "application": ("回收",),
    "export": ("回收",),
    "archive": ("回收", "检查报告.xlsx", "汇总表.xlsx", "评价报告.docx", "评价申请表.docx"),
}


def install_audit(group: click.Group, names: tuple[str, ...] = AUDITED) -> None:
    """Wrap each named command so that a run on an evaluation folder is recorded (audit.py).

    One place for every command: the record is written by ``audit.audited``, the same
    function the local web page calls, so both leave the same trail.
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
        if not folder:  # e.g. archive --verify ZIP: changes nothing
            return callback(**kwargs)
        given = [v for k, v in kwargs.items() if k in ("paths", "rubric_file", "template") and v]
        paths = [p for v in given for p in (v if isinstance(v, (tuple, list)) else [v])]
        if name == "collect" and not paths:
            from ..evaluation import INBOX_DIR

            paths = [Path(folder) / INBOX_DIR]
        paths += [Path(folder) / rel for rel in _READS.get(name, ())]
        with audited(folder, name, kwargs, read=input_files(folder, paths)):
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
    from ..export import export_folder

    path, rows = export_folder(folder, fmt=fmt, output=output)
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

    from ..audit import check_folder, read_lines
    from ..errors import QiError

    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    for line in read_lines(root):
        try:
            rec = json.loads(line)
            click.echo(f"{rec.get('seq')}. {str(rec.get('time', ''))[:19].replace('T', ' ')}  "
                       f"qi-excel {rec.get('command')}  {rec.get('user')}  {rec.get('result')}")
        except (ValueError, AttributeError):
            click.echo("（无法读取的记录）")
    check = check_folder(root)
    if check.problems:
        click.echo(f"操作记录校验未通过，发现 {len(check.problems)} 个问题：")
        for p in check.problems:
            click.echo(f"  {p}")
        raise QiError("操作记录被改动或删除过。", exit_code=1)
    if check.records == 0:
        click.echo("该评价目录还没有操作记录（用 qi-excel 命令改动评价目录后会自动记录）。")
        return
    click.echo(f"操作记录校验通过：共 {check.records} 条，记录链完整。")
