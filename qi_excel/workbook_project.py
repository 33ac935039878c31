"""评价项目.xlsx: the form the organizer fills in Excel/WPS (基本信息 and 专家组).

The shipped template in ``workbook_templates/`` is generated from the field lists in
``evaluation.py`` by ``workbook_templates/make_templates.py``, so the form and its reader
never disagree; an organizer may still restyle the template in Excel, because the reader
finds fields by their labels, not by fixed rows.
"""

from __future__ import annotations

import datetime
import io
from typing import TYPE_CHECKING, Any

from .project import EXCUSE_COLUMN, INFO_FIELDS, INFO_SHEET, LEADER, MEMBER, PANEL_COLUMNS, PANEL_SHEET, PROJECT_FILE, EvaluationInfo, Panel
from .resources import template_path
from .xlsx_print import a4_one_page_wide

if TYPE_CHECKING:
    from .review import MaterialReview

PANEL_TEMPLATE_ROWS = 15  # pre-numbered roster rows
_PANEL_WIDTHS = (6, 10, 16, 30, 16, 15, 28, 8)
_PANEL_HINTS = {
    "职称": "须为高级专业技术职称或相应职务（规范 7.2 条），如 正高级工程师、教授、研究员、高级工程师、高级经济师",
    "角色": "从下拉列表选择：组长 或 成员；专家组只能有一位组长",
    "邮箱": "用于生成邮件草稿（issue --eml）",
}
# Optional last column: an excused member's reason (read by project.reasons_from_rows).
_EXCUSE_WIDTH = 30
_EXCUSE_HINT = ("通常留空。专家确实不能参加评价（如因病未能参加现场考察）时填写原因，"
                "该专家不计入评分，原因写入评价报告和档案；也可用 qi-excel excuse 登记")


