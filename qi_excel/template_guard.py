"""Word templates are code: what one may contain, checked before anything is rendered.

A .docx template is a Jinja program. Templates are exported, edited and mailed between
offices, so a template is as untrusted as a returned workbook: a placeholder such as
``{{ cycler.__init__.__globals__.os.popen('…').read() }}`` would run a command on the
organizer's machine in a plain Jinja environment. Two layers keep that from happening:

1. ``template_problems`` walks the parsed template (every part docxtpl renders: body,
   headers, footers, footnotes, document properties) and allows only what our documents
   need — names the program fills in, the fields of those values, ``for``/``if``, a short
   list of filters and tests, and docxtpl's own ``loop.first``/``loop.length``. Anything
   else (a call, ``{% set %}``, ``{% import %}``, ``{% include %}``, an underscore attribute, an
   unknown filter …) is named in a Chinese message and nothing is rendered.
2. The render itself runs in ``TemplateSandbox`` (jinja2's immutable sandbox, no globals,
   only dictionary/list item access and loop attributes), so a construct the walk might
   miss still cannot reach Python internals.

``package_problems`` checks the package itself: an external relationship (``file:///etc/passwd``,
a remote hyperlink or picture) or an INCLUDEPICTURE/INCLUDETEXT/LINK/DDE field would be copied
into the issued document and make Word fetch it when opened.

Every document goes through ``docx_render.render_template``, which calls both; a module adding a
new document only supplies its template, context and required names.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from jinja2 import nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Filters a template may use: pure text formatting, none of which reaches attributes.
ALLOWED_FILTERS = frozenset({
    "default", "d", "e", "escape", "upper", "lower", "title", "capitalize", "trim", "replace",
    "length", "count", "join", "first", "last", "truncate", "wordcount",
    "string", "int", "float", "abs", "round", "reverse", "sort", "unique", "list",
})
ALLOWED_TESTS = frozenset({
    "defined", "undefined", "none", "number", "string", "sequence", "mapping", "iterable",
    "even", "odd", "divisibleby", "eq", "ne", "lt", "le", "gt", "ge", "in", "true", "false",
    "equalto", "greaterthan", "lessthan", "==", "!=", "<", "<=", ">", ">=",
})
# What a for-loop's ``loop`` offers without a call (docxtpl's {% vm %}/{% hm %} use first/length).
LOOP_ATTRS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"})

# Nodes that only combine values already allowed.
_PLAIN = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.If, nodes.CondExpr,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos,
    nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Concat,
    nodes.List, nodes.Tuple, nodes.Keyword, nodes.MarkSafeIfAutoescape,
)
# Statements named the way an organizer wrote them.
_STATEMENTS: dict[type, str] = {
    nodes.Assign: "{% set %} 赋值",
    nodes.AssignBlock: "{% set %} 赋值",
    nodes.Import: "{% import %} 导入",
    nodes.FromImport: "{% from … import %} 导入",
    nodes.Include: "{% include %} 引入其他模板",
    nodes.Extends: "{% extends %} 继承其他模板",
    nodes.Macro: "{% macro %} 宏定义",
    nodes.CallBlock: "{% call %} 调用",
    nodes.FilterBlock: "{% filter %} 过滤块",
    nodes.With: "{% with %} 语句",
    nodes.Block: "{% block %} 块",
    nodes.ExprStmt: "{% do %} 语句",
    nodes.ScopedEvalContextModifier: "{% autoescape %} 语句",
    nodes.EvalContextModifier: "{% autoescape %} 语句",
    nodes.Pow: "乘方运算 **",
    nodes.Dict: "字典写法 {…}",
    nodes.Slice: "切片 [a:b]",
    nodes.NSRef: "命名空间赋值",
}


def field_names(context: Mapping[str, Any]) -> frozenset[str]:
    """Every key of every dictionary reachable from the context: the fields rows may use."""
    out: set[str] = set()
    stack: list[Any] = list(context.values())
    seen: set[int] = set()
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Mapping):
            out.update(k for k in value if isinstance(k, str))
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return frozenset(out)


def used_names(ast: nodes.Template) -> set[str]:
    """Top-level names a template reads (for-loop variables and ``loop`` excluded).

    Like ``jinja2.meta.find_undeclared_variables`` but without compiling, which fails on a
    filter the sandbox does not offer before the walk could name it.
    """
    loop_vars = {"loop"}
    for loop in ast.find_all(nodes.For):
        loop_vars |= {n.name for n in loop.target.find_all(nodes.Name)} | (
            {loop.target.name} if isinstance(loop.target, nodes.Name) else set())
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load" and n.name not in loop_vars}


def describe(node: nodes.Node) -> str:
    """A short rendering of an expression, for messages (``cycler.__init__.__globals__``)."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{describe(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        arg = node.arg
        inner = repr(arg.value) if isinstance(arg, nodes.Const) else "…"
        return f"{describe(node.node)}[{inner}]"
    if isinstance(node, nodes.Call):
        return f"{describe(node.node)}(…)"
    if isinstance(node, nodes.Filter):
        return f"{describe(node.node) if node.node is not None else ''}|{node.name}"
    if isinstance(node, nodes.Const):
        text = repr(node.value)
        return text if len(text) <= 20 else text[:17] + "…'"
    return "…"


