"""The official Word documents: Appendix B 评价申请表 and Appendix C 评价报告.

They are filed and signed, and organizers re-word them, so the layout lives in editable
templates (``docx_templates/``, filled by docxtpl) and this module only supplies values.
Because an organizer's edited template is untrusted input, it is checked before rendering:
every placeholder it uses must be one this module fills (a typo would otherwise print as an
empty cell in a signed document), and the parts a template cannot do without (the report's
signature rows, the score table) must be there. Expert text is escaped by docxtpl, so a
remark such as ``<w:p>`` or ``=HYPERLINK(...)`` prints literally.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .errors import QiError
from .lock import locked
from .evaluation import (
    ACCEPTED_DIR,
    APPLICATION_FILE,
    CONSOLIDATION_FILE,
    REPORT_FILE,
    SELF_ID,
    EvaluationInfo,
    Panel,
)
from .fileio import atomic_path, write_bytes_atomic

if TYPE_CHECKING:  # imported lazily at run time: docx and the consolidation are heavy
    from .consolidate import Consolidation

TEMPLATE_KIND = "docx_templates"
APPLICATION_TEMPLATE = APPLICATION_FILE  # 评价申请表.docx
REPORT_TEMPLATE = REPORT_FILE  # 评价报告.docx
DRAFT_REPORT_FILE = "评价报告（草稿）.docx"
DRAFT_MARK = "\n（草稿）"  # on its own line under the title
WATERMARK_TEXT = "草稿"
DRAFT_HEADER = "草稿　未经专家组签字确认，不作为正式评价结论"

NOT_GIVEN = "—"
HANDWRITTEN_DATE = "　　　　年　　月　　日"
MAX_PROBLEMS = 10  # the report lists the largest losses; the rest are in 汇总表.xlsx
MAX_HIGHLIGHTS = 5
REMARK_BUDGET = 150  # characters of remarks quoted per problem; all of them are in 汇总表.xlsx

# What a template cannot do without; any other placeholder may be deleted by the organizer.
APPLICATION_REQUIRED = frozenset({"service_name", "applicant"})
REPORT_REQUIRED = frozenset({"service_name", "applicant", "total", "level1", "experts"})


# ───────────────────────────── values (pure) ─────────────────────────────

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean_text(value: str) -> str:
    """Text as it may go into a Word run.

    XML forbids most control characters, and docxtpl turns ``\\a``/``\\f`` into new
    paragraphs/page breaks, so an expert's stray control character must not reshape the
    document; ``\\n`` stays a line break, ``\\t`` a tab.
    """
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").replace("\a", " ").replace("\f", " ")
    return _ILLEGAL_XML.sub(" ", text)


def or_dash(value: str) -> str:
    value = clean_text(value).strip()
    return value if value else NOT_GIVEN


def chinese_date(value: str, *, blank: str = NOT_GIVEN) -> str:
    """A leading ``2024-05-20`` becomes ``2024年5月20日``; times, places and other wording stay."""
    value = clean_text(value).strip()
    if not value:
        return blank
    m = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[\sT])", value)
    if m:
        return f"{int(m[1])}年{int(m[2])}月{int(m[3])}日" + value[m.end():]
    return value


def fmt_decimal(value: Decimal, places: int) -> str:
    """Print a score with exactly ``places`` decimals, rounding half up (never via float)."""
    quantum = Decimal(1).scaleb(-places) if places else Decimal(1)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def fmt_points(value: Decimal) -> str:
    """A total as the person wrote it: ``856`` rather than ``856.00`` when it is whole."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.normalize())


@dataclass(frozen=True)
class SelfScore:
    """The applicant's self-evaluation total and where it came from (for the CLI to say)."""

    total: Decimal | None
    source: str  # "consolidation", "workbook" or "" (none collected)


