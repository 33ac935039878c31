"""Build the shipped Word templates 评价申请表.docx (Appendix B) and 评价报告.docx (Appendix C).

Run ``python3 docx_templates/build_templates.py`` after changing this file and commit both the
script and the .docx files it writes: the .docx are what organizers open and edit, this script
is how a reviewer sees (and reproduces) every font, margin and placeholder in them.

Layout follows GB/T 9704 (党政机关公文格式) where it applies to a form and a report: A4,
天头 37 mm, 订口 28 mm, 版心 156 mm; titles in 方正小标宋/黑体, body 仿宋 三号, second-level
headings 楷体, tables 宋体 小四; page numbers "— 1 —" in 宋体 四号 below the text block.
Chinese fonts are always set through ``w:eastAsia`` (python-docx ``font.name`` alone leaves
Chinese text in the theme font) on the styles AND on every run, so Word, WPS and LibreOffice
agree. Every ``{{ placeholder }}`` and ``{% tag %}`` is written into a single run so editing
in Word/WPS does not split it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

HERE = Path(__file__).resolve().parent

LATIN = "Times New Roman"
TITLE_FONT = "黑体"  # 方正小标宋简体 is not installed on most PCs; 黑体 is on every Chinese Windows
HEADING_FONT = "黑体"
SUBHEADING_FONT = "楷体"
BODY_FONT = "仿宋"  # 仿宋_GB2312 is absent from Windows 10+; 仿宋 is its standard successor
TABLE_FONT = "宋体"

BODY_SIZE = 16  # 三号
TABLE_SIZE = 12  # 小四
NOTE_SIZE = 14  # 四号
TEXT_WIDTH_CM = 15.6  # 21.0 − 2.8 − 2.6

STANDARD = "《质量基础设施“一站式”服务评价规范》"


# ───────────────────────────── fonts and styles ─────────────────────────────

# Word refuses ("unreadable content") children in the wrong schema order, so new elements go
# in before the first sibling that must follow them.
PPR_AFTER_IND = ("w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection",
                 "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr",
                 "w:sectPr", "w:pPrChange")
PPR_AFTER_OUTLINE = ("w:divId", "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")
TBLPR_AFTER_W = ("w:jc", "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar",
                 "w:tblLook", "w:tblCaption", "w:tblDescription")
TBLPR_AFTER_BORDERS = ("w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")
TBLPR_AFTER_LAYOUT = ("w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")
TCPR_AFTER_BORDERS = ("w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")
SECTPR_AFTER_PGNUM = ("w:cols", "w:formProt", "w:vAlign", "w:noEndnote", "w:titlePg", "w:textDirection", "w:bidi",
                      "w:rtlGutter", "w:docGrid", "w:printerSettings", "w:sectPrChange")


def _put(parent, tag: str, successors: tuple[str, ...]):
    """Replace ``parent``'s ``tag`` child with a fresh one placed in schema order."""
    for old in parent.findall(qn(tag)):
        parent.remove(old)
    el = OxmlElement(tag)
    parent.insert_element_before(el, *successors)
    return el



def _set_fonts(rpr_owner, east_asia: str, latin: str = LATIN) -> None:
    """Set explicit fonts on a style or run and drop theme fonts (which would win)."""
    rpr = rpr_owner.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        if attr.lower().endswith("theme"):
            del fonts.attrib[attr]
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:cs"), latin)
    fonts.set(qn("w:hint"), "eastAsia")


def _drop_color(rpr_owner) -> None:
    rpr = rpr_owner.get_or_add_rPr()
    for tag in ("w:color",):
        for el in rpr.findall(qn(tag)):
            rpr.remove(el)


