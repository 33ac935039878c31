"""The official Word documents: Appendix B 评价申请表 and Appendix C 评价报告.

They are filed and signed, and organizers re-word them, so the layout lives in editable
templates (``docx_templates/``, filled by docxtpl) and this module only supplies values.
Because an organizer's edited template is untrusted input, it is checked before rendering:
every placeholder it uses must be one this module fills (a typo would otherwise print as an
empty cell in a signed document), and the parts a template cannot do without (the report's
signature rows, the score table) must be there. Expert text is escaped by docxtpl, so a
remark such as ``<w:p>`` or ``=HYPERLINK(...)`` prints literally.

A template is also code: every document is rendered by ``render_template`` only, which
refuses what a document template has no use for (see ``template_guard``: calls, ``{% set %}``,
imports, underscore attributes, external links and fetching fields) and renders in jinja2's
sandbox. A new document needs only its template, its context and its required names.
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
    from .opinion import Opinion

TEMPLATE_KIND = "docx_templates"
APPLICATION_TEMPLATE = APPLICATION_FILE  # 评价申请表.docx
REPORT_TEMPLATE = REPORT_FILE  # 评价报告.docx
DRAFT_REPORT_FILE = "评价报告（草稿）.docx"
DRAFT_MARK = "\n（草稿）"  # on its own line under the title
WATERMARK_TEXT = "草稿"
DRAFT_HEADER = "草稿　未经专家组签字确认，不作为正式评价结论"

NOT_GIVEN = "—"
HANDWRITTEN_DATE = "　　　　年　　月　　日"

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


def method_note(cons: "Consolidation") -> str:
    """How the panel score was formed, in one sentence for a reader of the report."""
    d = cons.decimals
    places = f"保留 {d} 位小数" if d else "取整数"
    return (f"注：各打分格的专家组得分取 {len(cons.experts)} 名专家评分的{cons.method_label}，"
            f"四舍五入{places}；各级指标得分和总分为其所含评分项得分之和。")


def _because(reason: str) -> str:
    text = clean_text(reason).strip().rstrip("。；;，,")
    return text if text.startswith(("因", "由于")) else "因" + text


def excused_sentence(cons: "Consolidation") -> str:
    """Who was excused and why, as the report states it (empty when nobody was)."""
    if not cons.excused:
        return ""
    who = "；".join(f"{clean_text(x.expert)}{_because(x.reason)}" for x in cons.excused)
    return (f"专家组成员{who}，未参加本次评价，其评分不计入评价结果；"
            f"实到 {len(cons.experts)} 名专家参加评价并在评价报告上签字。")


def _indicator_row(s: Any, places: int) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "max": s.max, "score": fmt_decimal(s.score, places),
            "rate": fmt_decimal(s.rate, places)}


def report_context(info: EvaluationInfo, panel: Panel, cons: "Consolidation", opinion: "Opinion | None" = None,
                   *, draft: bool = False) -> dict[str, Any]:
    """The report's values; ``opinion`` (专家组意见.docx's text) fills 五 and 六 verbatim.

    Without ``opinion`` the draft prepared from the data is used (tests, previews).
    """
    places = cons.decimals
    level1_names = {s.id: s.name for s in cons.level1}
    leader = next((e for e in panel.experts if e.role == "组长"), None)
    service = or_dash(info.service_name)
    applicant = or_dash(info.applicant)
    organizer = clean_text(info.organizer).strip()
    total = fmt_decimal(cons.total, places)
    rate = fmt_decimal(cons.rate, places)

    excused_ids = {x.expert_id for x in cons.excused}
    panel_text = f"共 {len(panel.experts)} 人"
    if cons.excused:
        panel_text += f"，实到 {len(cons.experts)} 人"
    if leader is not None:
        panel_text += f"，组长 {clean_text(leader.name)}"
    if cons.excused:
        panel_text += "；" + "；".join(f"{clean_text(x.expert)}请假（{clean_text(x.reason).rstrip('。')}）"
                                      for x in cons.excused)
    if opinion is None:
        from .opinion import draft_opinion

        opinion = draft_opinion(cons)
    self_score = (
        f"{fmt_points(cons.self_total)} 分" if cons.self_total is not None else "未提交自查评分表"
    )
    process_text = (
        f"{organizer + '组织' if organizer else ''}专家组对{applicant}承担的{service}进行了评价，"
        "按照首次会议、现场考察、内部沟通、末次会议的程序实施，各阶段情况如下。"
    )
    score_text = (
        f"{'实到的 ' if cons.excused else '专家组 '}{len(cons.experts)} 名专家按照附录 A 独立量化打分，各打分格的专家组得分取"
        f"{cons.method_label}。评价总得分为 {total} 分（满分 {cons.max_total} 分），得分率 {rate}%"
    )
    if cons.self_total is not None:
        score_text += f"；申请方自查得分 {fmt_points(cons.self_total)} 分"
    score_text += "。各一级、二级指标得分见表1、表2。"

    level1 = [_indicator_row(s, places) for s in cons.level1]
    level2 = [dict(_indicator_row(s, places), parent=s.parent, level1=level1_names.get(s.parent, ""))
              for s in cons.level2]
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
        "excused_text": excused_sentence(cons),
        "score_text": score_text,
        "rule_text": method_note(cons),
        # level1 rows carry their own level2 rows (for a table grouped by first-level
        # indicator); the flat level2 list is there for templates that want one loop.
        "level1": [dict(row, level2=[r for r in level2 if r["parent"] == row["id"]]) for row in level1],
        "level2": level2,
        "max_total": cons.max_total,
        "total": total,
        "total_rate": rate,
        # 五、专家组意见 (一)(二)(三) and 六、评价结论: 专家组意见.docx paragraph for paragraph.
        "highlights": [clean_text(t) for t in opinion.highlights],
        "problems": [clean_text(t) for t in opinion.problems],
        "problems_note": "",  # kept for templates exported by earlier versions
        "suggestions": [clean_text(t) for t in opinion.suggestions],
        "conclusions": [clean_text(t) for t in opinion.conclusion],
        "conclusion": "\n".join(clean_text(t) for t in opinion.conclusion),  # earlier templates
        # The signature table lists the members who took part (excused members do not sign).
        "experts": [
            {"number": e.number, "name": clean_text(e.name), "title": clean_text(e.title),
             "employer": clean_text(e.employer), "role": clean_text(e.role)}
            for e in sorted(panel.experts, key=lambda e: e.number) if e.expert_id not in excused_ids
        ],
        "signature_note": (
            "未参加评价、不在本表签字的专家：" + "；".join(
                f"{clean_text(x.expert)}（{clean_text(x.reason).rstrip('。')}）" for x in cons.excused) + "。"
            if cons.excused else ""
        ),
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
    """The only environment a template is ever parsed or rendered in (see template_guard)."""
    from .template_guard import TemplateSandbox

    return TemplateSandbox()


def _parsed_sources(tpl, path: Path, env) -> list[tuple[str, Any]]:
    """(part, Jinja AST) of every part docxtpl will render; a syntax error is the organizer's."""
    import jinja2

    from .template_guard import docx_sources, syntax_error_text

    out = []
    for part, source in docx_sources(tpl):
        try:
            out.append((part, env.parse(source)))
        except jinja2.TemplateSyntaxError as exc:
            raise QiError(
                f"模板文件 {Path(path).name} 中的占位符写法有误（{part}）：{syntax_error_text(exc.message or '')}。"
                "请检查 {{ }} 与 {% %} 是否完整、成对。"
            ) from None
    return out


