"""专家组意见.docx: the panel's own words for the report (clause 8.3.1 形成评价结论意见).

The report's 五、专家组意见 and 六、评价结论 are what the panel concluded, not what a program
assembled. ``consolidate`` therefore prepares a draft from the data (every item that lost
points, with its number, criterion and every distinct remark; the suggestions; a conclusion
sentence) in a Word document the panel leader edits in Word/WPS. ``report`` then copies the
paragraphs under each of the four headings verbatim:

  一、主要亮点 → 五、专家组意见（一）主要亮点
  二、存在问题 → 五、专家组意见（二）存在问题
  三、改进建议 → 五、专家组意见（三）改进建议
  四、评价结论 → 六、评价结论

An edited file is never overwritten: the SHA-256 of the draft we wrote is kept in
``.qi/opinion.json``; a file whose bytes differ was saved by someone, and a newer draft goes
beside it instead.

The top of this module is pure (drafting, merging near-duplicates, splitting paragraphs into
sections); the bottom reads and writes the .docx.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .decimals import fmt_decimal
from .errors import QiError

if TYPE_CHECKING:
    from .consolidate import Consolidation
    from .rubric import Rubric

OPINION_FILE = "专家组意见.docx"
NEW_DRAFT_FILE = "专家组意见（新草稿）.docx"
TEMPLATE_KIND = "docx_templates"
HEADINGS = ("一、主要亮点", "二、存在问题", "三、改进建议", "四、评价结论")
SIMILAR = 0.9  # difflib ratio from which two remarks say the same thing (0.8 merges "加强A工作" with "加强B工作")
MAX_HIGHLIGHTS = 5
NO_PROBLEMS = "各评分项均获满分，未发现失分问题。"
NO_SUGGESTIONS = "专家组未提出书面改进建议。"
OPINION_REQUIRED = frozenset({"highlights", "problems", "suggestions", "conclusion"})


@dataclass(frozen=True)
class Opinion:
    """The four parts of the panel's opinion, each a sequence of paragraphs."""

    highlights: tuple[str, ...]
    problems: tuple[str, ...]
    suggestions: tuple[str, ...]
    conclusion: tuple[str, ...]

    def sections(self) -> tuple[tuple[str, ...], ...]:
        return (self.highlights, self.problems, self.suggestions, self.conclusion)


# ───────────────────────────── pure: the draft ─────────────────────────────


def _clause(text: str) -> str:
    """A remark as a clause: single spaces, no closing punctuation (the sentence adds it)."""
    return " ".join(text.split()).rstrip("。；;，,、 ")


_PUNCTUATION = re.compile(r"[\s，,。.；;：:、！!？?（）()“”\"'‘’【】《》—\-…]+")


def similar(a: str, b: str, threshold: float = SIMILAR) -> bool:
    """Two remarks that say the same thing (one a copy of the other with small changes).

    Punctuation and spacing never matter; a few inserted or dropped characters (“的”, “进一步”)
    do not either. A replaced word does: “加强服务内容工作……” and “加强服务过程工作……” are
    about different things, however alike the rest of the sentence is.
    """
    a, b = _PUNCTUATION.sub("", a), _PUNCTUATION.sub("", b)
    if a == b:
        return True
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    if short in long_ and len(short) >= 0.6 * len(long_):
        return True
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.ratio() < threshold:
        return False
    return all(max(i2 - i1, j2 - j1) < 2 for op, i1, i2, j1, j2 in matcher.get_opcodes() if op == "replace")


def merge_similar(texts: Iterable[str], threshold: float = SIMILAR) -> list[str]:
    """Distinct texts in first-seen order; of near-duplicates the longest (most complete) stays."""
    kept: list[str] = []
    for text in texts:
        if not text:
            continue
        for i, other in enumerate(kept):
            if similar(text, other, threshold):
                if len(text) > len(other):
                    kept[i] = text
                break
        else:
            kept.append(text)
    return kept


def _remark_clauses(remarks: Iterable[str]) -> list[str]:
    """Each expert's remark split into its lines (parts come one per line), then merged."""
    clauses = []
    for remark in remarks:
        for line in str(remark).replace("\r", "\n").split("\n"):
            clause = _clause(line)
            if clause:
                clauses.append(clause)
    return merge_similar(clauses)


def _criterion(text: str) -> str:
    return " ".join(text.split()).rstrip("。；; ")


def _highlights(cons: "Consolidation") -> list[str]:
    """Second-level indicators the panel scored highest: full or ≥ 90 %, else the best three."""
    places = cons.decimals
    ranked = sorted(cons.level2, key=lambda s: (-s.rate, s.id))
    strong = [s for s in ranked if s.rate >= 90]
    out = []
    for n, s in enumerate((strong or ranked[:3])[:MAX_HIGHLIGHTS], start=1):
        if s.score == s.max:
            out.append(f"{n}．“{s.name}”（满分 {s.max} 分）获得满分。")
        else:
            out.append(f"{n}．“{s.name}”得分 {fmt_decimal(s.score, places)} 分（满分 {s.max} 分），"
                       f"得分率 {fmt_decimal(s.rate, places)}%。")
    return out