def _style(doc, name: str, *, base: str | None = "Normal", font: str = BODY_FONT, size: float = BODY_SIZE,
           bold: bool = False, align=None, first_line_chars: int = 0, line: float | None = None,
           before: float = 0, after: float = 0, keep_next: bool = False, outline: int | None = None):
    styles = doc.styles
    try:
        style = styles[name]
    except KeyError:
        from docx.enum.style import WD_STYLE_TYPE

        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.quick_style = True
    if base is not None and name != base:
        style.base_style = styles[base]
    _set_fonts(style.element, font)
    _drop_color(style.element)
    style.font.size = Pt(size)
    style.font.bold = bold
    style.font.italic = False
    pf = style.paragraph_format
    pf.alignment = align
    pf.space_before = Pt(before)
    pf.space_after = Pt(after)
    if line is None:
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    else:
        pf.line_spacing = Pt(line)
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.keep_with_next = keep_next
    pf.widow_control = True
    ppr = style.element.get_or_add_pPr()
    for tag in ("w:pBdr", "w:contextualSpacing"):
        for old in ppr.findall(qn(tag)):
            ppr.remove(old)
    for tag in ("w:spacing", "w:kern", "w:caps", "w:smallCaps"):
        for old in style.element.rPr.findall(qn(tag)):
            style.element.rPr.remove(old)
    ind = _put(ppr, "w:ind", PPR_AFTER_IND)
    if first_line_chars:
        ind.set(qn("w:firstLineChars"), str(first_line_chars * 100))
        ind.set(qn("w:firstLine"), str(int(first_line_chars * size * 20)))
    else:
        ind.set(qn("w:firstLineChars"), "0")
        ind.set(qn("w:firstLine"), "0")
    ind.set(qn("w:left"), "0")
    for old in ppr.findall(qn("w:outlineLvl")):
        ppr.remove(old)
    if outline is not None:
        _put(ppr, "w:outlineLvl", PPR_AFTER_OUTLINE).set(qn("w:val"), str(outline))
    return style


def _defaults(doc) -> None:
    """docDefaults: Chinese body font and zh-CN language, no theme fonts anywhere."""
    styles = doc.styles.element
    rpr = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    fonts = rpr.find(qn("w:rFonts"))
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for key, value in (("ascii", LATIN), ("hAnsi", LATIN), ("eastAsia", BODY_FONT), ("cs", LATIN)):
        fonts.set(qn(f"w:{key}"), value)
    lang = rpr.find(qn("w:lang"))
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")
    ppr = styles.find(qn("w:docDefaults")).find(qn("w:pPrDefault")).find(qn("w:pPr"))
    spacing = ppr.find(qn("w:spacing"))
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")


def _setup(doc) -> None:
    _defaults(doc)
    _style(doc, "Normal", base=None, font=BODY_FONT, size=BODY_SIZE, align=WD_ALIGN_PARAGRAPH.JUSTIFY,
           first_line_chars=2, line=28)
    _style(doc, "Title", font=TITLE_FONT, size=22, align=WD_ALIGN_PARAGRAPH.CENTER, line=36, after=16)
    _style(doc, "QI 封面标题", font=TITLE_FONT, size=26, align=WD_ALIGN_PARAGRAPH.CENTER, line=48)
    _style(doc, "QI 封面栏目", font=BODY_FONT, size=BODY_SIZE, align=WD_ALIGN_PARAGRAPH.LEFT, line=28)
    _style(doc, "Heading 1", font=HEADING_FONT, size=BODY_SIZE, first_line_chars=2, line=28, before=6,
           keep_next=True, outline=0)
    _style(doc, "Heading 2", font=SUBHEADING_FONT, size=BODY_SIZE, first_line_chars=2, line=28,
           keep_next=True, outline=1)
    _style(doc, "QI 表格文字", font=TABLE_FONT, size=TABLE_SIZE, align=WD_ALIGN_PARAGRAPH.LEFT)
    _style(doc, "QI 表格居中", font=TABLE_FONT, size=TABLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, "QI 表头", font=HEADING_FONT, size=TABLE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, "QI 表题", font=HEADING_FONT, size=NOTE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER, before=6,
           after=6, keep_next=True)
    _style(doc, "QI 说明", font=BODY_FONT, size=NOTE_SIZE, align=WD_ALIGN_PARAGRAPH.LEFT, line=24)
    _style(doc, "Header", font=TABLE_FONT, size=10.5, align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, "Footer", font=TABLE_FONT, size=NOTE_SIZE, align=WD_ALIGN_PARAGRAPH.CENTER)
    props = doc.core_properties
    props.author = ""
    props.last_modified_by = ""
    props.comments = ""
    props.keywords = ""


def _font_of(style) -> str:
    fonts = style.element.rPr.find(qn("w:rFonts"))
    return fonts.get(qn("w:eastAsia"))