def render_project_template() -> bytes:
    """The blank 评价项目.xlsx, as an organizer would want to receive it."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.set_properties({"title": "评价项目基本信息和专家组", "author": "qi-excel"})
    base = {"font_name": "宋体", "font_size": 11, "valign": "vcenter", "border": 1, "text_wrap": True}
    title = wb.add_format({"font_name": "黑体", "font_size": 16, "align": "center", "valign": "vcenter"})
    head = wb.add_format({**base, "font_name": "黑体", "bold": True, "align": "center", "bg_color": "#D9E1F2"})
    label = wb.add_format({**base, "bold": True, "bg_color": "#F2F2F2"})
    value = wb.add_format({**base})
    hint = wb.add_format({**base, "font_size": 9, "font_color": "#595959"})
    center = wb.add_format({**base, "align": "center"})
    text_fmt = wb.add_format({**base, "num_format": "@"})

    ws = wb.add_worksheet(INFO_SHEET)
    ws.set_column("A:A", 18)
    ws.set_column("B:B", 60)
    ws.set_column("C:C", 40)
    ws.set_row(0, 30)
    ws.merge_range("A1:C1", "质量基础设施“一站式”服务评价项目基本信息", title)
    ws.write_string(1, 0, "项目", head)
    ws.write_string(1, 1, "填写内容", head)
    ws.write_string(1, 2, "说明", head)
    for i, (text, attr, _required, note) in enumerate(INFO_FIELDS, start=2):
        ws.write_string(i, 0, text, label)
        ws.write_blank(i, 1, None, value)
        ws.write_string(i, 2, note, hint)
        ws.set_row(i, 60 if attr in ("goals", "self_summary") else 24)
    ws.freeze_panes(2, 0)
    a4_one_page_wide(ws)
    ws.activate()

    ps = wb.add_worksheet(PANEL_SHEET)
    ps.set_row(0, 30)
    last_col = len(PANEL_COLUMNS)  # the roster columns and 未参加原因
    ps.merge_range(0, 0, 0, last_col, "专家组名单（不少于 5 人，均具有高级专业技术职称或相应职务，设组长一名）", title)
    for c, ((text, _attr), width) in enumerate(zip(PANEL_COLUMNS, _PANEL_WIDTHS)):
        ps.set_column(c, c, width)
        ps.write_string(1, c, text, head)
        if text in _PANEL_HINTS:
            ps.write_comment(1, c, _PANEL_HINTS[text], {"x_scale": 2, "y_scale": 1.2})
    excuse_col = len(PANEL_COLUMNS)
    ps.set_column(excuse_col, excuse_col, _EXCUSE_WIDTH)
    ps.write_string(1, excuse_col, EXCUSE_COLUMN, head)
    ps.write_comment(1, excuse_col, _EXCUSE_HINT, {"x_scale": 2, "y_scale": 1.6})
    for r in range(2, 2 + PANEL_TEMPLATE_ROWS):
        ps.write_number(r, 0, r - 1, center)
        for c, (_, attr) in enumerate(PANEL_COLUMNS[1:], start=1):
            ps.write_blank(r, c, None, text_fmt if attr == "phone" else (center if attr == "role" else value))
        ps.write_blank(r, excuse_col, None, value)
        ps.set_row(r, 22)
    role_col = [a for _, a in PANEL_COLUMNS].index("role")
    ps.data_validation(2, role_col, 1 + PANEL_TEMPLATE_ROWS, role_col, {
        "validate": "list", "source": [LEADER, MEMBER],
        "input_title": "专家组角色", "input_message": "选择“组长”或“成员”；专家组只能有一位组长。",
        "error_title": "角色无效", "error_message": "请选择“组长”或“成员”。",
    })
    ps.freeze_panes(2, 2)
    a4_one_page_wide(ps, repeat=(1,))
    _review_sheet(wb, title, head, label, value, center)
    wb.close()
    return buf.getvalue()


# 申请材料审查 (clause 6.3): rows of the material table and of the labelled fields below it
REVIEW_FIRST_MATERIAL_ROW = 3
REVIEW_FIRST_FIELD_ROW = REVIEW_FIRST_MATERIAL_ROW + 6  # one blank row after e)


def _review_sheet(wb: object, title: object, head: object, label: object, value: object, center: object) -> None:
    """申请材料审查: materials a)–e) of 6.2 with 是否提交 and 备注, then the conclusion."""
    from .review import (CONCLUSION_CHOICES, FIELDS, MATERIAL_HEADERS, MATERIALS, REVIEW_SHEET,
                         SUBMITTED_CHOICES)

    rs = wb.add_worksheet(REVIEW_SHEET)  # type: ignore[attr-defined]
    date_fmt = wb.add_format({"font_name": "宋体", "font_size": 11, "valign": "vcenter", "border": 1,  # type: ignore[attr-defined]
                              "align": "left", "num_format": "yyyy-mm-dd"})
    for c, width in enumerate((10, 40, 12, 44)):
        rs.set_column(c, c, width)
    rs.set_row(0, 30)
    rs.merge_range(0, 0, 0, 3, "申请材料审查记录（规范 6.3 条）", title)
    rs.set_row(1, 24)
    for c, text in enumerate(MATERIAL_HEADERS):
        rs.write_string(1, c, text, head)
    first = REVIEW_FIRST_MATERIAL_ROW - 1
    for i, (key, name) in enumerate(MATERIALS):
        rs.set_row(first + i, 24)
        rs.write_string(first + i, 0, key, center)
        rs.write_string(first + i, 1, name, label)
        rs.write_blank(first + i, 2, None, center)
        rs.write_blank(first + i, 3, None, value)
    rs.data_validation(first, 2, first + len(MATERIALS) - 1, 2, {
        "validate": "list", "source": list(SUBMITTED_CHOICES),
        "input_title": "是否提交", "input_message": "申报单位是否已提交该材料：选择“是”或“否”。",
        "error_title": "请选择是或否", "error_message": "只能选择“是”或“否”。",
    })
    for i, (text, attr, hint) in enumerate(FIELDS):
        r = REVIEW_FIRST_FIELD_ROW - 1 + i
        rs.set_row(r, 60 if attr == "opinion" else 24)
        rs.write_string(r, 0, text, label)
        rs.merge_range(r, 1, r, 3, "", date_fmt if attr in ("deadline", "review_date") else value)
        options: dict[str, object] = {"input_title": text, "input_message": hint[:255]}
        if attr == "conclusion":
            options.update({"validate": "list", "source": list(CONCLUSION_CHOICES),
                            "error_title": "审查结论无效", "error_message": "请选择“符合”或“需整改”。"})
        elif attr in ("deadline", "review_date"):
            options.update({"validate": "date", "criteria": ">", "value": __import__("datetime").date(2000, 1, 1),
                            "error_title": "日期无效", "error_message": "请填写日期，如 2025-07-01。"})
        else:
            options["validate"] = "any"
        rs.data_validation(r, 1, r, 1, options)
    a4_one_page_wide(rs)


def project_template_bytes() -> bytes:
    """The shipped template (an organizer's installation may carry an edited copy)."""
    try:
        return template_path("workbook_templates", PROJECT_FILE).read_bytes()
    except FileNotFoundError:
        return render_project_template()


def fill_project_workbook(template: bytes, info: EvaluationInfo, panel: Panel, review: "MaterialReview | None" = None) -> bytes:
    """Write ``info``, ``panel`` (and ``review``) into the template's labelled cells (the --sample folder)."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(template))
    ws = wb[INFO_SHEET]
    by_label = {label: attr for label, attr, _, _ in INFO_FIELDS}
    for row in ws.iter_rows(min_row=1, max_col=2):
        attr = by_label.get(str(row[0].value or "").strip())
        if attr:
            _set_text(row[1], getattr(info, attr))
    ps = wb[PANEL_SHEET]
    header = _header_row(ps)
    columns = {str(c.value).strip(): c.column for c in ps[header] if c.value}
    for i, expert in enumerate(panel.experts, start=header + 1):
        for text, attr in PANEL_COLUMNS:
            if text in columns:
                _set_text(ps.cell(i, columns[text]), getattr(expert, attr))
        if expert.excused and EXCUSE_COLUMN in columns:
            _set_text(ps.cell(i, columns[EXCUSE_COLUMN]), expert.excused)
    if review is not None:
        _fill_review(wb, review)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _set_text(cell: Any, value: object) -> None:
    """openpyxl stores a string starting with ``=`` as a formula; organizer text stays text."""
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"


def _header_row(ws: object) -> int:
    for row in ws.iter_rows(min_row=1, max_row=10):  # type: ignore[attr-defined]
        if any(str(c.value or "").strip() == "姓名" for c in row):
            return row[0].row
    raise ValueError("template has no 姓名 header")


def _fill_review(wb: object, review: "MaterialReview") -> None:
    """Type ``review`` into 申请材料审查 by its labels (dates as real dates)."""
    from .review import REVIEW_SHEET, FIELDS

    ws = wb[REVIEW_SHEET]  # type: ignore[index]
    by_key = {m.key: m for m in review.materials}
    labels = {text: attr for text, attr, _ in FIELDS}
    for row in ws.iter_rows(min_row=1, max_row=40, max_col=4):
        first = str(row[0].value or "").strip()
        if first in by_key:
            row[2].value = by_key[first].submitted or None
            row[3].value = by_key[first].remark or None
        elif first in labels:
            v = getattr(review, labels[first])
            if v and labels[first] in ("deadline", "review_date"):
                v = datetime.date.fromisoformat(v)
            row[1].value = v or None


def fill_review(project: bytes, review: "MaterialReview") -> bytes:
    """``project`` (评价项目.xlsx bytes) with 申请材料审查 filled in: what an organizer types in Excel."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(project))
    _fill_review(wb, review)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