def application_context(info: EvaluationInfo, self_score: SelfScore) -> dict[str, Any]:
    return {
        "service_name": or_dash(info.service_name),
        "applicant": or_dash(info.applicant),
        "application_date": chinese_date(info.application_date, blank=HANDWRITTEN_DATE),
        "address": or_dash(info.address),
        "head": or_dash(info.head),
        "head_phone": or_dash(info.head_phone),
        "head_email": or_dash(info.head_email),
        "contact": or_dash(info.contact),
        "contact_phone": or_dash(info.contact_phone),
        "contact_email": or_dash(info.contact_email),
        "self_score": f"{fmt_points(self_score.total)} 分" if self_score.total is not None else NOT_GIVEN,
        "goals": clean_text(info.goals).strip(),
        "self_summary": clean_text(info.self_summary).strip(),
    }


def _date_part(stamp: str) -> str:
    m = re.match(r"\d{4}-\d{1,2}-\d{1,2}", stamp or "")
    return m.group(0) if m else ""


INTERNAL_MEETING_FALLBACK = "现场考察后、末次会议前"


def internal_meeting(info: EvaluationInfo, cons: "Consolidation") -> str:
    """When 内部沟通 (8.3) took place.

    The organizer's 基本信息 row 内部沟通 wins. When it is blank, the consolidation (the
    discussion's result) gives the date if it falls between the site visit and the last
    meeting; a consolidation re-run later must not print a date after the 末次会议, so then
    the report states the order of the procedure instead.
    """
    own = clean_text(info.internal_meeting).strip()
    if own:
        return chinese_date(own)
    day = _date_part(cons.created_at)
    start, end = _date_part(info.site_visit), _date_part(info.last_meeting)
    if day and start and end and _iso(start) <= _iso(day) <= _iso(end):
        return chinese_date(day)
    return INTERNAL_MEETING_FALLBACK


def _iso(day: str) -> tuple[int, ...]:
    return tuple(int(x) for x in day.split("-"))


def _highlights(cons: "Consolidation") -> list[str]:
    """Second-level indicators the panel scored highest: full or ≥ 90 %, else the best three."""
    places = cons.decimals
    ranked = sorted(cons.level2, key=lambda s: (-s.rate, s.id))
    strong = [s for s in ranked if s.rate >= 90]
    chosen = (strong or ranked[:3])[:MAX_HIGHLIGHTS]
    out = []
    for s in chosen:
        if s.score == s.max:
            out.append(f"“{s.name}”（{s.max} 分）获得满分。")
        else:
            out.append(
                f"“{s.name}”得分 {fmt_decimal(s.score, places)} 分（满分 {s.max} 分），"
                f"得分率 {fmt_decimal(s.rate, places)}%。"
            )
    return out


def _one_line(text: str) -> str:
    """Remarks of items with parts come one per line; in a report sentence they become clauses."""
    parts = [p.strip().rstrip("。；;，,") for p in clean_text(text).split("\n")]
    return "；".join(p for p in parts if p)


def _problems(cons: "Consolidation") -> list[str]:
    """The largest losses with what the experts wrote about them (names left out: one panel)."""
    places = cons.decimals
    losses = [lp for lp in cons.lost if lp.lost > 0]
    out = []
    for lp in losses[:MAX_PROBLEMS]:
        text = (
            f"{clean_text(lp.label)}：满分 {lp.max} 分，专家组得分 {fmt_decimal(lp.score, places)} 分，"
            f"失分 {fmt_decimal(lp.lost, places)} 分"
        )
        remarks: list[str] = []
        for entry in getattr(lp, "remarks", ()):
            remark = _one_line(entry[1] if isinstance(entry, (tuple, list)) else entry)
            if remark and remark not in remarks:
                remarks.append(remark)
        shown: list[str] = []
        for remark in remarks:
            used = sum(len(r) for r in shown)
            if shown and used + len(remark) > REMARK_BUDGET:
                break
            shown.append(remark if len(remark) <= REMARK_BUDGET else remark[:REMARK_BUDGET] + "……")
        if shown:
            more = f"（另有 {len(remarks) - len(shown)} 条意见见汇总表）" if len(remarks) > len(shown) else ""
            text += "。专家意见：" + "；".join(shown) + more
        out.append(text + "。")
    return out or ["各评分项均获满分，未发现失分问题。"]