def run(paragraph, text: str, *, font: str | None = None, bold: bool | None = None, size: float | None = None,
        underline: bool = False):
    """Add ONE run (a placeholder stays whole) with its East Asian font stated on the run too."""
    r = paragraph.add_run(text)
    _set_fonts(r._r, font or _font_of(paragraph.style))
    if bold is not None:
        r.bold = bold
    if size is not None:
        r.font.size = Pt(size)
    if underline:
        r.underline = True
    return r


def para(container, text: str = "", style: str = "Normal", **run_kw):
    p = container.add_paragraph(style=style)
    if text:
        run(p, text, **run_kw)
    return p


# ───────────────────────────── page setup ─────────────────────────────


def _page(section) -> None:
    section.page_width = Cm(21.0)
    section.page_height = Cm(29.7)
    section.top_margin = Cm(3.7)
    section.bottom_margin = Cm(3.5)
    section.left_margin = Cm(2.8)
    section.right_margin = Cm(2.6)
    section.header_distance = Cm(1.5)
    section.footer_distance = Cm(2.5)


def _field(paragraph, instruction: str, shown: str) -> None:
    """A complex field (PAGE) whose runs carry the footer's fonts."""
    font = _font_of(paragraph.style)
    for kind, text in (("begin", None), ("instr", instruction), ("separate", None), ("text", shown), ("end", None)):
        r = paragraph.add_run()
        _set_fonts(r._r, font)
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = instruction
            r._r.append(el)
        elif kind == "text":
            r.text = shown
        else:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            r._r.append(el)


def body_section(doc):
    """Start the numbered part after the cover: new page, own footer, numbering from 1."""
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    _page(section)
    section.header.is_linked_to_previous = False
    return page_numbers(doc, section)


def page_numbers(doc, section):
    """"— 1 —" centred in the footer, numbering from 1."""
    section.footer.is_linked_to_previous = False
    footer = section.footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    run(footer, "— ")
    _field(footer, " PAGE ", "1")
    run(footer, " —")
    _put(section._sectPr, "w:pgNumType", SECTPR_AFTER_PGNUM).set(qn("w:start"), "1")
    return section


# ───────────────────────────── tables ─────────────────────────────


def _borders(table, *, size: int = 6, inner: bool = True, outer: bool = True) -> None:
    tblPr = table._tbl.tblPr
    borders = _put(tblPr, "w:tblBorders", TBLPR_AFTER_BORDERS)
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        on = inner if edge.startswith("inside") else outer
        el.set(qn("w:val"), "single" if on else "nil")
        if on:
            el.set(qn("w:sz"), str(size))
            el.set(qn("w:space"), "0")
            el.set(qn("w:color"), "000000")
        borders.append(el)


def _fixed_layout(table, widths_cm: list[float]) -> None:
    table.autofit = False
    tblPr = table._tbl.tblPr
    _put(tblPr, "w:tblLayout", TBLPR_AFTER_LAYOUT).set(qn("w:type"), "fixed")
    width = _put(tblPr, "w:tblW", TBLPR_AFTER_W)
    width.set(qn("w:w"), str(int(sum(widths_cm) * 567)))
    width.set(qn("w:type"), "dxa")
    grid = table._tbl.tblGrid
    for col, w in zip(grid.findall(qn("w:gridCol")), widths_cm):
        col.set(qn("w:w"), str(int(w * 567)))
    for row in table.rows:
        for cell, w in zip(row.cells, widths_cm):
            cell.width = Cm(w)


def _row_props(row, *, header: bool = False, cant_split: bool = True, height_cm: float | None = None) -> None:
    trPr = row._tr.get_or_add_trPr()
    if cant_split:
        trPr.append(OxmlElement("w:cantSplit"))
    if header:
        trPr.append(OxmlElement("w:tblHeader"))
    if height_cm is not None:
        row.height = Cm(height_cm)
        row.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST


def table(doc, widths_cm: list[float], rows: int, *, borders: bool = True):
    t = doc.add_table(rows=rows, cols=len(widths_cm))
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _borders(t, inner=borders, outer=borders)
    _fixed_layout(t, widths_cm)
    return t