def jinja_problems(ast: nodes.Template, names: Iterable[str], fields: Iterable[str]) -> tuple[list[str], set[str]]:
    """(disallowed constructs, names not provided) in one parsed template source.

    Pure: works on jinja's AST only. ``names`` are the context's top-level keys, ``fields``
    the keys of its rows.
    """
    allowed_names = set(names)
    allowed_fields = set(fields) | LOOP_ATTRS
    loop_vars: set[str] = {"loop"}
    for loop in ast.find_all(nodes.For):
        for target in ([loop.target] if isinstance(loop.target, nodes.Name) else list(loop.target.find_all(nodes.Name))):
            loop_vars.add(target.name)
    problems: list[str] = []
    unknown: set[str] = set()

    def add(text: str) -> None:
        if text not in problems:
            problems.append(text)

    def walk(node: nodes.Node) -> None:
        kind = type(node)
        if kind in _STATEMENTS:
            add(_STATEMENTS[kind])
        elif isinstance(node, nodes.Call):
            add(f"函数调用“{describe(node)}”")
        elif isinstance(node, nodes.Name):
            if node.ctx != "load":
                if node.name not in loop_vars:
                    add(f"赋值给“{node.name}”")
            elif node.name not in allowed_names and node.name not in loop_vars:
                unknown.add(node.name)
        elif isinstance(node, nodes.Getattr):
            if node.attr.startswith("_") or node.attr not in allowed_fields:
                add(f"属性“{describe(node)}”")
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if not isinstance(arg, nodes.Const) or not isinstance(arg.value, (int, str)) or isinstance(arg.value, bool):
                add(f"下标“{describe(node)}”（下标只能是数字或字段名）")
            elif isinstance(arg.value, str) and (arg.value.startswith("_") or arg.value not in allowed_fields):
                add(f"下标“{describe(node)}”")
        elif isinstance(node, nodes.Filter):
            if node.name not in ALLOWED_FILTERS:
                add(f"过滤器“|{node.name}”")
            for arg in [*node.args, *(k.value for k in node.kwargs)]:
                # join/sort/unique(attribute="…") look attributes up by name: fields only
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str) and (
                        arg.value.startswith("_") or "._" in arg.value) and node.name in ("join", "sort", "unique"):
                    add(f"过滤器参数“|{node.name}({arg.value!r})”")
        elif isinstance(node, nodes.Test):
            if node.name not in ALLOWED_TESTS:
                add(f"判断“is {node.name}”")
        elif isinstance(node, nodes.For):
            if node.recursive:
                add("递归循环 {% for … recursive %}")
        elif not isinstance(node, _PLAIN):
            add(f"模板语法 {kind.__name__}")
        for child in node.iter_child_nodes():
            walk(child)

    walk(ast)
    return problems, unknown


# ───────────────────────────── the render-time sandbox ─────────────────────────────