def _problems_note(cons: "Consolidation") -> str:
    losses = sum(1 for lp in cons.lost if lp.lost > 0)
    if losses > MAX_PROBLEMS:
        return f"以上为失分最多的 {MAX_PROBLEMS} 个评分项，其余 {losses - MAX_PROBLEMS} 个评分项的失分情况见汇总表。"
    return ""


def _suggestions(cons: "Consolidation") -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for s in cons.suggestions:
        text = clean_text(s.text).strip()
        if not text or text in seen:
            continue
        seen.add(text)
        ref = clean_text(s.ref).strip()
        out.append(f"{text}（涉及：{ref}）" if ref else text)
    return out or ["专家组未提出书面改进建议。"]


def _indicator_row(s: Any, places: int) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "max": s.max, "score": fmt_decimal(s.score, places),
            "rate": fmt_decimal(s.rate, places)}


def report_context(info: EvaluationInfo, panel: Panel, cons: "Consolidation", *, draft: bool = False) -> dict[str, Any]:
    places = cons.decimals
    level1_names = {s.id: s.name for s in cons.level1}
    leader = next((e for e in panel.experts if e.role == "组长"), None)
    service = or_dash(info.service_name)
    applicant = or_dash(info.applicant)
    organizer = clean_text(info.organizer).strip()
    total = fmt_decimal(cons.total, places)
    rate = fmt_decimal(cons.rate, places)

    panel_text = f"共 {len(panel.experts)} 人"
    if leader is not None:
        panel_text += f"，组长 {clean_text(leader.name)}"
    self_score = (
        f"{fmt_points(cons.self_total)} 分" if cons.self_total is not None else "未提交自查评分表"
    )
    process_text = (
        f"{organizer + '组织' if organizer else ''}专家组对{applicant}承担的{service}进行了评价，"
        "按照首次会议、现场考察、内部沟通、末次会议的程序实施，各阶段情况如下。"
    )
    score_text = (
        f"专家组 {len(cons.experts)} 名专家按照附录 A 独立量化打分，各打分格的专家组得分取"
        f"{cons.method_label}。评价总得分为 {total} 分（满分 {cons.max_total} 分），得分率 {rate}%"
    )
    if cons.self_total is not None:
        score_text += f"；申请方自查得分 {fmt_points(cons.self_total)} 分"
    score_text += "。各一级、二级指标得分见表1、表2。"

    level1 = [_indicator_row(s, places) for s in cons.level1]
    level2 = [dict(_indicator_row(s, places), parent=s.parent, level1=level1_names.get(s.parent, ""))
              for s in cons.level2]
    ranked = sorted(cons.level1, key=lambda s: (-s.rate, s.id))
    conclusion = (
        f"经专家组现场考察、独立评分和内部沟通，{applicant}承担的{service}评价总得分为 {total} 分"
        f"（满分 {cons.max_total} 分），得分率 {rate}%。"
    )
    if len(ranked) >= 2:
        best, worst = ranked[0], ranked[-1]
        conclusion += (
            f"一级指标中“{best.name}”得分率最高（{fmt_decimal(best.rate, places)}%），"
            f"“{worst.name}”得分率最低（{fmt_decimal(worst.rate, places)}%）。"
        )
    conclusion += "专家组建议申请方针对本报告所列存在问题和改进建议持续改进。"

    return {
        "draft_mark": DRAFT_MARK if draft else "",
        "service_name": service,
        "applicant": applicant,
        "address": or_dash(info.address),
        "head": or_dash(info.head),
        "contact": or_dash(info.contact),
        "organizer": organizer,
        "evaluation_date": chinese_date(info.evaluation_date),
        "first_meeting": chinese_date(info.first_meeting),
        "site_visit": chinese_date(info.site_visit),
        "internal_meeting": internal_meeting(info, cons),
        "last_meeting": chinese_date(info.last_meeting),
        "panel_text": panel_text,
        "self_score": self_score,
        "process_text": process_text,
        "score_text": score_text,
        "rule_text": clean_text(cons.rule_text()),
        # level1 rows carry their own level2 rows (for a table grouped by first-level
        # indicator); the flat level2 list is there for templates that want one loop.
        "level1": [dict(row, level2=[r for r in level2 if r["parent"] == row["id"]]) for row in level1],
        "level2": level2,
        "max_total": cons.max_total,
        "total": total,
        "total_rate": rate,
        "highlights": _highlights(cons),
        "problems": _problems(cons),
        "problems_note": _problems_note(cons),
        "suggestions": _suggestions(cons),
        "conclusion": conclusion,
        "experts": [
            {"number": e.number, "name": clean_text(e.name), "title": clean_text(e.title),
             "employer": clean_text(e.employer), "role": clean_text(e.role)}
            for e in sorted(panel.experts, key=lambda e: e.number)
        ],
    }


