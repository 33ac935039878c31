"""``qi-excel rubric``: show or check a rubric file."""

from __future__ import annotations

import click

from . import main
from .common import echo_json, json_option


@main.command("rubric")
@click.option("--file", "path", type=click.Path(dir_okay=False), help="读取另一份评价表文件（TOML）。")
@json_option
@click.option("--check", is_flag=True, help="只校验评价表文件，不输出内容。")
def rubric_command(path: str | None, as_json: bool, check: bool) -> None:
    """显示评价表（附录A 表A.1）的指标、分值和允许分值。"""
    from ..rubric import load_rubric, render_table

    rubric = load_rubric(path)
    if check:
        click.echo(
            f"评价表校验通过：{len(rubric.level1)} 个一级指标，{len(rubric.level2)} 个二级指标，"
            f"{len(rubric.items)} 个评分项，共 {len(rubric.score_cells)} 个打分格，总分 {rubric.total} 分。"
        )
    elif as_json:
        echo_json(rubric.to_json())
    else:
        click.echo(render_table(rubric))