def template_variables(path: Path) -> set[str]:
    """The names a template's placeholders use (loop variables excluded)."""
    from .template_guard import used_names

    env = _jinja_env()
    used: set[str] = set()
    for _part, ast in _parsed_sources(_open_template(path), path, env):
        used |= used_names(ast)
    return used


def _checked_template(path: Path, provided: Mapping[str, Any], required: frozenset[str]):
    """Open a template and refuse it unless it is safe to render with ``provided``.

    In this order: what the package would fetch from outside, constructs a document template
    has no use for (the sandbox's allow-list), then placeholders that do not match.
    """
    from .template_guard import field_names, jinja_problems, package_problems, used_names

    name = Path(path).name
    tpl = _open_template(path)
    external = package_problems(Path(path))
    if external:
        raise QiError(
            f"模板文件 {name} 含有指向外部的链接或域，生成的文档在打开时会去读取这些外部内容，已拒绝使用："
            + "；".join(external[:10]) + (f"；另有 {len(external) - 10} 处" if len(external) > 10 else "")
            + "。请在 Word/WPS 中删除这些链接、链接的图片或域后重新保存模板。"
        )
    env = _jinja_env()
    fields = field_names(provided)
    problems: list[str] = []
    unknown: set[str] = set()
    used: set[str] = set()
    for part, ast in _parsed_sources(tpl, path, env):
        found, names = jinja_problems(ast, provided, fields)
        problems += [f"{p}（{part}）" for p in found if f"{p}（{part}）" not in problems]
        unknown |= names
        used |= used_names(ast)
    if problems:
        problems += ["名称“%s”" % n for n in sorted(unknown)]
        raise QiError(
            f"模板文件 {name} 含有不允许的模板代码，已拒绝使用（模板只能使用占位符 {{{{ 名称 }}}}、"
            "{% if %} 和 {% for %}，以防模板在本机执行命令）：" + "；".join(problems[:12])
            + (f"；另有 {len(problems) - 12} 处" if len(problems) > 12 else "") + "。"
        )
    missing = sorted(required - used)
    messages = []
    if unknown:
        messages.append("无法识别的占位符：" + "、".join("{{ %s }}" % n for n in sorted(unknown)))
    if missing:
        messages.append("缺少必需的占位符：" + "、".join(missing))
    if messages:
        known = "、".join(sorted(provided))
        raise QiError(
            f"模板文件 {name} 与程序不匹配。" + "；".join(messages)
            + f"。可用的占位符有：{known}。可用 qi-excel templates export 导出内置模板对照修改。"
        )
    return tpl