# ───────────────────────────── templates ─────────────────────────────


def shipped_template(name: str) -> Path:
    from .resources import template_path

    try:
        return template_path(TEMPLATE_KIND, name)
    except FileNotFoundError:
        raise QiError(f"安装不完整：找不到内置模板 {name}。请重新安装 qi-excel。") from None


def _open_template(path: Path):
    """Open a .docx template, turning every way it can be unusable into one clear message."""
    from docxtpl import DocxTemplate

    path = Path(path)
    if not path.is_file():
        raise QiError(f"模板文件 {path} 不存在。")
    if path.suffix.lower() != ".docx":
        raise QiError(f"模板文件 {path.name} 不是 .docx 文件。请在 Word/WPS 中“另存为”Word 文档（*.docx）后再使用。")
    tpl = DocxTemplate(str(path))
    try:
        tpl.init_docx()
    except Exception as exc:  # zipfile/lxml/python-docx raise many types for a broken file
        raise QiError(f"模板文件 {path.name} 无法打开，不是有效的 Word 文档（.docx）：{type(exc).__name__}") from None
    return tpl


def _jinja_env():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def template_variables(path: Path) -> set[str]:
    """The names a template's placeholders use (loop variables excluded)."""
    import jinja2

    tpl = _open_template(path)
    try:
        return set(tpl.get_undeclared_template_variables(_jinja_env()))
    except jinja2.TemplateSyntaxError as exc:
        raise QiError(
            f"模板文件 {Path(path).name} 中的占位符写法有误：{exc.message}。"
            "请检查 {{ }} 与 {% %} 是否完整、成对。"
        ) from None


def check_template(path: Path, provided: Mapping[str, Any], required: frozenset[str]) -> None:
    """Refuse a template whose placeholders do not match what this module fills in."""
    used = template_variables(path)
    unknown = sorted(used - set(provided))
    missing = sorted(required - used)
    problems = []
    if unknown:
        problems.append("无法识别的占位符：" + "、".join("{{ %s }}" % n for n in unknown))
    if missing:
        problems.append("缺少必需的占位符：" + "、".join(missing))
    if problems:
        known = "、".join(sorted(provided))
        raise QiError(
            f"模板文件 {Path(path).name} 与程序不匹配。" + "；".join(problems)
            + f"。可用的占位符有：{known}。可用 qi-excel templates export 导出内置模板对照修改。"
        )


