"""``qi-excel demo``: the whole evaluation on the sample project, in one command."""

from __future__ import annotations

import click

from . import main


@main.command("demo")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=2026, show_default=True, help="模拟专家打分所用的随机种子。")
def demo_command(folder: str, seed: int) -> None:
    """用示例项目完整演示一次评价：建立、审查、计划、发放、模拟交回、回收检查、催办、汇总、申请表、报告、承诺书、归档。"""
    from ..demo import run_demo

    click.echo(f"在 {folder} 中演示一次完整的评价（示例数据均为虚构）：")
    run_demo(folder, echo=click.echo, seed=seed)
    click.echo(f"演示完成。用 Excel/WPS 打开 {folder} 中的文件查看，例如“发放”中的评分工作簿、汇总表.xlsx 和 评价报告.docx。")