MAX_REPEAT = 100_000  # characters/items a "*" may produce (docxtpl's {% hm %} multiplies small ints)


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox narrowed to what a document template needs.

    No globals (``cycler``, ``range``, ``lipsum``, ``namespace`` are gone), no callables, no
    attribute of any Python object except a for-loop's counters: ``row.name`` is the
    dictionary item ``name``, never an attribute. Filters and tests are the allow-lists above.
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        import jinja2

        super().__init__(autoescape=True, undefined=jinja2.StrictUndefined)
        self.globals.clear()
        self.filters = {k: v for k, v in self.filters.items() if k in ALLOWED_FILTERS}
        self.tests = {k: v for k, v in self.tests.items() if k in ALLOWED_TESTS}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return isinstance(obj, LoopContext) and attr in LOOP_ATTRS

    def is_safe_callable(self, obj: Any) -> bool:
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute in obj and not attribute.startswith("_"):
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext) and attribute in LOOP_ATTRS:
            return getattr(obj, attribute)
        return self.unsafe_undefined(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping) and isinstance(argument, str):
            return self.getattr(obj, argument)
        if isinstance(obj, (list, tuple)) and isinstance(argument, int) and not isinstance(argument, bool):
            try:
                return obj[argument]
            except IndexError:
                return self.undefined(obj=obj, name=str(argument))
        return self.unsafe_undefined(obj, str(argument))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        from jinja2.exceptions import SecurityError

        if operator == "**":
            raise SecurityError("模板中不允许乘方运算")
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_REPEAT:
                raise SecurityError("模板中的乘法结果过大")
        return super().call_binop(context, operator, left, right)


# ───────────────────────────── the package ─────────────────────────────

_MAX_PART = 64 * 1024 * 1024
_DANGEROUS_FIELD = re.compile(r"^\s*(INCLUDEPICTURE|INCLUDETEXT|INCLUDE|LINK|DDEAUTO|DDE|IMPORT)\b", re.IGNORECASE)
_INSTR_TEXT = re.compile(rb"<w:instrText\b[^>]*>([^<]*)</w:instrText>|<w:fldChar\b[^>]*w:fldCharType=\"(begin|end|separate)\"")
_FLD_SIMPLE = re.compile(rb"<w:fldSimple\b[^>]*?\bw:instr=\"([^\"]*)\"")
_REL = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_ATTR = re.compile(rb"\b(Type|Target|TargetMode)=\"([^\"]*)\"")
_REL_KIND = {
    "hyperlink": "超链接", "image": "图片", "attachedTemplate": "附加模板", "oleObject": "嵌入对象",
    "frame": "框架", "subDocument": "子文档", "externalLinkPath": "外部数据", "aFChunk": "外部内容块",
}


def _unxml(text: bytes) -> str:
    from html import unescape

    return unescape(text.decode("utf-8", "replace"))


def field_instructions(xml: bytes) -> list[str]:
    """The instruction of every field in one part, complex fields joined across their runs."""
    out = [_unxml(m.group(1)) for m in _FLD_SIMPLE.finditer(xml)]
    stack: list[list[str] | None] = []  # one entry per open field; None once its code is read
    for m in _INSTR_TEXT.finditer(xml):
        kind = m.group(2)
        if kind == b"begin":
            stack.append([])
        elif kind == b"separate":
            if stack and stack[-1] is not None:
                out.append("".join(stack[-1]))
                stack[-1] = None
        elif kind == b"end":
            if stack:
                top = stack.pop()
                if top is not None:
                    out.append("".join(top))
        elif stack and stack[-1] is not None:
            stack[-1].append(_unxml(m.group(1)))
        else:
            out.append(_unxml(m.group(1)))  # instruction text outside begin/end: judge it anyway
    return [text for text in out if text.strip()]