def cell_text(cell, text: str, style: str = "QI 表格居中", *, valign: str = "center", **run_kw) -> None:
    p = cell.paragraphs[0]
    p.style = style
    if text:
        run(p, text, **run_kw)
    cell.vertical_alignment = (
        WD_CELL_VERTICAL_ALIGNMENT.CENTER if valign == "center" else WD_CELL_VERTICAL_ALIGNMENT.TOP
    )


def _distribute(cell) -> None:
    """Spread a short label over the cell width (the standard's "地　址" look)."""
    ppr = cell.paragraphs[0]._p.get_or_add_pPr()
    _put(ppr, "w:jc", PPR_AFTER_IND[PPR_AFTER_IND.index("w:jc") + 1:]).set(qn("w:val"), "distribute")


def _bottom_border(cell) -> None:
    tcPr = cell._tc.get_or_add_tcPr()
    borders = _put(tcPr, "w:tcBorders", TCPR_AFTER_BORDERS)
    bottom = OxmlElement("w:bottom")
    bottom.set(qn("w:val"), "single")
    bottom.set(qn("w:sz"), "6")
    bottom.set(qn("w:space"), "0")
    bottom.set(qn("w:color"), "000000")
    borders.append(bottom)


def keep_together(t) -> None:
    """Word's way to keep a short table on one page: every row but the last keeps with the next."""
    for row in t.rows[:-1]:
        for cell in row.cells:
            for p in cell.paragraphs:
                p.paragraph_format.keep_with_next = True


def loop_row(t, tag: str) -> None:
    """A row holding only a ``{%tr %}`` tag; docxtpl removes it when rendering."""
    row = t.add_row()
    cell_text(row.cells[0], tag, "QI 表格文字")


def cover(doc, title_lines: list[str], fields: list[tuple[str, str]], bottom: str = "") -> None:
    for _ in range(2):
        para(doc, "", "QI 封面标题")
    for line in title_lines:
        para(doc, line, "QI 封面标题")
    for _ in range(3):
        para(doc, "", "QI 封面栏目")
    t = table(doc, [2.8, 11.0], len(fields), borders=False)
    for row, (label, value) in zip(t.rows, fields):
        _row_props(row, height_cm=1.4)
        cell_text(row.cells[0], label, "QI 封面栏目", font=HEADING_FONT)
        _distribute(row.cells[0])
        cell_text(row.cells[1], value, "QI 表格居中", size=BODY_SIZE, font=BODY_FONT)
        row.cells[1].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
        row.cells[0].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
        _bottom_border(row.cells[1])
    if bottom:
        for _ in range(4):
            para(doc, "", "QI 封面栏目")
        para(doc, bottom, "QI 封面栏目").alignment = WD_ALIGN_PARAGRAPH.CENTER


def _drop_styles_with_effects(doc) -> None:
    """python-docx's blank document carries Word 2010's stylesWithEffects.xml, a stale copy of
    styles.xml our styles never reach; validators (and Word 2010) see the two disagree."""
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.drop_rel(rid)


def new_document():
    doc = Document()
    _drop_styles_with_effects(doc)
    _setup(doc)
    _page(doc.sections[0])
    return doc


# ───────────────────────────── Appendix B ─────────────────────────────

APPLICATION_NOTES = (
    "1、服务名称用“XXX质量基础设施‘一站式’服务”。",
    "2、“申报单位”为具体承担质量基础设施“一站式”服务的申请方。",
    "3、自查得分为申请方根据目标考核自我打分的结果。",
    "4、自查情况总结报告为依照评价表（附录A）自评自查情况。",
    "5、本表一式三份，字迹要工整清晰，可以打印。",
)

MATERIALS = (
    ("a)", "评价申请表（见附录 B）"),
    ("b)", "自我评价记录"),
    ("c)", "工作总结"),
    ("d)", "相关制度"),
    ("e)", "规划及实施方案等相关文件"),
)


