"""``qi-excel new`` and ``qi-excel issue``: the evaluation folder and the expert workbooks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import main


@main.command("new")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--sample", is_flag=True, help="填入一个示例评价项目和 7 人专家组（虚构），便于试用。")
@click.option("--rubric", "rubric_file", type=click.Path(dir_okay=False),
              help="使用另一份评价表文件（TOML，格式同 qi-excel rubric --file）；默认为内置的附录A 表A.1。")
@click.option("--roster-from", "roster_from", type=click.Path(exists=True),
              help="复用另一次评价的专家组名单（原评价目录或其中的评价项目.xlsx）：只复制名单，密钥和其他内容一律新建。")
def new_command(folder: str, sample: bool, rubric_file: str | None, roster_from: str | None) -> None:
    """建立评价目录 FOLDER，其中的“评价项目.xlsx”供填写基本信息和专家组名单。

    所用评价表的副本保存在评价目录中，此后发放、回收和汇总都以它为准。
    """
    from ..evaluation import PASSWORD_FILE, PROJECT_FILE, new_evaluation

    written = new_evaluation(folder, sample=sample, rubric=rubric_file, roster_from=roster_from)
    root = Path(folder)
    click.echo(f"已建立评价目录 {root}：")
    for path in written:
        if not path.relative_to(root).parts[0].startswith("."):
            click.echo(f"  {path.relative_to(root)}")
    if sample:
        click.echo(f"{PROJECT_FILE} 已填入示例项目和 7 人专家组，可直接运行：qi-excel issue {folder}")
    elif roster_from:
        click.echo(f"已从 {roster_from} 复制专家组名单。下一步：用 Excel 或 WPS 打开 {PROJECT_FILE}，填写“基本信息”并核对名单，"
                   f"保存后运行 qi-excel issue {folder}")
    else:
        click.echo(f"下一步：用 Excel 或 WPS 打开 {PROJECT_FILE}，填写“基本信息”“专家组”和“申请材料审查”，"
                   f"保存后运行 qi-excel issue {folder}")
    click.echo(f"工作簿保护密码记录在 {PASSWORD_FILE}，请勿发给专家。")


@main.command("issue")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--self", "self_eval", is_flag=True, help="只生成申报单位的自我评价记录表（规范 6.1 条）。")
@click.option("--eml", is_flag=True, help="同时为每个工作簿生成邮件草稿（.eml），收件人为专家邮箱。")
@click.option("--accept-titles", is_flag=True, help="确认专家组中未能识别的职称属于高级职称或相应职务。")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供脚本使用）。")
def issue_command(folder: str, self_eval: bool, eml: bool, accept_titles: bool, as_json: bool) -> None:
    """为专家组每位专家生成评分工作簿（放在“发放”文件夹中）。"""
    from ..dates import human_time
    from ..evaluation import PASSWORD_FILE
    from ..workbook import issue_workbooks

    result = issue_workbooks(folder, self_eval=self_eval, eml=eml, accept_titles=accept_titles)
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    what = "自我评价记录表" if self_eval else f"{len(result.records)} 位专家的评分工作簿"
    click.echo(f"已生成 {what}（发放时间 {human_time(result.issued_at)}）：")
    for record in result.records:
        click.echo(f"  {record.file}")
    for eml_file in result.eml_files:
        click.echo(f"  {eml_file}")
    for warning in result.accepted_warnings:
        click.echo(f"已确认：{warning}")
    for note in result.notes:
        click.echo(f"注意：{note}。")
    click.echo(f"工作簿已加密码保护，密码见 {PASSWORD_FILE}。")