def package_problems(path: Path) -> list[str]:
    """External relationships and fetching fields in a .docx package, each named in Chinese."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.file_size > _MAX_PART or not name.lower().endswith((".xml", ".rels")):
                    continue
                data = zf.read(info)
                if name.lower().endswith(".rels"):
                    for rel in _REL.findall(data):
                        attrs = {k.decode(): _unxml(v) for k, v in _ATTR.findall(rel)}
                        kind = attrs.get("Type", "").rsplit("/", 1)[-1]
                        if attrs.get("TargetMode", "").lower() == "external":
                            label = _REL_KIND.get(kind, "外部链接")
                            problems.append(f"{label}指向外部地址“{_short(attrs.get('Target', ''))}”（{name}）")
                        elif kind == "aFChunk":
                            # an imported HTML/RTF/MHT chunk: Word converts it on opening and
                            # fetches whatever it references
                            problems.append(f"嵌入的外部格式内容块“{_short(attrs.get('Target', ''))}”（{name}）")
                else:
                    for instr in field_instructions(data):
                        m = _DANGEROUS_FIELD.match(instr)
                        if m:
                            problems.append(f"{m.group(1).upper()} 域“{_short(instr.strip())}”会从外部读取内容（{name}）")
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError):
        return []  # the caller's own open reports an unreadable file in its words
    return problems


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def docx_sources(tpl: Any) -> list[tuple[str, str]]:
    """(part, Jinja source) of everything docxtpl renders, patched exactly as it patches them."""
    from docx.oxml import parse_xml

    out = [("正文", tpl.patch_xml(tpl.get_xml()))]
    for uri, label in ((tpl.HEADER_URI, "页眉"), (tpl.FOOTER_URI, "页脚")):
        for _rid, rel in tpl.docx._part.rels.items():  # noqa: SLF001 - docxtpl walks the same rels
            if rel.reltype == uri and not rel.is_external and rel.target_part.blob:
                out.append((label, tpl.patch_xml(tpl.xml_to_string(parse_xml(rel.target_part.blob)))))
    for part in tpl.docx.part.package.parts:
        if part.content_type.endswith(".wordprocessingml.footnotes+xml"):
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            out.append(("脚注", tpl.patch_xml(blob)))
    props = tpl.docx.core_properties
    for attr in ("author", "comments", "identifier", "language", "subject", "title"):
        value = getattr(props, attr) or ""
        if value:
            out.append(("文档属性", value))
    return out


# ───────────────────────────── Jinja's own messages in Chinese ─────────────────────────────

_TOKEN_NAMES = {"end of print statement": "}}", "end of statement block": "%}", "end of template": "模板结尾",
                "name": "名称"}


def _token(text: str) -> str:
    return _TOKEN_NAMES.get(text, text)


def syntax_error_text(message: str) -> str:
    """A jinja2 TemplateSyntaxError message as one Chinese sentence (no English fragment)."""
    m = re.match(r"unexpected end of template", message, re.IGNORECASE)
    if m:
        block = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
        if block:
            return f"{{% {block.group(1)} %}} 没有对应的结束标记 {{% end{block.group(1)} %}}"
        return "模板在占位符结束之前就结束了（缺少 }} 或 %}）"
    m = re.match(r"Encountered unknown tag '(\w+)'", message)
    if m:
        block = re.search(r"innermost block that needs to be closed is '(\w+)'", message)
        if block:
            return f"{{% {m.group(1)} %}} 与前面的 {{% {block.group(1)} %}} 不配对"
        return f"无法识别的标记 {{% {m.group(1)} %}}（或它前面缺少对应的开始标记）"
    m = re.match(r"expected token '(.+?)', got '(.+?)'", message)
    if m:
        return f"此处应为 {_token(m.group(1))}，却是“{_token(m.group(2))}”"
    m = re.match(r"Expected an expression, got '(.+?)'", message)
    if m:
        return f"{_token(m.group(1))} 之前缺少内容"
    m = re.match(r"unexpected '(.+?)'", message)
    if m:
        return f"多余的“{m.group(1)}”"
    return "写法无法识别"


def undefined_text(message: str) -> str:
    """A jinja2 UndefinedError message as the name it is about."""
    m = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined|no element (\S+)", message)
    return next((g for g in m.groups() if g), "") if m else ""