def render_template(path: Path, context: Mapping[str, Any], required: frozenset[str], target: Path,
                    *, watermark: str | None = None) -> Path:
    """Check, fill and atomically save one document."""
    import jinja2

    check_template(path, context, required)
    tpl = _open_template(path)
    if watermark:
        # Before rendering: docxtpl re-creates the header parts it renders, so a change made
        # afterwards would land on a discarded copy.
        add_watermark(tpl.docx, watermark, DRAFT_HEADER)
    try:
        tpl.render(dict(context), _jinja_env(), autoescape=True)
    except jinja2.UndefinedError as exc:
        raise QiError(f"模板文件 {Path(path).name} 引用了不存在的字段：{exc.message}") from None
    except jinja2.TemplateError as exc:
        raise QiError(f"模板文件 {Path(path).name} 无法填写：{exc.message}") from None
    with atomic_path(target) as tmp:
        tpl.save(str(tmp))
    return target


# ───────────────────────────── draft watermark ─────────────────────────────

_WATERMARK_XML = (
    '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:rPr><w:noProof/></w:rPr>"
    '<w:pict xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
    'xmlns:w10="urn:schemas-microsoft-com:office:word">'
    '<v:shapetype id="_x0000_t136" coordsize="21600,21600" o:spt="136" adj="10800" '
    'path="m@7,l@8,m@5,21600l@6,21600e">'
    "<v:formulas>"
    '<v:f eqn="sum #0 0 10800"/><v:f eqn="prod #0 2 1"/><v:f eqn="sum 21600 0 @1"/>'
    '<v:f eqn="sum 0 0 @2"/><v:f eqn="sum 21600 0 @3"/><v:f eqn="if @0 @3 0"/>'
    '<v:f eqn="if @0 21600 @1"/><v:f eqn="if @0 0 @2"/><v:f eqn="if @0 @4 21600"/>'
    '<v:f eqn="mid @5 @6"/><v:f eqn="mid @8 @5"/><v:f eqn="mid @7 @8"/><v:f eqn="mid @6 @7"/>'
    '<v:f eqn="sum @6 0 @5"/>'
    "</v:formulas>"
    '<v:path textpathok="t" o:connecttype="custom" o:connectlocs="@9,0;@10,10800;@11,21600;@12,10800" '
    'o:connectangles="270,180,90,0"/>'
    '<v:textpath on="t" fitshape="t"/>'
    '<o:lock v:ext="edit" text="t" shapetype="t"/>'
    "</v:shapetype>"
    '<v:shape id="PowerPlusWaterMarkObject{n}" o:spid="_x0000_s{spid}" type="#_x0000_t136" '
    'style="position:absolute;margin-left:0;margin-top:0;width:360pt;height:180pt;rotation:315;'
    "z-index:-251657216;mso-position-horizontal:center;mso-position-horizontal-relative:margin;"
    'mso-position-vertical:center;mso-position-vertical-relative:margin" '
    'o:allowincell="f" fillcolor="#c0c0c0" stroked="f">'
    '<v:fill opacity=".5"/>'
    '<v:textpath style="font-family:&quot;{font}&quot;;font-size:1pt" string="{text}"/>'
    '<w10:wrap anchorx="margin" anchory="margin"/>'
    "</v:shape></w:pict></w:r>"
)


def add_watermark(document, text: str, header_text: str) -> None:
    """Put Word's own kind of text watermark (and a header line) on every page.

    Word, WPS and LibreOffice all recognise the ``PowerPlusWaterMarkObject`` VML shape as a
    watermark (设计 → 水印), so an organizer can also remove it the ordinary way.
    """
    from docx.oxml import parse_xml
    from docx.oxml.ns import qn
    from docx.shared import RGBColor
    from xml.sax.saxutils import quoteattr

    n = 0
    for index, section in enumerate(document.sections):
        headers = [section.header]
        if section.different_first_page_header_footer:
            headers.append(section.first_page_header)
        for header in headers:
            if header.is_linked_to_previous and index > 0:
                continue
            header.is_linked_to_previous = False
            n += 1
            paragraph = header.paragraphs[0] if header.paragraphs else header.add_paragraph()
            run = paragraph.add_run(header_text)
            rpr = run._r.get_or_add_rPr()
            fonts = rpr.get_or_add_rFonts()
            fonts.set(qn("w:eastAsia"), "黑体")
            fonts.set(qn("w:ascii"), "Times New Roman")
            fonts.set(qn("w:hAnsi"), "Times New Roman")
            run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
            xml = _WATERMARK_XML.format(n=n, spid=2048 + n, font="黑体", text=quoteattr(text)[1:-1])
            paragraph._p.append(parse_xml(xml))


