"""Build the shipped Word templates of the evaluation procedure (clauses 6.3, 7.1, 8.1, 8.4):

    申请材料审查记录.docx   评价计划.docx   首次会议签到表.docx   末次会议签到表.docx   持续改进承诺书.docx

Run ``python3 docx_templates/build_procedure_templates.py`` after changing this file and commit
the script and the .docx files it writes. Fonts, page setup, styles and table helpers are the
ones of ``build_templates.py`` (imported, not copied), so these papers look like the report:
A4, GB/T 9704 margins, 黑体 headings, 仿宋 body, 宋体 tables, page numbers "— 1 —", and
``w:eastAsia`` set on the styles and on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_templates import (
    HEADING_FONT,
    STANDARD,
    _field,
    _row_props,
    cell_text,
    keep_together,
    loop_row,
    new_document,
    para,
    run,
    table,
)

REVIEW = "申请材料审查记录.docx"
PLAN = "评价计划.docx"
FIRST_SIGNIN = "首次会议签到表.docx"
LAST_SIGNIN = "末次会议签到表.docx"
PLEDGE = "持续改进承诺书.docx"


def numbered(doc) -> None:
    """Page numbers "— n —" in the footer of the (only) section."""
    section = doc.sections[0]
    footer = section.footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    run(footer, "— ")
    _field(footer, " PAGE ", "1")
    run(footer, " —")


def info_table(doc, rows: list[tuple[str, str]]) -> None:
    t = table(doc, [3.2, 12.4], len(rows))
    for row, (label, value) in zip(t.rows, rows):
        _row_props(row, height_cm=0.9)
        cell_text(row.cells[0], label, "QI 表格居中", font=HEADING_FONT)
        cell_text(row.cells[1], value, "QI 表格文字")
    keep_together(t)


def header_row(t, texts: tuple[str, ...]) -> None:
    _row_props(t.rows[0], header=True, height_cm=0.9)
    for cell, text in zip(t.rows[0].cells, texts):
        cell_text(cell, text, "QI 表头")


def items(doc, var: str) -> None:
    """A numbered list of strings, one paragraph each."""
    para(doc, "{%%p for t in %s %%}" % var)
    para(doc, "{{ loop.index }}．{{ t }}")
    para(doc, "{%p endfor %}")


def signature_lines(doc, lines: list[str]) -> None:
    """Right-aligned signature lines that stay on one page together."""
    gap = para(doc, "")
    gap.paragraph_format.keep_with_next = True
    for i, line in enumerate(lines):
        p = para(doc, line, "QI 说明")
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.space_before = Pt(10)
        p.paragraph_format.keep_with_next = i < len(lines) - 1


# ───────────────────────────── 6.3 申请材料审查记录 ─────────────────────────────


def build_review():
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务评价申请材料审查记录"
    numbered(doc)
    para(doc, "质量基础设施“一站式”服务评价\n申请材料审查记录", "Title")
    info_table(doc, [
        ("服务名称", "{{ service_name }}"),
        ("申报单位", "{{ applicant }}"),
        ("申请日期", "{{ application_date }}"),
        ("评价组织", "{{ organizer }}"),
    ])
    para(doc, "一、申请材料（规范 6.2 条）", "Heading 1")
    t = table(doc, [1.4, 6.4, 2.2, 5.6], 1)
    header_row(t, ("序号", "申请材料", "是否提交", "备注"))
    loop_row(t, "{%tr for m in materials %}")
    row = t.add_row()
    _row_props(row, height_cm=0.9)
    for cell, text in zip(row.cells, ("{{ m.key }}", "{{ m.name }}", "{{ m.submitted }}", "{{ m.remark }}")):
        cell_text(cell, text, "QI 表格文字" if text in ("{{ m.name }}", "{{ m.remark }}") else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    keep_together(t)
    para(doc, "二、审查结论（规范 6.3 条）", "Heading 1")
    info_table(doc, [
        ("审查结论", "{{ conclusion_text }}"),
        ("整改期限", "{{ deadline }}"),
        ("审查意见", "{{ opinion }}"),
    ])
    para(doc, "注：符合 6.2 条要求的，按照评价程序实施评价；不符合的，在规定期限内整改后方可实施评价。", "QI 说明")
    signature_lines(doc, ["审查人（签字）：{{ reviewer }}　　　　日期：{{ review_date }}　　"])
    return doc


# ───────────────────────────── 7.1 评价计划 ─────────────────────────────


def build_plan():
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务评价计划"
    numbered(doc)
    para(doc, "{{ service_name }}\n评价计划", "Title")
    para(doc, "一、评价目的", "Heading 1")
    para(doc, "{{ purpose }}")
    para(doc, "二、评价依据", "Heading 1")
    para(doc, f"1．{STANDARD}及其附录 A《质量基础设施“一站式”服务评价表》；")
    para(doc, "2．DB43/T 2516—2022《质量基础设施“一站式”服务规范》；")
    para(doc, "3．申报单位提交的评价申请表、自我评价记录、工作总结、相关制度、规划及实施方案等申请材料。")
    para(doc, "三、申报单位", "Heading 1")
    info_table(doc, [
        ("服务名称", "{{ service_name }}"),
        ("申报单位", "{{ applicant }}"),
        ("地　　址", "{{ address }}"),
        ("负 责 人", "{{ head }}"),
        ("联 系 人", "{{ contact }}"),
    ])
    para(doc, "四、专家组", "Heading 1")
    para(doc, "{{ panel_text }}")
    t = table(doc, [1.1, 1.8, 1.5, 3.0, 5.4, 2.8], 1)
    header_row(t, ("序号", "姓名", "组内职务", "职称", "工作单位", "专业领域"))
    loop_row(t, "{%tr for e in experts %}")
    row = t.add_row()
    _row_props(row, height_cm=0.9)
    texts = ("{{ e.number }}", "{{ e.name }}", "{{ e.role }}", "{{ e.title }}", "{{ e.employer }}", "{{ e.field }}")
    for cell, text in zip(row.cells, texts):
        cell_text(cell, text, "QI 表格文字" if "employer" in text else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    para(doc, "五、评价日程", "Heading 1")
    para(doc, "评价日期：{{ evaluation_date }}。").paragraph_format.keep_with_next = True
    t = table(doc, [2.3, 4.2, 3.0, 6.1], 1)
    header_row(t, ("阶段", "时间", "地点", "主要内容"))
    loop_row(t, "{%tr for s in schedule %}")
    row = t.add_row()
    _row_props(row, height_cm=1.0)
    for cell, text in zip(row.cells, ("{{ s.stage }}", "{{ s.when }}", "{{ s.where }}", "{{ s.what }}")):
        cell_text(cell, text, "QI 表格文字" if text != "{{ s.stage }}" else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    keep_together(t)
    para(doc, "六、申报单位需准备的材料和条件", "Heading 1")
    items(doc, "preparations")
    para(doc, "七、评价纪律", "Heading 1")
    items(doc, "discipline")
    signature_lines(doc, ["{{ organizer }}　　", "{{ plan_date }}　　"])
    return doc


# ───────────────────────────── 8.1 / 8.4 签到表 ─────────────────────────────


def build_signin(meeting: str):
    doc = new_document()
    doc.core_properties.title = f"质量基础设施“一站式”服务评价{meeting}签到表"
    numbered(doc)
    para(doc, "%s签到表" % meeting, "Title")
    t = table(doc, [2.2, 5.6, 2.2, 5.6], 4)
    for row in t.rows:
        _row_props(row, height_cm=0.8)
    label = {"font": HEADING_FONT}
    cell_text(t.rows[0].cells[0], "服务名称", **label)
    cell_text(t.rows[0].cells[1].merge(t.rows[0].cells[3]), "{{ service_name }}", "QI 表格文字")
    cell_text(t.rows[1].cells[0], "申报单位", **label)
    cell_text(t.rows[1].cells[1].merge(t.rows[1].cells[3]), "{{ applicant }}", "QI 表格文字")
    cell_text(t.rows[2].cells[0], "会议时间", **label)
    cell_text(t.rows[2].cells[1], "{{ meeting_when }}", "QI 表格文字")
    cell_text(t.rows[2].cells[2], "会议地点", **label)
    cell_text(t.rows[2].cells[3], "{{ meeting_where }}", "QI 表格文字")
    cell_text(t.rows[3].cells[0], "主 持 人", **label)
    cell_text(t.rows[3].cells[1].merge(t.rows[3].cells[3]), "{{ chair }}", "QI 表格文字")
    gap = para(doc, "", "QI 说明")  # two tables in a row would merge into one in Word
    gap.paragraph_format.line_spacing = Pt(10)
    widths = [1.0, 1.8, 5.0, 2.6, 1.5, 1.5, 2.2]
    t = table(doc, widths, 1)
    header_row(t, ("序号", "姓名", "工作单位", "职称/职务", "参会身份", "签到时间", "签名"))
    # panel, pre-printed
    row = t.add_row()
    _row_props(row, height_cm=0.7)
    cell_text(row.cells[0].merge(row.cells[6]), "专家组", "QI 表格文字", font=HEADING_FONT)
    loop_row(t, "{%tr for e in experts %}")
    row = t.add_row()
    _row_props(row, height_cm=0.85)
    texts = ("{{ e.number }}", "{{ e.name }}", "{{ e.employer }}", "{{ e.title }}", "{{ e.role }}", "", "")
    for cell, text in zip(row.cells, texts):
        cell_text(cell, text, "QI 表格文字" if "employer" in text else "QI 表格居中", size=10.5)
    loop_row(t, "{%tr endfor %}")
    # the applicant's attendees and the organizer's staff: blank rows to fill in by hand
    for group, var in (("申报单位参会人员", "applicant_rows"), ("评价组织及其他人员", "other_rows")):
        row = t.add_row()
        _row_props(row, height_cm=0.7)
        cell_text(row.cells[0].merge(row.cells[6]), group, "QI 表格文字", font=HEADING_FONT)
        loop_row(t, "{%%tr for n in %s %%}" % var)
        row = t.add_row()
        _row_props(row, height_cm=0.85)
        for cell, text in zip(row.cells, ("{{ n }}", "", "", "", "", "", "")):
            cell_text(cell, text, size=10.5)
        loop_row(t, "{%tr endfor %}")
    para(doc, "{{ note }}", "QI 说明", size=12).paragraph_format.space_before = Pt(4)
    return doc


# ───────────────────────────── 8.4.2 持续改进承诺书 ─────────────────────────────


def build_pledge():
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务持续改进承诺书"
    numbered(doc)
    para(doc, "持续改进承诺书", "Title")
    p = para(doc, "{{ organizer }}、{{ service_name }}评价专家组：")
    p.paragraph_format.first_line_indent = Pt(0)
    para(doc, "{{ opening }}")
    para(doc, "专家组提出的主要改进建议：", "Heading 1")
    items(doc, "suggestions")
    para(doc, "{%p if suggestions_note %}")
    para(doc, "{{ suggestions_note }}")
    para(doc, "{%p endif %}")
    para(doc, "本单位承诺：", "Heading 1")
    items(doc, "promises")
    signature_lines(doc, [
        "申报单位（盖章）：{{ applicant }}　　",
        "服务平台负责人（签字）：　　　　　　　　　　",
        "{{ sign_date }}　　",
    ])
    return doc


BUILDERS = (
    (REVIEW, build_review),
    (PLAN, build_plan),
    (FIRST_SIGNIN, lambda: build_signin("首次会议")),
    (LAST_SIGNIN, lambda: build_signin("末次会议")),
    (PLEDGE, build_pledge),
)


def main(out: Path = HERE) -> list[Path]:
    written = []
    for name, build in BUILDERS:
        target = out / name
        build().save(target)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