def _problems(cons: "Consolidation", rubric: "Rubric | None") -> list[str]:
    """Every item that lost points, in the order of the standard, with all distinct remarks.

    Without the rubric (a preview) the item is named by its label and the criterion is left out.
    """
    places = cons.decimals
    items = {i.id: i for i in rubric.items} if rubric is not None else {}
    out: list[str] = []
    for scored in cons.item_scores:
        if scored.lost <= 0:
            continue
        item = items.get(scored.id)
        name = f"{item.level2}第 {item.number} 项" if item is not None else scored.label
        text = (f"{len(out) + 1}．{scored.id} {name}（满分 {scored.max} 分，"
                f"专家组得分 {fmt_decimal(scored.score, places)} 分）")
        criterion = _criterion(item.criterion) if item is not None else ""
        if criterion:
            text += f"，评分标准：{criterion}"
        clauses = _remark_clauses(scored.remarks)
        text += "。" + ("专家意见：" + "；".join(clauses) + "。" if clauses else "专家未写明扣分理由。")
        out.append(text)
    return out or [NO_PROBLEMS]


def _suggestions(cons: "Consolidation") -> list[str]:
    merged: list[tuple[str, list[str]]] = []
    for s in cons.suggestions:
        text = _clause(s.text)
        ref = _clause(s.ref)
        if not text:
            continue
        for i, (other, refs) in enumerate(merged):
            if similar(text, other):
                merged[i] = (text if len(text) > len(other) else other, refs + ([ref] if ref and ref not in refs else []))
                break
        else:
            merged.append((text, [ref] if ref else []))
    out = []
    for n, (text, refs) in enumerate(merged, start=1):
        out.append(f"{n}．{text}" + (f"（涉及：{'、'.join(refs)}）" if refs else "") + "。")
    return out or [NO_SUGGESTIONS]


def _conclusion(cons: "Consolidation") -> list[str]:
    places = cons.decimals
    service = cons.service_name.strip() or "该服务"
    applicant = cons.applicant.strip() or "申请方"
    text = (f"经专家组现场考察、独立评分和内部沟通，{applicant}承担的{service}评价总得分为 "
            f"{fmt_decimal(cons.total, places)} 分（满分 {cons.max_total} 分），得分率 {fmt_decimal(cons.rate, places)}%。")
    ranked = sorted(cons.level1, key=lambda s: (-s.rate, s.id))
    if len(ranked) >= 2:
        best, worst = ranked[0], ranked[-1]
        text += (f"一级指标中“{best.name}”得分率最高（{fmt_decimal(best.rate, places)}%），"
                 f"“{worst.name}”得分率最低（{fmt_decimal(worst.rate, places)}%）。")
    text += "专家组建议申请方针对上述存在问题和改进建议持续改进。"
    return [text]


def draft_opinion(cons: "Consolidation", rubric: "Rubric | None" = None) -> Opinion:
    """The panel leader's starting point, prepared from the consolidated data."""
    return Opinion(tuple(_highlights(cons)), tuple(_problems(cons, rubric)), tuple(_suggestions(cons)),
                   tuple(_conclusion(cons)))


# ───────────────────────────── pure: reading the sections back ─────────────────────────────

_LEVEL1_RE = re.compile(r"^[一二三四五六七八九十]+[、.．]")


def _key(text: str) -> str:
    return re.sub(r"\s+", "", text)


def split_sections(paragraphs: Sequence[tuple[str, bool]], source: str) -> Opinion:
    """``paragraphs`` are (text, is level-1 heading) in document order.

    A paragraph whose text is one of the four headings counts as that heading whatever its
    style (WPS may drop the style); any other level-1 heading, a missing one, a repeated one
    or one out of order is refused, because the report would otherwise copy the wrong text.
    Blank paragraphs are skipped; everything before the first heading (the title) is ignored.
    """
    wanted = {_key(h): i for i, h in enumerate(HEADINGS)}
    found: list[int] = []
    sections: list[list[str]] = [[] for _ in HEADINGS]
    current: int | None = None
    for text, heading in paragraphs:
        key = _key(text)
        if key in wanted:
            index = wanted[key]
            if index in found:
                raise QiError(f"{source} 中标题“{HEADINGS[index]}”出现了不止一次；请只保留一个后保存。")
            found.append(index)
            current = index
            continue
        if heading and key:
            raise QiError(
                f"{source} 中有多出的一级标题“{text.strip()}”。专家组意见只能有四个一级标题："
                f"{'、'.join(HEADINGS)}；请把该标题改为正文或并入其中一部分。"
            )
        if current is not None and text.strip():
            sections[current].append(text)
    missing = [HEADINGS[i] for i in range(len(HEADINGS)) if i not in found]
    if missing:
        raise QiError(
            f"{source} 中找不到标题：{'、'.join(missing)}。请保留这四个一级标题（{'、'.join(HEADINGS)}），"
            "只修改标题下的文字。"
        )
    if found != sorted(found):
        raise QiError(f"{source} 中四个一级标题的顺序不对，应为：{'、'.join(HEADINGS)}。")
    if not sections[3]:
        raise QiError(f"{source} 中“{HEADINGS[3]}”下没有文字：请写明专家组的评价结论。")
    return Opinion(*(tuple(s) for s in sections))