# ───────────────────────────── folder operations ─────────────────────────────


def self_score(folder: Path) -> SelfScore:
    """The self-evaluation total: the consolidation's if there is one, else the workbook's sum."""
    folder = Path(folder)
    if (folder / CONSOLIDATION_FILE).is_file():
        from .consolidate import load_consolidation

        cons = load_consolidation(folder)
        if cons.self_total is not None:
            return SelfScore(Decimal(cons.self_total), "consolidation")
    if (folder / ACCEPTED_DIR).is_dir():
        from .collect import load_accepted

        for wb in load_accepted(folder):
            if wb.kind == "self" or wb.expert_id == SELF_ID:
                return SelfScore(Decimal(sum(wb.int_scores().values())), "workbook")
    return SelfScore(None, "")


def _pdf(docx_path: Path) -> list[Path]:
    """A PDF beside the .docx when LibreOffice is installed; nothing (and no error) otherwise."""
    from . import office

    if office.soffice_path() is None:
        return []
    with tempfile.TemporaryDirectory(prefix="qi-pdf-") as tmp:
        produced = office.convert(docx_path, "pdf", tmp)
        target = docx_path.with_suffix(".pdf")
        write_bytes_atomic(target, produced.read_bytes())
    return [target]


@locked("application")
def write_application(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """评价申请表.docx (and .pdf) from 评价项目.xlsx and the collected self-evaluation."""
    from .evaluation import load_project

    folder = Path(folder)
    info, _panel = load_project(folder)
    context = application_context(info, self_score(folder))
    source = Path(template) if template else shipped_template(APPLICATION_TEMPLATE)
    target = render_template(source, context, APPLICATION_REQUIRED, folder / APPLICATION_FILE)
    return [target] + (_pdf(target) if pdf else [])


@locked("report")
def write_report(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False,
                 draft: bool = False) -> list[Path]:
    """评价报告.docx from the consolidation; a draft consolidation only with ``draft=True``."""
    from .consolidate import load_consolidation
    from .evaluation import load_project

    folder = Path(folder)
    cons = load_consolidation(folder)
    if cons.draft and not draft:
        raise QiError(
            "当前汇总结果是草稿（专家评分未全部回收或人数不足），不能据此出具正式评价报告。"
            "请补齐专家评分后重新汇总；如只需预览，请加 --draft 生成带“草稿”水印的报告。"
        )
    info, panel = load_project(folder)
    context = report_context(info, panel, cons, draft=draft)
    source = Path(template) if template else shipped_template(REPORT_TEMPLATE)
    target = folder / (DRAFT_REPORT_FILE if draft else REPORT_FILE)
    render_template(source, context, REPORT_REQUIRED, target, watermark=WATERMARK_TEXT if draft else None)
    return [target] + (_pdf(target) if pdf else [])


def export_templates(dest: str | Path) -> list[Path]:
    """Copy the shipped templates out for editing; never overwrite an organizer's edits."""
    dest = Path(dest)
    names = (APPLICATION_TEMPLATE, REPORT_TEMPLATE)
    existing = [n for n in names if (dest / n).exists()]
    if existing:
        raise QiError(f"{dest} 中已有 {'、'.join(existing)}，为免覆盖已修改的模板，未导出。请换一个文件夹或先移走这些文件。")
    written = []
    for name in names:
        source = shipped_template(name)
        with atomic_path(dest / name) as tmp:
            shutil.copyfile(source, tmp)
        written.append(dest / name)
    return written
