"""Rendering a Word template: the one module that runs docxtpl and jinja2.

Every document (the report, the application, the opinion draft, the procedure documents)
is filled by ``render_template``, which checks an organizer's edited template first (see
``template_guard``) and renders it in jinja2's sandbox. The value helpers every document's
context uses (``clean_text``, ``chinese_date`` ...) live here too, below the modules that
assemble the contexts, so that those modules never import each other for them.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

from .errors import QiError
from .fileio import atomic_path, write_bytes_atomic
from .project import CONSOLIDATION_FILE

TEMPLATE_KIND = "docx_templates"
WATERMARK_TEXT = "草稿"
DRAFT_HEADER = "草稿　未经专家组签字确认，不作为正式评价结论"

NOT_GIVEN = "—"
HANDWRITTEN_DATE = "　　　　年　　月　　日"


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
