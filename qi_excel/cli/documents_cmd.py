"""``qi-excel application|report|templates|archive``: the Word documents and clause 9's archive."""

from __future__ import annotations


import click

from . import main
from .common import EXIT_ATTENTION, echo_written, evaluation


@main.command("application")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--template", type=click.Path(dir_okay=False), help="使用修改过的申请表模板（.docx）。")
@click.option("--pdf", is_flag=True, help="同时用 LibreOffice 生成 PDF。")
def application_command(folder: str, template: str | None, pdf: bool) -> None:
    """生成评价申请表（附录B）：评价申请表.docx。"""
    written = evaluation(folder).make_application(template=template, pdf=pdf)
    click.echo("已生成评价申请表：")
    echo_written(list(written.paths), pdf)
    for note in written.notes:
        click.echo(note)


@main.command("report")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--template", type=click.Path(dir_okay=False), help="使用修改过的评价报告模板（.docx）。")
@click.option("--pdf", is_flag=True, help="同时用 LibreOffice 生成 PDF。")
@click.option("--draft", is_flag=True, help="汇总尚为草稿时也生成报告，带“草稿”水印，另存为“评价报告（草稿）.docx”。")
def report_command(folder: str, template: str | None, pdf: bool, draft: bool) -> None:
    """根据汇总结果和专家组意见.docx 生成评价报告（附录C），含专家组签字表。

    专家组意见.docx 四个标题下的文字逐段原样写入报告：主要亮点、存在问题、改进建议写入
    “五、专家组意见”，评价结论写入“六、评价结论”。
    """
    written = evaluation(folder).make_report(template=template, pdf=pdf, draft=draft)
    click.echo("已生成评价报告（草稿，仅供内部讨论）：" if draft else "已生成评价报告，请打印后由专家组成员签字：")
    echo_written(list(written.paths), pdf)
    for note in written.notes:
        click.echo(note)


@main.group("templates")
def templates_group() -> None:
    """导出内置的 Word 模板，供修改措辞后用 --template 使用。"""


@templates_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False))
def templates_export_command(folder: str) -> None:
    """把评价申请表、评价报告以及审查记录、评价计划、签到表、承诺书的模板复制到 FOLDER。"""
    from ..documents import export_templates

    paths = export_templates(folder)
    click.echo("已导出模板（可在 Word/WPS 中修改文字和格式，{{ }} 与 {% %} 占位符请保留）：")
    for path in paths:
        click.echo(f"  {path}")


@main.command("archive")
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--verify", "verify_zip", type=click.Path(dir_okay=False), help="校验一个已生成的评价档案 zip。")
def archive_command(folder: str | None, verify_zip: str | None) -> None:
    """生成评价档案（规范第 9 章）：评分表、汇总表、检查报告、评价报告等打包为一个 zip。"""
    from ..errors import QiError
    from ..handle import Evaluation

    if verify_zip:
        if folder:
            raise click.UsageError("--verify 与评价目录不能同时给出。")
        problems, signed = Evaluation.verify_any_archive(verify_zip)
        if problems:
            click.echo(f"档案 {verify_zip} 校验未通过，发现 {len(problems)} 个问题：")
            for problem in problems:
                click.echo(f"  {problem}")
            raise QiError("档案与其清单（manifest.json）不一致。", exit_code=EXIT_ATTENTION)
        click.echo(f"档案 {verify_zip} 校验通过：所有文件与清单一致。")
        if signed:
            click.echo("清单签名已用本评价目录的密钥核对无误。")
        else:
            click.echo("注意：未在档案所在文件夹找到本评价的密钥，只核对了文件哈希，未核对清单签名；"
                       "把档案放在原评价目录中校验可同时核对签名。")
        return
    if not folder:
        raise click.UsageError("请给出评价目录，或用 --verify ZIP 校验档案。")
    path = evaluation(folder).archive()
    click.echo(f"已生成评价档案：{path}")
