"""Word templates are untrusted code: hostile templates are refused before anything runs."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import jinja2
import pytest
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import parse_xml
from docx.oxml.ns import qn

from qi_excel.documents import (
    APPLICATION_REQUIRED,
    APPLICATION_TEMPLATE,
    REPORT_TEMPLATE,
    write_application,
    write_report,
)
from qi_excel.docx_render import check_template, render_template, shipped_template
from qi_excel.errors import QiError
from qi_excel.evaluation import APPLICATION_FILE, REPORT_FILE
from qi_excel.template_guard import TemplateSandbox, field_instructions, jinja_problems

from evaluated import build_evaluated

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return build_evaluated(tmp_path_factory.mktemp("guard") / "评价")


@pytest.fixture
def folder(evaluated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(evaluated, tmp_path / "评价"))


def _template_with(tmp_path: Path, text: str, *, name: str = REPORT_TEMPLATE, where: str = "body") -> Path:
    """A copy of the real template with ``text`` added as one run (body, header or footer)."""
    doc = Document(str(shipped_template(name)))
    if where == "body":
        doc.add_paragraph().add_run(text)
    elif where == "header":
        doc.sections[0].header.add_paragraph().add_run(text)
    else:
        doc.sections[0].footer.add_paragraph().add_run(text)
    path = tmp_path / f"模板-{where}.docx"
    doc.save(str(path))
    return path


def _payloads(marker: Path) -> list[tuple[str, str]]:
    cmd = f"touch {marker}"
    return [
        ("{{ cycler.__init__.__globals__.os.popen('%s').read() }}" % cmd, "__init__"),
        ("{%% set x = cycler.__init__.__globals__.os.popen('%s').read() %%}{{ x }}" % cmd, "{% set %}"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
        ("{{ service_name|attr('__class__') }}", "|attr"),
        ("{% import 'os' as os %}", "{% import %}"),
        ("{% include '/etc/passwd' %}", "{% include %}"),
        ("{% for e in experts %}{{ e.name.upper() }}{% endfor %}", "e.name.upper"),
        ("{{ lipsum.__globals__['os'].popen('%s') }}" % cmd, "lipsum"),
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "{% macro %}"),
        ("{{ experts[0]['__class__'] }}", "__class__"),
        ("{{ 'x' * 10 ** 9 }}", "**"),
        ("{{ experts|join(attribute='__class__') }}", "__class__"),
    ]


@pytest.mark.parametrize("where", ["body", "header", "footer"])
@pytest.mark.parametrize("index", range(12))
def test_hostile_template_is_refused_before_anything_runs(folder: Path, tmp_path: Path, where: str, index: int) -> None:
    marker = tmp_path / "X"
    text, construct = _payloads(marker)[index]
    template = _template_with(tmp_path, text, where=where)
    with pytest.raises(QiError) as err:
        write_report(folder, template=template)
    message = str(err.value)
    assert construct in message and "模板-" in message and "不允许" in message
    assert not marker.exists()
    assert not (folder / REPORT_FILE).exists()


def test_payload_in_the_application_template_too(folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "X"
    template = _template_with(tmp_path, _payloads(marker)[0][0], name=APPLICATION_TEMPLATE)
    with pytest.raises(QiError, match="cycler"):
        write_application(folder, template=template)
    assert not marker.exists() and not (folder / APPLICATION_FILE).exists()


def test_payload_in_document_properties_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "X"
    doc = Document(str(shipped_template(APPLICATION_TEMPLATE)))
    doc.core_properties.title = "{{ cycler.__init__.__globals__.os.popen('touch %s').read() }}" % marker
    path = tmp_path / "属性.docx"
    doc.save(str(path))
    with pytest.raises(QiError, match="文档属性"):
        check_template(path, {"service_name": "x", "applicant": "y"}, APPLICATION_REQUIRED)
    assert not marker.exists()


def test_allowed_constructs_still_render(folder: Path, tmp_path: Path) -> None:
    text = (
        "{% for e in experts %}{{ loop.index }}.{{ e['name']|trim }}{% if not loop.last %}、{% endif %}{% endfor %}"
        "；{{ level1[0].name|default('—') }}；{{ experts|length }} 人；{{ service_name|replace('服务', '服务') }}"
    )
    template = _template_with(tmp_path, text)
    path = write_report(folder, template=template)[0]
    body = "".join(t.text or "" for t in Document(str(path)).element.body.iter(qn("w:t")))
    assert "1.周立新、2.陈晓岚" in body and "7 人" in body


def test_sandbox_blocks_what_the_walk_would_miss() -> None:
    """Defence in depth: the render environment alone refuses attribute access and globals."""
    env = TemplateSandbox()
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ x.__class__.__mro__ }}").render(x="").__len__()
    with pytest.raises(jinja2.exceptions.UndefinedError):
        env.from_string("{{ cycler }}").render()
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ x.upper() }}").render(x="a")
    assert env.from_string("{{ r.name }}{{ r['max'] }}").render(r={"name": "甲", "max": 5}) == "甲5"


def test_jinja_walk_names_each_construct() -> None:
    env = TemplateSandbox()
    ast = env.parse("{{ a.b }}{{ c(1) }}{{ d|format('x') }}{% set z = 1 %}{{ e is callable }}")
    problems, unknown = jinja_problems(ast, {"a", "c", "d", "e"}, {"name"})
    joined = " ".join(problems)
    assert "a.b" in joined and "c(…)" in joined and "|format" in joined and "{% set %}" in joined and "callable" in joined
    assert unknown == set()


# ───────────────────────────── issue 16: what the package would fetch ─────────────────────────────


def _with_external(tmp_path: Path, kind: str) -> Path:
    doc = Document(str(shipped_template(REPORT_TEMPLATE)))
    part = doc.part
    p = doc.add_paragraph()
    if kind == "hyperlink":
        rid = part.relate_to("https://evil.example.com/track", RT.HYPERLINK, is_external=True)
        p._p.append(parse_xml(
            f'<w:hyperlink xmlns:w="{W}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
            f'r:id="{rid}"><w:r><w:t>链接</w:t></w:r></w:hyperlink>'))
    elif kind == "file":
        part.relate_to("file:///etc/passwd", RT.IMAGE, is_external=True)
    elif kind == "includepicture":
        p._p.append(parse_xml(
            f'<w:fldSimple xmlns:w="{W}" w:instr=" INCLUDEPICTURE &quot;http://evil.example.com/a.png&quot; \\d ">'
            "<w:r><w:t>图</w:t></w:r></w:fldSimple>"))
    elif kind == "altchunk":
        from docx.opc.packuri import PackURI
        from docx.opc.part import Part

        chunk = Part(PackURI("/word/chunk1.html"), "text/html", b'<html><img src="http://evil.example.com/x.png"></html>',
                     part.package)
        rid = part.relate_to(chunk, "http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk")
        doc.element.body.append(parse_xml(
            f'<w:altChunk xmlns:w="{W}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
            f'r:id="{rid}"/>'))
    elif kind == "includetext":
        for xml in (
            f'<w:r xmlns:w="{W}"><w:fldChar w:fldCharType="begin"/></w:r>',
            f'<w:r xmlns:w="{W}"><w:instrText xml:space="preserve"> INCLUDE</w:instrText></w:r>',
            f'<w:r xmlns:w="{W}"><w:instrText xml:space="preserve">TEXT "\\\\\\\\server\\\\share\\\\a.docx" </w:instrText></w:r>',
            f'<w:r xmlns:w="{W}"><w:fldChar w:fldCharType="separate"/></w:r>',
            f'<w:r xmlns:w="{W}"><w:t>旧内容</w:t></w:r>',
            f'<w:r xmlns:w="{W}"><w:fldChar w:fldCharType="end"/></w:r>',
        ):
            p._p.append(parse_xml(xml))
    path = tmp_path / f"外部-{kind}.docx"
    doc.save(str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("hyperlink", "https://evil.example.com/track"),
        ("file", "file:///etc/passwd"),
        ("includepicture", "INCLUDEPICTURE"),
        ("includetext", "INCLUDETEXT"),
        ("altchunk", "chunk1.html"),
    ],
)
def test_template_reaching_outside_is_refused(folder: Path, tmp_path: Path, kind: str, named: str) -> None:
    template = _with_external(tmp_path, kind)
    with pytest.raises(QiError) as err:
        write_report(folder, template=template)
    assert named in str(err.value) and "外部" in str(err.value)
    assert not (folder / REPORT_FILE).exists()


def test_page_number_fields_are_fine() -> None:
    xml = (b'<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
           b'<w:r><w:fldChar w:fldCharType="end"/></w:r><w:fldSimple w:instr=" NUMPAGES "/></w:p>')
    assert field_instructions(xml) == [" NUMPAGES ", " PAGE "]


def test_shipped_output_has_no_external_relationship(folder: Path) -> None:
    path = write_report(folder)[0]
    with zipfile.ZipFile(path) as zf:
        rels = b"".join(zf.read(n) for n in zf.namelist() if n.endswith(".rels"))
    assert b'TargetMode="External"' not in rels


# ───────────────────────────── issue 11: cell properties in schema order ─────────────────────────────


def test_report_cells_keep_vmerge_before_valign(folder: Path, tmp_path: Path) -> None:
    path = write_report(folder)[0]
    with zipfile.ZipFile(path) as zf:
        root = parse_xml(zf.read("word/document.xml"))
    merged = 0
    for tcpr in root.iter(qn("w:tcPr")):
        tags = [c.tag for c in tcpr]
        if qn("w:vMerge") in tags:
            merged += 1
            if qn("w:vAlign") in tags:
                assert tags.index(qn("w:vMerge")) < tags.index(qn("w:vAlign"))
    assert merged > 0
    # and the same through the public entry point any new document uses
    assert render_template  # noqa: B018 - the one render path (docx_render.render_template)


@pytest.mark.parametrize(
    ("source", "chinese"),
    [("{{ service_name ", "}}"), ("{% foo %}", "{% foo %}"), ("{% if total %}", "{% endif %}"),
     ("{{ total applicant }}", "applicant"), ("{% for x in experts %}{% endif %}", "不配对")],
)
def test_syntax_errors_in_chinese(folder: Path, tmp_path: Path, source: str, chinese: str) -> None:
    import re

    template = _template_with(tmp_path, source)
    with pytest.raises(QiError) as err:
        write_report(folder, template=template)
    message = str(err.value)
    assert "占位符写法有误" in message and chinese in message, message
    prose = re.sub(r"\{[{%].*?[%}]\}|“[^”]*”|\S+\.docx", "", message)  # tags, quoted names, file name
    assert not re.search(r"[A-Za-z]{4,}", prose), message


def test_every_document_is_rendered_through_render_template() -> None:
    """New document modules must not call docxtpl or jinja2 themselves: the checks and the
    sandbox live in docx_render.render_template."""
    import qi_excel

    package = Path(qi_excel.__file__).parent
    for path in package.rglob("*.py"):
        if path.name in ("docx_render.py", "template_guard.py"):
            continue
        text = path.read_text(encoding="utf-8")
        for forbidden in ("DocxTemplate", "jinja2.Environment", "from jinja2 import Environment", ".from_string("):
            assert forbidden not in text, f"{path.name} uses {forbidden}: render through docx_render.render_template"