def check_template(path: Path, provided: Mapping[str, Any], required: frozenset[str]) -> None:
    """Refuse a template that is unsafe or whose placeholders do not match what is filled in."""
    _checked_template(path, provided, required)


def render_template(path: Path, context: Mapping[str, Any], required: frozenset[str], target: Path,
                    *, watermark: str | None = None) -> Path:
    """Check, fill and atomically save one document: the one way every document is rendered.

    The template is checked first (``_checked_template``: no external links, only allowed
    constructs, matching placeholders) and then rendered in the sandbox; table-cell
    properties are put back into schema order afterwards (docxtpl's ``{% vm %}`` appends
    ``w:vMerge`` after ``w:vAlign``, which Word's schema forbids).
    """
    import jinja2
    from jinja2.exceptions import SecurityError

    from .template_guard import undefined_text, syntax_error_text

    tpl = _checked_template(path, context, required)
    if watermark:
        # Before rendering: docxtpl re-creates the header parts it renders, so a change made
        # afterwards would land on a discarded copy.
        add_watermark(tpl.docx, watermark, DRAFT_HEADER)
    try:
        tpl.render(dict(context), _jinja_env(), autoescape=True)
    except SecurityError as exc:
        ours = str(exc) if re.search("[\u4e00-\u9fff]", str(exc)) else "访问了不允许的属性或函数"
        raise QiError(f"模板文件 {Path(path).name} 含有不允许的模板代码，已停止填写：{ours}。") from None
    except jinja2.UndefinedError as exc:
        name = undefined_text(exc.message or "")
        raise QiError(f"模板文件 {Path(path).name} 引用了不存在的字段{('“' + name + '”') if name else ''}。") from None
    except jinja2.TemplateError as exc:
        raise QiError(f"模板文件 {Path(path).name} 无法填写：{syntax_error_text(exc.message or '')}。") from None
    fix_cell_property_order(tpl.docx)
    drop_styles_with_effects(tpl.docx)
    with atomic_path(target) as tmp:
        tpl.save(str(tmp))
    record_rendered(target)
    return target