def build_application() -> object:
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务评价申请表"
    cover(
        doc,
        ["质量基础设施“一站式”服务评价", "申请表"],
        [("服务名称", "{{ service_name }}"), ("申报单位", "{{ applicant }}"), ("申请日期", "{{ application_date }}")],
    )
    body_section(doc)
    para(doc, "质量基础设施“一站式”服务评价申请表", "Title")

    widths = [2.2, 1.9, 1.3, 3.0, 2.2, 5.0]  # phone and e-mail fit one line at 9 pt
    t = table(doc, widths, 7)
    rows = t.rows

    def label(cell, text):
        cell_text(cell, text, "QI 表格居中", font=HEADING_FONT)

    def value(cell, text, style="QI 表格文字", valign="center"):
        cell_text(cell, text, style, valign=valign)

    label(rows[0].cells[0], "单位名称")
    value(rows[0].cells[1].merge(rows[0].cells[5]), "{{ applicant }}")
    label(rows[1].cells[0], "地　　址")
    value(rows[1].cells[1].merge(rows[1].cells[5]), "{{ address }}")
    for row, who, prefix in ((rows[2], "负 责 人", "head"), (rows[3], "联 系 人", "contact")):
        label(row.cells[0], who)
        value(row.cells[1], "{{ %s }}" % prefix, "QI 表格居中")
        label(row.cells[2], "电话")
        cell_text(row.cells[3], "{{ %s_phone }}" % prefix, size=9)
        label(row.cells[4], "电子邮箱")
        cell_text(row.cells[5], "{{ %s_email }}" % prefix, size=9)
    label(rows[4].cells[0], "自查得分")
    value(rows[4].cells[1].merge(rows[4].cells[5]), "{{ self_score }}")
    label(rows[5].cells[0], "总体目标和要求")
    value(rows[5].cells[1].merge(rows[5].cells[5]), "{{ goals }}", valign="top")
    label(rows[6].cells[0], "自查情况总结报告")
    value(rows[6].cells[1].merge(rows[6].cells[5]), "{{ self_summary }}", valign="top")
    for i, row in enumerate(rows):
        # The two free-text rows may outgrow a page; every other row stays in one piece.
        _row_props(row, cant_split=i < 5, height_cm={5: 4.0, 6: 4.6}.get(i, 1.1))

    para(doc, "填表说明：", "QI 说明", font=HEADING_FONT).paragraph_format.space_before = Pt(12)
    for note in APPLICATION_NOTES:
        para(doc, note, "QI 说明")

    p = para(doc, "附：申请材料清单（第 6.2 条）", "Title")
    p.paragraph_format.page_break_before = True
    para(doc, "自我评价结果符合建设预期目标的，可向评价组织提出申请，申请材料包括：", "Normal")
    widths = [1.6, 7.4, 3.2, 3.4]
    t = table(doc, widths, 1)
    _row_props(t.rows[0], header=True, height_cm=0.9)
    for cell, text in zip(t.rows[0].cells, ("序号", "申请材料", "是否提交", "备注")):
        cell_text(cell, text, "QI 表头")
    for number, name in MATERIALS:
        row = t.add_row()
        _row_props(row, height_cm=1.1)
        cell_text(row.cells[0], number)
        cell_text(row.cells[1], name, "QI 表格文字")
        cell_text(row.cells[2], "□ 是　□ 否")
        cell_text(row.cells[3], "")
    para(doc, "")
    para(doc, "申报单位（盖章）：　　　　　　　　　　", "QI 说明").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    para(doc, "")
    para(doc, "日期：　　　　年　　月　　日　　", "QI 说明").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    return doc


# ───────────────────────────── Appendix C ─────────────────────────────

PROCESS = (
    ("首次会议", "{{ first_meeting }}",
     "专家组长主持会议，介绍参会人员，说明评价相关事宜、评价程序及要求，宣读评价纪律；专家组听取服务平台负责人汇报并进行交流和质询。"),
    ("现场考察", "{{ site_visit }}",
     "专家组实地考察，通过观察、与相关人员交谈、查看相关资料和记录，确认申请材料和汇报材料的真实性、符合性；按照附录 A 量化打分，填写评分表，做好改进建议和有关问题的现场记录。"),
    ("内部沟通", "{{ internal_meeting }}",
     "专家组就评价发现、打分情况进行内部沟通，形成评价结论意见，并就有关问题与服务平台负责人进行沟通。"),
    ("末次会议", "{{ last_meeting }}",
     "专家组长主持末次会议，通报评价情况，提出改进建议；服务平台负责人对持续改进工作做出承诺。"),
)


def _paragraphs(doc, var: str) -> None:
    """One body paragraph per list entry, printed as given (the text carries its own numbering)."""
    para(doc, "{%%p for t in %s %%}" % var)
    para(doc, "{{ t }}")
    para(doc, "{%p endfor %}")