# ───────────────────────────── the .docx ─────────────────────────────


def _template() -> Path:
    from .resources import template_path

    try:
        return template_path(TEMPLATE_KIND, OPINION_FILE)
    except FileNotFoundError:
        raise QiError(f"安装不完整：找不到内置模板 {OPINION_FILE}。请重新安装 qi-excel。") from None


def opinion_context(cons: "Consolidation", opinion: Opinion) -> dict[str, Any]:
    from .docx_render import clean_text, or_dash

    def paras(items: Iterable[str]) -> list[str]:
        return [clean_text(t) for t in items]

    return {
        "service_name": or_dash(cons.service_name),
        "applicant": or_dash(cons.applicant),
        "highlights": paras(opinion.highlights),
        "problems": paras(opinion.problems),
        "suggestions": paras(opinion.suggestions),
        "conclusion": paras(opinion.conclusion),
    }


def render_opinion(cons: "Consolidation", opinion: Opinion, target: Path) -> Path:
    from .docx_render import render_template

    return render_template(_template(), opinion_context(cons, opinion), OPINION_REQUIRED, target)


def _outline_level(element: Any) -> int | None:
    from docx.oxml.ns import qn

    ppr = element.find(qn("w:pPr"))
    if ppr is None:
        return None
    level = ppr.find(qn("w:outlineLvl"))
    if level is None:
        return None
    try:
        return int(level.get(qn("w:val")))
    except (TypeError, ValueError):
        return None


def _is_level1(paragraph: Any) -> bool:
    """Heading 1 by style (name or outline level, following based-on styles) or by the paragraph."""
    own = _outline_level(paragraph._p)
    if own is not None:
        return own == 0
    style = paragraph.style
    seen = 0
    while style is not None and seen < 10:
        name = (style.name or "").lower().replace(" ", "")
        if name in ("heading1", "标题1"):
            return True
        level = _outline_level(style.element)
        if level is not None:
            return level == 0
        style = style.base_style
        seen += 1
    return False


def read_paragraphs(path: Path) -> list[tuple[str, bool]]:
    """The body paragraphs of a .docx as (text, is level-1 heading); a clear error if unreadable."""
    from docx import Document

    try:
        doc = Document(str(path))
    except Exception as exc:  # noqa: BLE001 - zip, XML and python-docx errors all mean "not a usable .docx"
        raise QiError(f"{path.name} 无法打开，不是有效的 Word 文档（.docx）：{type(exc).__name__}。"
                      "请在 Word/WPS 中“另存为”Word 文档（*.docx）。") from None
    return [(p.text, _is_level1(p)) for p in doc.paragraphs]


def read_opinion(path: Path) -> Opinion:
    return split_sections(read_paragraphs(path), path.name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded(folder: Path) -> str:
    """The SHA-256 ``render_template`` noted when it last wrote 专家组意见.docx ("" if never)."""
    from .docx_render import rendered_records

    return rendered_records(folder).get(OPINION_FILE, {}).get("sha256", "")


def is_edited(folder: Path) -> bool:
    """True when 专家组意见.docx is not byte for byte the draft we last wrote."""
    path = folder / OPINION_FILE
    return path.is_file() and _sha256(path) != _recorded(folder)


@dataclass(frozen=True)
class OpinionWrite:
    """Where the draft went: ``path`` is the file written, ``kept`` the edited file left alone."""

    path: Path
    kept: Path | None = None

    def message(self) -> str:
        if self.kept is not None:
            return (f"{self.kept.name} 已被修改过，未覆盖；按本次汇总结果生成的新草稿另存为 {self.path.name}，"
                    "如需采用请对照修改。")
        return f"专家组意见草稿：{self.path.name}（请专家组组长修改定稿；qi-excel report 将原样写入评价报告）"


def write_opinion_draft(folder: str | Path, cons: "Consolidation", rubric: "Rubric") -> OpinionWrite:
    """Write the draft to 专家组意见.docx, or beside it when the leader has edited that file."""
    folder = Path(folder)
    opinion = draft_opinion(cons, rubric)
    main = folder / OPINION_FILE
    if is_edited(folder):
        return OpinionWrite(render_opinion(cons, opinion, folder / NEW_DRAFT_FILE), kept=main)
    render_opinion(cons, opinion, main)
    return OpinionWrite(main)


def opinion_for_report(folder: str | Path, cons: "Consolidation") -> tuple[Opinion, list[str]]:
    """The text the report copies, and notes for the organizer (a recreated draft)."""
    folder = Path(folder)
    path = folder / OPINION_FILE
    if not path.is_file():
        from .evaluation import evaluation_rubric

        written = write_opinion_draft(folder, cons, evaluation_rubric(folder))
        note = (f"未找到 {OPINION_FILE}，已按汇总结果重新生成草稿：{written.path}。"
                "报告中的专家组意见和评价结论取自该草稿；专家组修改定稿后请重新运行 qi-excel report。")
        return read_opinion(written.path), [note]
    return read_opinion(path), []