RENDERED_FILE = ".qi/rendered.json"


def _file_sha(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def rendered_records(folder: str | Path) -> dict[str, dict[str, str]]:
    """What each document in the folder was made from (see ``record_rendered``); {} if unknown."""
    import json

    try:
        data = json.loads((Path(folder) / RENDERED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)
            and all(isinstance(x, str) for x in v.values())}


def record_rendered(target: Path, *, source: Path | None = None) -> None:
    """Note in the evaluation folder which consolidation (and, for a PDF, which .docx) a written
    document comes from, so the archive can refuse a document older than the results it
    would be filed with (a PDF left from before a correction)."""
    import json

    target = Path(target)
    folder = target.parent
    if not (folder / ".qi").is_dir():
        return  # not an evaluation folder (a document written elsewhere)
    records = rendered_records(folder)
    consolidation = folder / CONSOLIDATION_FILE
    records[target.name] = {
        "sha256": _file_sha(target),
        "consolidation": _file_sha(consolidation) if consolidation.is_file() else "",
        "from": _file_sha(source) if source is not None else "",
    }
    write_bytes_atomic(folder / RENDERED_FILE,
                       (json.dumps(records, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def drop_styles_with_effects(document) -> None:
    """Drop Word 2010's stylesWithEffects.xml: a second copy of the styles that an edited
    template no longer keeps in step with styles.xml (Word 2013 and later ignore it; a stale
    one is what validators report as a styles mismatch)."""
    for rid, rel in list(document.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            document.part.drop_rel(rid)


# CT_TcPr's sequence (ECMA-376 Part 1, 17.4.70): Word refuses children out of this order.
_TCPR_ORDER = ("cnfStyle", "tcW", "gridSpan", "hMerge", "vMerge", "tcBorders", "shd", "noWrap", "tcMar",
               "textDirection", "tcFitText", "vAlign", "hideMark", "headers", "cellIns", "cellDel",
               "cellMerge", "tcPrChange")


def fix_cell_property_order(document) -> int:
    """Put every table cell's properties into schema order in every part; returns cells fixed."""
    from docx.oxml.ns import qn

    rank = {qn("w:" + n): i for i, n in enumerate(_TCPR_ORDER)}
    fixed = 0
    for part in document.part.package.iter_parts():
        element = getattr(part, "_element", None)
        if element is None:
            continue
        for tcpr in element.iter(qn("w:tcPr")):
            children = list(tcpr)
            ordered = sorted(children, key=lambda c: rank.get(c.tag, len(rank)))
            if ordered != children:
                for child in children:
                    tcpr.remove(child)
                tcpr.extend(ordered)
                fixed += 1
    return fixed


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
    record_rendered(target, source=docx_path)
    return [target]


NO_SELF_EVALUATION = ("注意：尚未回收申请方的自我评价记录表，申请表中“自查得分”一栏为“—”。"
                      "请发放自评表（qi-excel issue --self）并回收（qi-excel collect）后重新生成。")


@dataclass(frozen=True)
class Written:
    """Files a document command wrote, and what the organizer should be told about them."""

    paths: tuple[Path, ...]
    notes: tuple[str, ...] = ()


@locked("application")
def make_application(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> Written:
    """评价申请表.docx (and .pdf), with a note when no self-evaluation was collected."""
    from .evaluation import load_project

    folder = Path(folder)
    info, _panel = load_project(folder)
    score = self_score(folder)
    context = application_context(info, score)
    source = Path(template) if template else shipped_template(APPLICATION_TEMPLATE)
    target = render_template(source, context, APPLICATION_REQUIRED, folder / APPLICATION_FILE)
    notes = () if score.total is not None else (NO_SELF_EVALUATION,)
    return Written(tuple([target] + (_pdf(target) if pdf else [])), notes)


def write_application(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False) -> list[Path]:
    """评价申请表.docx (and .pdf) from 评价项目.xlsx and the collected self-evaluation."""
    return list(make_application(folder, template=template, pdf=pdf).paths)


REPORT_STATE = ".qi/report.json"
NEW_REPORT_FILE = "评价报告（新生成）.docx"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report_recorded(folder: Path) -> str:
    import json

    try:
        data = json.loads((folder / REPORT_STATE).read_text(encoding="utf-8"))
        return str(data.get("sha256", "")) if isinstance(data, dict) else ""
    except (OSError, ValueError):
        return ""


@locked("report")
def make_report(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False,
                draft: bool = False) -> Written:
    """评价报告.docx from the consolidation and 专家组意见.docx.

    A draft consolidation only with ``draft=True``. An 评价报告.docx someone edited after we
    wrote it (its SHA-256 differs from the one recorded) is kept, and the new report goes
    beside it, so a re-run never silently discards the panel's corrections.
    """
    import json

    from .consolidate import load_consolidation
    from .evaluation import load_project
    from .fileio import write_text_atomic
    from .opinion import OPINION_FILE, opinion_for_report

    folder = Path(folder)
    cons = load_consolidation(folder)
    if cons.draft and not draft:
        raise QiError(
            "当前汇总结果是草稿（专家评分未全部回收或人数不足），不能据此出具正式评价报告。"
            "请补齐专家评分或登记请假（qi-excel excuse）后重新汇总；如只需预览，请加 --draft 生成带“草稿”水印的报告。"
        )
    info, panel = load_project(folder)
    opinion, notes = opinion_for_report(folder, cons)
    context = report_context(info, panel, cons, opinion, draft=draft)
    source = Path(template) if template else shipped_template(REPORT_TEMPLATE)
    notes = list(notes)
    if draft:
        target = folder / DRAFT_REPORT_FILE
    else:
        target = folder / REPORT_FILE
        if target.is_file() and _sha256(target) != _report_recorded(folder):
            kept = target
            target = folder / NEW_REPORT_FILE
            notes.append(f"{kept.name} 在上次生成后被修改过，未覆盖；新生成的报告另存为 {target.name}，请对照后自行取舍。")
    render_template(source, context, REPORT_REQUIRED, target, watermark=WATERMARK_TEXT if draft else None)
    if target.name == REPORT_FILE:
        write_text_atomic(folder / REPORT_STATE, json.dumps({"file": REPORT_FILE, "sha256": _sha256(target)}) + "\n")
    notes.insert(0, f"“五、专家组意见”和“六、评价结论”取自 {OPINION_FILE}（逐段原样写入）。")
    return Written(tuple([target] + (_pdf(target) if pdf else [])), tuple(notes))


def write_report(folder: str | Path, *, template: str | Path | None = None, pdf: bool = False,
                 draft: bool = False) -> list[Path]:
    """评价报告.docx (see ``make_report``); the paths written."""
    return list(make_report(folder, template=template, pdf=pdf, draft=draft).paths)


def export_templates(dest: str | Path) -> list[Path]:
    """Copy the shipped templates out for editing; never overwrite an organizer's edits."""
    from .procedure import PROCEDURE_TEMPLATES

    dest = Path(dest)
    names = (APPLICATION_TEMPLATE, REPORT_TEMPLATE, *PROCEDURE_TEMPLATES)
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