def build_report() -> object:
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务评价报告"
    cover(
        doc,
        ["质量基础设施“一站式”服务", "评价报告{{ draft_mark }}"],
        [("服务名称", "{{ service_name }}"), ("申报单位", "{{ applicant }}"), ("评价日期", "{{ evaluation_date }}")],
        bottom="{{ organizer }}",
    )
    body_section(doc)
    para(doc, "质量基础设施“一站式”服务评价报告{{ draft_mark }}", "Title")

    para(doc, "一、基本情况", "Heading 1")
    basics = (
        ("服务名称", "{{ service_name }}"),
        ("申报单位", "{{ applicant }}"),
        ("地　　址", "{{ address }}"),
        ("负 责 人", "{{ head }}"),
        ("联 系 人", "{{ contact }}"),
        ("评价组织", "{{ organizer }}"),
        ("评价日期", "{{ evaluation_date }}"),
        ("专 家 组", "{{ panel_text }}"),
        ("自查得分", "{{ self_score }}"),
    )
    t = table(doc, [3.2, 12.4], len(basics))
    for row, (label, value) in zip(t.rows, basics):
        _row_props(row, height_cm=0.9)
        cell_text(row.cells[0], label, "QI 表格居中", font=HEADING_FONT)
        cell_text(row.cells[1], value, "QI 表格文字")

    para(doc, "二、评价依据", "Heading 1")
    para(doc, f"1．{STANDARD}及其附录 A《质量基础设施“一站式”服务评价表》；")
    para(doc, "2．DB43/T 2516—2022《质量基础设施“一站式”服务规范》；")
    para(doc, "3．申请方提交的评价申请表、自我评价记录、工作总结、相关制度、规划及实施方案等申请材料。")

    para(doc, "三、评价过程", "Heading 1")
    para(doc, "{{ process_text }}")
    para(doc, "{%p if excused_text %}")
    para(doc, "{{ excused_text }}")
    para(doc, "{%p endif %}")
    t = table(doc, [2.2, 4.6, 8.8], 1)
    _row_props(t.rows[0], header=True, height_cm=0.9)
    for cell, text in zip(t.rows[0].cells, ("阶段", "时间、地点", "主要内容")):
        cell_text(cell, text, "QI 表头")
    for stage, date, what in PROCESS:
        row = t.add_row()
        _row_props(row, height_cm=0.9)
        cell_text(row.cells[0], stage)
        cell_text(row.cells[1], date)
        cell_text(row.cells[2], what, "QI 表格文字")
    keep_together(t)

    para(doc, "四、评分结果", "Heading 1")
    para(doc, "{{ score_text }}")
    para(doc, "表1　一级指标得分", "QI 表题")
    widths = [1.6, 6.0, 2.4, 2.8, 2.8]
    t = table(doc, widths, 1)
    _row_props(t.rows[0], header=True, height_cm=0.9)
    for cell, text in zip(t.rows[0].cells, ("序号", "一级指标", "分值", "得分", "得分率（%）")):
        cell_text(cell, text, "QI 表头")
    loop_row(t, "{%tr for r in level1 %}")
    row = t.add_row()
    _row_props(row, height_cm=0.8)
    for cell, text in zip(row.cells, ("{{ r.id }}", "{{ r.name }}", "{{ r.max }}", "{{ r.score }}", "{{ r.rate }}")):
        cell_text(cell, text, "QI 表格文字" if text == "{{ r.name }}" else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    row = t.add_row()
    _row_props(row, height_cm=0.8)
    merged = row.cells[0].merge(row.cells[1])
    cell_text(merged, "合　计", "QI 表头")
    for cell, text in zip(row.cells[2:], ("{{ max_total }}", "{{ total }}", "{{ total_rate }}")):
        cell_text(cell, text, "QI 表格居中", bold=True)
    keep_together(t)

    para(doc, "表2　二级指标得分", "QI 表题")
    widths = [3.0, 1.6, 4.2, 2.0, 2.4, 2.4]
    t = table(doc, widths, 1)
    _row_props(t.rows[0], header=True, height_cm=0.9)
    for cell, text in zip(t.rows[0].cells, ("一级指标", "序号", "二级指标", "分值", "得分", "得分率（%）")):
        cell_text(cell, text, "QI 表头")
    # Nested loops so that {% vm %} merges the 一级指标 cell over its own second-level rows only.
    loop_row(t, "{%tr for g in level1 %}")
    loop_row(t, "{%tr for r in g.level2 %}")
    row = t.add_row()
    _row_props(row, height_cm=0.75)
    texts = ("{% vm %}{{ g.name }}", "{{ r.id }}", "{{ r.name }}", "{{ r.max }}", "{{ r.score }}", "{{ r.rate }}")
    for cell, text in zip(row.cells, texts):
        cell_text(cell, text, "QI 表格文字" if "r.name" in text else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    loop_row(t, "{%tr endfor %}")
    para(doc, "{{ rule_text }}", "QI 说明")

    # 五 and 六 are the panel's own words: the paragraphs of 专家组意见.docx, copied verbatim.
    para(doc, "五、专家组意见", "Heading 1")
    para(doc, "（一）主要亮点", "Heading 2")
    _paragraphs(doc, "highlights")
    para(doc, "（二）存在问题", "Heading 2")
    _paragraphs(doc, "problems")
    para(doc, "（三）改进建议", "Heading 2")
    _paragraphs(doc, "suggestions")

    para(doc, "六、评价结论", "Heading 1")
    _paragraphs(doc, "conclusions")

    p = para(doc, "专家组签字表", "Title")
    p.paragraph_format.page_break_before = True
    para(doc, "专家组成员对本报告的评价过程、评分结果和评价结论确认如下：")
    para(doc, "{%p if signature_note %}")
    para(doc, "{{ signature_note }}")
    para(doc, "{%p endif %}")
    widths = [1.3, 1.9, 3.1, 5.4, 1.4, 2.5]
    t = table(doc, widths, 1)
    _row_props(t.rows[0], header=True, height_cm=1.0)
    for cell, text in zip(t.rows[0].cells, ("序号", "姓名", "职称", "工作单位", "职务", "签字")):
        cell_text(cell, text, "QI 表头")
    loop_row(t, "{%tr for e in experts %}")
    row = t.add_row()
    _row_props(row, height_cm=1.5)
    texts = ("{{ e.number }}", "{{ e.name }}", "{{ e.title }}", "{{ e.employer }}", "{{ e.role }}", "")
    for cell, text in zip(row.cells, texts):
        cell_text(cell, text, "QI 表格文字" if "employer" in text else "QI 表格居中")
    loop_row(t, "{%tr endfor %}")
    para(doc, "")
    para(doc, "日期：　　　　年　　月　　日　　", "QI 说明").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    return doc


# ───────────────────────────── 专家组意见 (clause 8.3.1) ─────────────────────────────

OPINION_HEADINGS = ("一、主要亮点", "二、存在问题", "三、改进建议", "四、评价结论")


def build_opinion() -> object:
    """The panel leader's draft: exactly four level-1 headings, plain paragraphs under each.

    qi-excel report copies the paragraphs under each heading into the report verbatim, so
    the headings are fixed text and the draft's lists are plain paragraphs.
    """
    doc = new_document()
    doc.core_properties.title = "质量基础设施“一站式”服务评价专家组意见"
    page_numbers(doc, doc.sections[0])
    para(doc, "质量基础设施“一站式”服务评价专家组意见", "Title")
    p = para(doc, "服务名称：{{ service_name }}", "QI 说明")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = para(doc, "申报单位：{{ applicant }}", "QI 说明")
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p = para(doc, "（草稿：由程序根据专家评分表整理，请专家组组长修改定稿。四个一级标题请勿改动或增删；"
                  "生成评价报告时，各标题下的文字将原样写入报告的“五、专家组意见”和“六、评价结论”。"
                  "本段说明可删除。）", "QI 说明")
    p.paragraph_format.space_after = Pt(6)
    for heading, var in zip(OPINION_HEADINGS, ("highlights", "problems", "suggestions", "conclusion")):
        para(doc, heading, "Heading 1")
        _paragraphs(doc, var)
    return doc


def main(out: Path = HERE) -> list[Path]:
    written = []
    for name, build in (("评价申请表.docx", build_application), ("评价报告.docx", build_report),
                        ("专家组意见.docx", build_opinion)):
        target = out / name
        build().save(target)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(path)
