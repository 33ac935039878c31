"""Deciding whether a returned workbook can be trusted and used: pure checks, no I/O.

Each problem becomes a ``Finding`` with a stable code, a severity (error = 拒收, warning =
提醒), the sheet!cell it is about and a Chinese sentence an organizer can forward to the
expert as it is. Errors mean the file cannot be used as sent; warnings are worth a look but
the scores are still sound (totals are always recomputed from the score cells).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

from . import layout as L
from .dates import human_time
from .evaluation import SELF_ID, IssuedRecord, Panel
from .findings import Finding, finding, has_errors
from .identity import verify
from .lazy_re import lazy_re
from .returned import ReturnedWorkbook
from .rubric import Rubric
from .sheet_reader import RawCell, col_index, formula_rows, plain_number

MAX_CELL_FINDINGS = 12  # per kind of cell finding, so a wholly wrong file stays readable


def sheet_ref(ref: str, sheet: str = L.SCORE_SHEET) -> str:
    return f"{sheet}!{ref}"


# ───────────────────────────── entry point ─────────────────────────────


def check_workbook(
    rw: ReturnedWorkbook,
    *,
    rubric: Rubric,
    evaluation_id: str,
    key: bytes,
    panel: Panel,
    issued: Sequence[IssuedRecord] = (),
    sender: str | None = None,
) -> list[Finding]:
    """Every finding for ``rw``; identity problems stop the checks (nothing else is trusted).

    ``sender`` is the From address when the file came attached to an e-mail.
    """
    out = _check_identity(rw, rubric, evaluation_id, key, panel, issued, sender)
    if has_errors(out):
        return out
    plan = _plan(rubric)
    structure = _check_structure(rw, plan)
    out += structure
    if any(f.code == "STRUCTURE_CHANGED" for f in structure):
        return out  # positions are unreliable: judging scores would name the wrong cells
    score_findings, values = _check_scores(rw, plan)
    out += score_findings
    out += _check_formats(rw, plan)
    out += _check_totals(rw, plan, values if not has_errors(score_findings) else None)
    out += _check_protection(rw)
    out += _check_remarks(rw, plan, values)
    out += _check_signature(rw, plan.lay)
    out += check_commitment(rw, plan.lay)
    return out


class _Plan(NamedTuple):
    """What the checks look up for every file, worked out once per rubric.

    Hundreds of returned workbooks share one rubric; the cell references, maxima, expected
    texts and allowed values of its rows are the same for all of them. A named tuple, not a
    frozen dataclass: it is private, and creating a dataclass costs ~0.6 ms at import.
    """

    lay: L.SheetLayout
    inputs: tuple[L.Row, ...]
    body: tuple[tuple[L.Row, str, str, Decimal, str, str | None], ...]  # row, id/max/text refs, max, text
    names: tuple[tuple[L.Row, str], ...]  # input row, its score defined name
    allowed: Mapping[str, frozenset[Decimal]]  # score cell id → allowed values (Decimal hashes as int)
    sums: tuple[L.Row, ...]  # rows holding a sum formula


_PLANS: dict[str, _Plan] = {}


def _plan(rubric: Rubric) -> _Plan:
    got = _PLANS.get(rubric.fingerprint)
    if got is None:
        lay = L.score_sheet_layout(rubric)
        inputs = lay.inputs
        texts = _expected_texts(rubric, lay)
        got = _Plan(
            lay=lay,
            inputs=inputs,
            body=tuple(
                (row, f"{L.COL_ID}{row.row}", f"{L.COL_MAX}{row.row}", Decimal(row.max),
                 f"{L.COL_CRITERION}{row.row}", texts.get(row.row))
                for row in lay.rows if row.kind in ("item", "part")
            ),
            names=tuple((row, L.score_name(row.cell.id)) for row in inputs if row.cell is not None),
            allowed={row.cell.id: frozenset(Decimal(v) for v in row.cell.allowed.values())
                     for row in inputs if row.cell is not None},
            sums=tuple(row for row in lay.rows if row.sum_rows),
        )
        _PLANS[rubric.fingerprint] = got
    return got


# ───────────────────────────── identity ─────────────────────────────


def _check_identity(
    rw: ReturnedWorkbook,
    rubric: Rubric,
    evaluation_id: str,
    key: bytes,
    panel: Panel,
    issued: Sequence[IssuedRecord],
    sender: str | None,
) -> list[Finding]:
    meta = rw.meta
    if not rw.has_score_sheet and not meta:
        sheets = "、".join(s.name for s in rw.sheets[:6]) or "无"
        return [finding(
            "NOT_ISSUED",
            f"这不是本次评价发放的评分工作簿：文件中没有“{L.SCORE_SHEET}”工作表和身份信息（现有工作表：{sheets}）。"
            "请使用发给您的评分工作簿填写后发送。",
        )]
    if not meta.get("signature") or not meta.get("evaluation_id"):
        return [finding(
            "NOT_ISSUED",
            "文件中找不到发放时写入的身份信息（隐藏的 _qi 工作表缺失或被清空），无法确认是本次评价发放的工作簿。"
            "请在发给您的原工作簿上填写，不要复制到新建的工作簿中。",
        )]
    if meta.get("evaluation_id") != evaluation_id:
        return [finding(
            "WRONG_EVALUATION",
            f"这份工作簿属于另一次评价（评价编号 {meta.get('evaluation_id')}，本次为 {evaluation_id}），"
            "请发送本次评价的评分工作簿。",
        )]
    if meta.get("rubric_fingerprint") != rubric.fingerprint:
        return [finding(
            "RUBRIC_CHANGED",
            "这份工作簿发放时使用的评价表与本次评价的评价表不一致，分值无法对应。请使用本次重新发放的评分工作簿。",
        )]
    if not verify(key, meta, rubric.source_text, meta.get("signature", "")):
        return [finding(
            "BAD_SIGNATURE",
            "工作簿隐藏的身份信息与签名不符（被修改过，或不是本评价组织发放的），不能确认填写人身份。"
            "请使用发给您的原工作簿填写后发送。",
        )]
    out: list[Finding] = []
    kind, expert_id = meta.get("kind", ""), meta.get("expert_id", "")
    if kind == "self" or expert_id == SELF_ID:
        return _check_self(rw, _plan(rubric).lay, panel, sender)
    expert = panel.by_id(expert_id)
    if expert is None:
        return [finding(
            "UNKNOWN_EXPERT",
            f"这份工作簿是发给 {meta.get('expert_name') or expert_id}（{expert_id}）的，但该专家已不在"
            "评价项目.xlsx 的专家组名单中。如名单有误请先更正并重新发放。",
        )]
    if expert.name != meta.get("expert_name"):
        out.append(finding(
            "EXPERT_RENAMED",
            f"工作簿发放给“{meta.get('expert_name')}”，专家组名单中 {expert_id} 现为“{expert.name}”；"
            "如名单更正过姓名可忽略。",
        ))
    out += _check_who(rw, _plan(rubric).lay, panel, sender)
    mine = [r for r in issued if r.expert_id == expert_id and r.kind == kind]
    # issued.json keeps every issue, oldest first: only the latest one is current
    if mine and mine[-1].issued_at != meta.get("issued_at"):
        out.append(finding(
            "REISSUED",
            f"这是 {human_time(str(meta.get('issued_at') or ''), local=False)} 发放的旧版工作簿，"
            f"之后已于 {human_time(mine[-1].issued_at, local=False)} 重新发放；"
            "如专家在新版上重新填写过，请以新版为准。",
        ))
    return out


_NAME_DOTS = str.maketrans("", "", "·•.．")


def _name_key(text: str) -> str:
    """A person's name as compared: people type "周 立新" or "周立新 " for 周立新.

    Whitespace of any kind (``str.split``: what ``\\s`` matches, U+3000 included) and the
    dots of transliterated names are dropped; string methods, not a pattern, whose Unicode
    character class alone costs ~0.5 ms to compile in each process.
    """
    return "".join(text.translate(_NAME_DOTS).split()).casefold()


_HEADER_CODES = lazy_re(r'&"[^"]*"|&\d+|&[A-Za-z]')


def _header_person(header: str) -> str | None:
    """The name after "评价专家：" / "自评单位：" in the right section of a page header."""
    right = header.replace("&&", "\x00").rpartition("&R")[2]
    if not right:
        return None
    text = _HEADER_CODES.sub("", right.partition("&L")[0].partition("&C")[0]).replace("\x00", "&")
    label, colon, name = text.partition("：")
    return name.strip() if colon and label.strip() in ("评价专家", "自评单位") else None


_TITLE_PERSON = lazy_re(r"（([^（）]{1,60})）\s*$")


def _check_who(rw: ReturnedWorkbook, lay: L.SheetLayout, panel: Panel, sender: str | None) -> list[Finding]:
    """Everything else in the file that tells who filled it must agree with the verified identity.

    The signed _qi sheet says whom the workbook was issued to; the rest of the package was
    written for that same person and follows the file wherever it goes. Someone who fills
    another expert's forwarded workbook, or copies another expert's _qi sheet and strings
    into her own file, leaves a disagreement behind:

    - errors (the file cannot count as the issued expert's): the name signed in the signature
      cell, the sender's address when it is another panel member's roster address, the
      expert name shown on 评分表, the name in 改进建议's printed page header, the name in the
      document title, and a creator that is another panel member. Each of these is written
      by us for one person or typed by the expert as her own name; none changes when the
      right person fills and saves the file in any office program.
    - warnings (worth a look, not proof): ``lastModifiedBy`` naming another panel member, and
      a sender address that is not on the roster at all. The last saver is whatever account
      the computer runs under: an assistant, a shared meeting-room PC or a colleague's laptop
      lent at the site visit are all legitimate; experts also mail from a second address or
      have an assistant send the file.
    """
    names = _Names(rw, panel)
    return [*_check_signer(rw, lay, names), *_check_shown_names(rw, names), *_check_sender(rw, panel, names, sender)]


class _Names:
    """Whose names a text mentions: the verified expert's own, or another panel member's."""

    def __init__(self, rw: ReturnedWorkbook, panel: Panel) -> None:
        self.meta_name = rw.meta.get("expert_name", "")
        self.expert = expert = panel.by_id(rw.expert_id)
        self.who = f"{self.meta_name}（{rw.expert_id}）"
        self.own = {_name_key(self.meta_name), _name_key(expert.name) if expert is not None else ""} - {""}
        self.others = {_name_key(e.name): e for e in panel.experts if e.expert_id != rw.expert_id and _name_key(e.name)}
        # account names are often the mailbox name: "chenxiaolan" on 陈晓岚's laptop
        self.accounts = {e.email.split("@")[0].strip().casefold(): e for e in panel.experts
                         if e.expert_id != rw.expert_id and e.email and len(e.email.split("@")[0].strip()) >= 4}
        self.own_account = expert.email.split("@")[0].strip().casefold() if expert is not None and expert.email else ""

    def mentions_own(self, text: str) -> bool:
        key = _name_key(text)
        return any(n in key for n in self.own)

    def other_named(self, text: str, *, exact: bool = False) -> str:
        """Which other panel member ``text`` names; ``exact`` for account names, where
        an organization's name that happens to contain a person's name must not count."""
        key = _name_key(text)
        e = self.others.get(key) or (None if exact else next((e for k, e in self.others.items() if k in key), None)) or (
            self.accounts.get(key) if key != self.own_account else None)
        return f"（专家组成员 {e.name}，{e.expert_id}）" if e is not None else ""


def _check_signer(rw: ReturnedWorkbook, lay: L.SheetLayout, names: _Names) -> list[Finding]:
    """The signature cell holds the name the expert typed, and it is her own."""
    sig_cell = rw.cell(lay.signature_cell)
    if rw.kind != "self" and sig_cell.kind == "formula":
        return [finding(
            "SIGNER_MISMATCH",
            f"{L.SCORE_SHEET}!{lay.signature_cell}（专家签名）是公式“={_clip(sig_cell.formula)}”，不是专家本人输入的姓名。"
            f"请 {names.meta_name} 本人在签名处输入姓名后重新发送。",
            sheet_ref(lay.signature_cell),
        )]
    if rw.kind != "self" and rw.sign_name and not names.mentions_own(rw.sign_name):
        return [finding(
            "SIGNER_MISMATCH",
            f"{L.SCORE_SHEET}!{lay.signature_cell}（专家签名）写的是“{_clip(rw.sign_name)}”{names.other_named(rw.sign_name)}，"
            f"但这份工作簿是发给 {names.who} 的。专家须在发给本人的工作簿上打分并签名；如确由 {names.meta_name} 本人填写，"
            "请其改正签名后重新发送。",
            sheet_ref(lay.signature_cell),
        )]
    return []


def _check_shown_names(rw: ReturnedWorkbook, names: _Names) -> list[Finding]:
    """The names the package shows (评分表, page header, title, creator, last saver)."""
    out: list[Finding] = []
    who, other_named = names.who, names.other_named
    shown = rw.cell(L.EXPERT_NAME_CELL).text().strip()
    if shown and not names.mentions_own(shown):
        out.append(finding(
            "IDENTITY_MISMATCH",
            f"{L.SCORE_SHEET}!{L.EXPERT_NAME_CELL} 显示的评价专家为“{_clip(shown)}”{other_named(shown)}，"
            f"而隐藏的身份信息是发给 {who} 的：身份信息可能是从别人的工作簿复制来的。请使用发给本人的原工作簿填写后发送。",
            sheet_ref(L.EXPERT_NAME_CELL),
        ))
    person = _header_person(rw.suggestion_header)
    if person and not names.mentions_own(person):
        out.append(finding(
            "IDENTITY_MISMATCH",
            f"“{L.SUGGESTION_SHEET}”工作表的页眉写的是“{_clip(person)}”{other_named(person)}，而隐藏的身份信息是发给 {who} 的："
            "这份文件原本是发给另一个人的，身份信息是复制来的。请使用发给本人的原工作簿填写后发送。",
            sheet_ref("页眉", L.SUGGESTION_SHEET),
        ))
    title = rw.properties.get("title", "")
    m = _TITLE_PERSON.search(title)
    if m and not names.mentions_own(title):
        out.append(finding(
            "IDENTITY_MISMATCH",
            f"文件属性中的标题为“{_clip(title, 60)}”，指向“{m.group(1)}”{other_named(m.group(1))}，而隐藏的身份信息是发给 {who} 的："
            "这份文件原本是发给另一个人的。请使用发给本人的原工作簿填写后发送。",
        ))
    creator = rw.properties.get("creator", "")
    if creator and other_named(creator, exact=True) and not names.mentions_own(creator):
        out.append(finding(
            "IDENTITY_MISMATCH",
            f"文件属性中的创建者为“{_clip(creator)}”{other_named(creator, exact=True)}，而隐藏的身份信息是发给 {who} 的："
            "这份文件是另一位专家新建的，不是发放的工作簿。请使用发给本人的原工作簿填写后发送。",
        ))
    saver = rw.properties.get("lastModifiedBy", "")
    if saver and other_named(saver, exact=True) and not names.mentions_own(saver):
        out.append(finding(
            "LAST_SAVED_BY_OTHER",
            f"文件属性显示最后保存者为“{_clip(saver)}”{other_named(saver, exact=True)}，而这份工作簿是发给 {who} 的。"
            "可能是在他人的电脑上填写保存；请向该专家确认是本人打分。",
        ))
    return out


def _check_sender(rw: ReturnedWorkbook, panel: Panel, names: _Names, sender: str | None) -> list[Finding]:
    """The mail came from the expert's roster address, or at least not from another member's."""
    if not sender or rw.kind == "self":
        return []
    expert, who = names.expert, names.who
    addr = sender.strip().lower()
    mine = expert.email.strip().lower() if expert is not None and expert.email else ""
    if addr == mine:
        return []
    sent_by = next((e for e in panel.experts if e.email and e.email.strip().lower() == addr
                    and e.expert_id != rw.expert_id), None)
    if sent_by is not None:
        return [finding(
            "SENDER_MISMATCH",
            f"这份工作簿是发给 {who} 的，却由专家组另一位成员 {sent_by.name}（{sent_by.expert_id}，{sender}）发来。"
            f"专家须使用发给本人的工作簿打分；请向 {names.meta_name} 和 {sent_by.name} 核实。",
        )]
    if mine:
        return [finding(
            "SENDER_UNKNOWN",
            f"这份工作簿由 {sender} 发来，不是专家组名单中 {who} 的邮箱（{mine}）。"
            "如是专家本人的其他邮箱或由助理代发，可忽略。",
        )]
    return []


def _check_self(rw: ReturnedWorkbook, lay: L.SheetLayout, panel: Panel, sender: str | None) -> list[Finding]:
    """A valid self-evaluation is fine as itself; it must not stand in for an expert's return."""
    names = {e.name: e for e in panel.experts if e.name}
    emails = {e.email.strip().lower(): e for e in panel.experts if e.email}
    shown = rw.cell(L.EXPERT_NAME_CELL).text().strip()
    for label, ref, value in (("签名", lay.signature_cell, rw.sign_name), ("评价专家", L.EXPERT_NAME_CELL, shown)):
        for name, e in names.items():
            if value and name in value:
                return [finding(
                    "SELF_AS_EXPERT",
                    f"这是申报单位的自我评价工作簿，却在{label}处写了专家“{e.name}”的姓名。专家须使用发给本人的"
                    "评分工作簿打分，不能使用自评表。",
                    sheet_ref(ref),
                )]
    if sender and sender.strip().lower() in emails:
        e = emails[sender.strip().lower()]
        return [finding(
            "SELF_AS_EXPERT",
            f"这是申报单位的自我评价工作簿，却由专家“{e.name}”（{sender}）发来。专家须使用发给本人的评分工作簿打分，"
            "不能使用自评表。",
        )]
    return []


# ───────────────────────────── structure and rubric text ─────────────────────────────


_NORMS: dict[str, str] = {}
_WHITESPACE = lazy_re(r"\s+")


def _norm(text: str) -> str:
    """Text compared without whitespace: programs re-wrap lines, people do not retype rubrics."""
    got = _NORMS.get(text)
    if got is None:
        got = _WHITESPACE.sub("", text.replace("_x000D_", ""))
        if len(text) <= 4000 and len(_NORMS) < 20_000:  # the same rubric texts come back in every file
            _NORMS[text] = got
    return got


def _check_structure(rw: ReturnedWorkbook, plan: _Plan) -> list[Finding]:
    if not rw.has_score_sheet:
        return [finding("STRUCTURE_CHANGED", f"工作簿中的“{L.SCORE_SHEET}”工作表被删除或改名，无法读取分值。请使用原工作簿填写。")]
    score_sheet = rw.sheet(L.SCORE_SHEET)
    if score_sheet is not None and score_sheet.state != "visible":
        # the expert filled and printed a visible copy; the hidden original is what would be read
        shown = "、".join(f"“{s.name}”" for s in rw.sheets if s.state == "visible") or "无"
        return [finding(
            "STRUCTURE_CHANGED",
            f"“{L.SCORE_SHEET}”工作表被隐藏了（现在显示的工作表：{shown}），无法确定专家在哪个工作表上打分。"
            f"请取消隐藏“{L.SCORE_SHEET}”，在其上填写后重新发送。",
        )]
    out: list[Finding] = []
    # Row identity: column D holds the id of every item / part row. A mismatch means rows were
    # inserted, deleted or moved, and nothing below can be read by position.
    for row, id_ref, _, _, _, _ in plan.body:
        got = rw.cell(id_ref).text().strip()
        if got != row.id:
            shown = f"“{_clip(_shown(rw.cell(id_ref)))}”" if got else "空白"
            return [finding(
                "STRUCTURE_CHANGED",
                f"{L.SCORE_SHEET}第 {row.row} 行的编号应为 {row.id}，实际为{shown}：表格中的行被插入、删除或移动过，"
                "分值无法与评分项对应。请在发给您的原工作簿上填写，不要增删或移动行。",
                sheet_ref(f"{L.COL_ID}{row.row}"),
            )]
    # Defined names follow rows an expert inserts in Excel/WPS; they must still point home.
    for row, score_name in plan.names:
        target = rw.defined_names.get(score_name)
        if target is None:
            continue
        ref = target.split("!")[-1].replace("$", "")
        if ref != row.score_ref:
            return [finding(
                "STRUCTURE_CHANGED",
                f"{row.id} 的得分格已从 {row.score_ref} 移到 {ref}：表格结构被改动过（行或单元格被插入、删除或移动）。"
                "请在发给您的原工作簿上填写。",
                sheet_ref(row.score_ref),
            )]
    # Maxima and rubric text of every item / part row.
    for row, _, mref, maximum, tref, expected in plan.body:
        mcell = rw.cell(mref)
        if mcell.number() != maximum or mcell.kind not in ("number", "formula"):
            out.append(finding(
                "RUBRIC_CHANGED",
                f"{mref}（{row.id}）的分值应为 {row.max}，实际为“{_clip(_shown(mcell)) or '空白'}”：评价表内容被改动过。",
                sheet_ref(mref),
            ))
        if expected is not None:
            got = _norm(rw.cell(tref).text())
            # part rows show "（n）name": the number prefix is the writer's, the name the rubric's
            if got != expected and not (row.kind == "part" and got.endswith(expected) and len(got) - len(expected) <= 6):
                out.append(finding(
                    "RUBRIC_CHANGED",
                    f"{tref}（{row.id}）的评分标准文字与发放时不一致：评价表内容被改动过。",
                    sheet_ref(tref),
                ))
        if len(out) >= MAX_CELL_FINDINGS:
            break
    if out:
        out = [finding(
            f.code,
            f.message + "请使用发给您的原工作簿重新填写，不要修改评价表内容。",
            f.cell,
        ) for f in out]
    return out


_TEXTS: dict[str, dict[int, str]] = {}


def _expected_texts(rubric: Rubric, lay: L.SheetLayout) -> dict[int, str]:
    """Normalised criterion / part text per row, computed once per rubric."""
    got = _TEXTS.get(rubric.fingerprint)
    if got is None:
        got = {row.row: t for row in lay.rows if (t := _expected_text(row)) is not None}
        _TEXTS[rubric.fingerprint] = got
    return got


def _expected_text(row: L.Row) -> str | None:
    if row.kind == "part" and row.cell is not None and row.cell.part is not None:
        return _norm(row.cell.part.name)
    if row.kind == "item" and row.item is not None:
        return _norm(row.item.criterion)
    return None


# ───────────────────────────── scores ─────────────────────────────


def _check_scores(rw: ReturnedWorkbook, plan: _Plan) -> tuple[list[Finding], dict[int, Decimal]]:
    """Findings per score cell, and the numeric score per row for cells that hold one."""
    out: list[Finding] = []
    values: dict[int, Decimal] = {}
    counts: dict[str, int] = {}
    blanks: list[L.Row] = []

    def add(code: str, message: str, ref: str) -> None:
        counts[code] = counts.get(code, 0) + 1
        if counts[code] <= MAX_CELL_FINDINGS:
            out.append(finding(code, message, sheet_ref(ref)))

    allowed_values = plan.allowed
    for row in plan.inputs:
        sc = row.cell
        assert sc is not None
        raw = rw.scores.get(sc.id) or rw.cell(row.score_ref)
        if raw.kind == "number":  # the usual case: an allowed whole number, nothing to say
            d = raw.number()
            if d is not None and d in allowed_values[sc.id]:
                values[row.row] = d
                continue
        where = f"{L.SCORE_SHEET}!{row.score_ref}（{sc.label}）"
        allowed = sc.allowed.describe()
        if raw.is_blank:
            blanks.append(row)
            continue
        if raw.kind == "formula":
            add("SCORE_FORMULA", f"{where}填入的是公式“={raw.formula}”，得分格只能直接填写分数（允许的分值为 {allowed}），"
                "请改为数字后重新发送。", row.score_ref)
            continue
        if raw.kind in ("text", "bool", "error"):
            what = {"bool": "逻辑值", "error": "错误值"}.get(raw.kind, "文字")
            add("SCORE_TEXT", f"{where}填写的是{what}“{_clip(raw.text())}”而不是数字，该项允许的分值为 {allowed}，"
                "请改为数字后重新发送。", row.score_ref)
            continue
        d = raw.number()
        if d is None:
            add("SCORE_TEXT", f"{where}的内容“{_clip(raw.value)}”无法识别为数字，该项允许的分值为 {allowed}，"
                "请改正后重新发送。", row.score_ref)
            continue
        if d != d.to_integral_value() or int(d) not in sc.allowed:
            add("SCORE_NOT_ALLOWED", f"{where}填写了 {_shown(raw)} 分，该项允许的分值为 {allowed}，请改正后重新发送。",
                row.score_ref)
            continue
        values[row.row] = d
    if blanks and len(blanks) == len(plan.inputs):
        first = blanks[0]
        out.append(finding(
            "SCORE_BLANK",
            f"{L.SCORE_SHEET}中全部 {len(blanks)} 个得分格（{first.score_ref}~{blanks[-1].score_ref}）都没有打分："
            "发回的可能是未填写的空白工作簿，或填写后没有保存。请填写后保存并重新发送。",
            sheet_ref(first.score_ref),
        ))
    elif blanks:
        refs = "、".join(r.score_ref for r in blanks[:MAX_CELL_FINDINGS])
        more = f"等 {len(blanks)} 格" if len(blanks) > MAX_CELL_FINDINGS else ""
        for r in blanks[:MAX_CELL_FINDINGS]:
            assert r.cell is not None
            out.append(finding(
                "SCORE_BLANK",
                f"{L.SCORE_SHEET}!{r.score_ref}（{r.cell.label}）没有打分，请填写后重新发送"
                f"（未打分的格：{refs}{more}）。" if r is blanks[0] else
                f"{L.SCORE_SHEET}!{r.score_ref}（{r.cell.label}）没有打分，请填写后重新发送。",
                sheet_ref(r.score_ref),
            ))
    for code, n in counts.items():
        if n > MAX_CELL_FINDINGS:
            out.append(finding(code, f"另有 {n - MAX_CELL_FINDINGS} 个得分格存在同样问题，详见工作簿。"))
    return out, values


# Number formats that show a whole number as itself: General, text, 0, #,##0 and their
# decimals (a score is a whole number, so 10 shows as 10 or 10.00), with a locale prefix
# as WPS writes it. Anything else (literal text such as "5", percent, scaling, sections,
# colours, dates) can make a cell that holds 10 show something else.
_FAITHFUL_FORMAT = lazy_re(
    r"(?:\[\$-[0-9A-Fa-f]{1,8}\])?(?:\[(?:Black|Blue|Cyan|Green|Magenta|Red|White|Yellow|Color\d{1,2})\])?"
    r"(?:General|@|0|#,##0)(?:\.0{1,10})?", re.IGNORECASE)


_RANGE_REF = lazy_re(r"\$?([A-Z]{1,3})\$?(\d{1,7})(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?")


def _first_score_ref(sqref: str, plan: _Plan) -> str | None:
    """The first score cell a conditional-format range covers, if any."""
    inputs = {row.score_ref for row in plan.inputs}
    col = col_index(L.COL_SCORE)
    for m in _RANGE_REF.finditer(sqref.upper()):
        c1, r1 = col_index(m.group(1)), int(m.group(2))
        c2, r2 = (col_index(m.group(3)), int(m.group(4))) if m.group(3) else (c1, r1)
        if min(c1, c2) <= col <= max(c1, c2):
            lo, hi = min(r1, r2), max(r1, r2)
            hit = next((row.score_ref for row in plan.inputs if lo <= row.row <= hi), None)
            if hit in inputs:
                return hit
    return None


def _check_formats(rw: ReturnedWorkbook, plan: _Plan) -> list[Finding]:
    """A score cell must show what it holds: what the expert sees is what is counted."""
    out: list[Finding] = []
    for sqref, code in rw.conditional_formats.items():
        first = _first_score_ref(sqref, plan)
        if first is not None and not _FAITHFUL_FORMAT.fullmatch(code.strip()):
            out.append(finding(
                "SCORE_FORMAT",
                f"{L.SCORE_SHEET}的条件格式（范围 {_clip(sqref, 40)}）会把得分格的数字格式改为“{_clip(code, 40)}”，"
                "满足条件时显示的可能是另一个数：看到的分数与计入的分数不一致。请删除该条件格式后重新发送，"
                "或使用发给您的原工作簿填写。",
                sheet_ref(first),
            ))
    if not rw.score_formats:
        return out
    for row in plan.inputs:
        fmt = rw.score_formats.get(row.score_ref)
        if fmt is None or _FAITHFUL_FORMAT.fullmatch(fmt.strip()):
            continue
        assert row.cell is not None
        raw = rw.cell(row.score_ref)
        held = f"实际保存的是 {_shown(raw)}，" if raw.kind == "number" else ""
        out.append(finding(
            "SCORE_FORMAT",
            f"{L.SCORE_SHEET}!{row.score_ref}（{row.cell.label}）被设置了数字格式“{_clip(fmt, 40)}”，{held}"
            "屏幕和打印稿上显示的可能是另一个数：看到的分数与计入的分数不一致。请把该格的数字格式恢复为“常规”，"
            "核对分数后重新发送。",
            sheet_ref(row.score_ref),
        ))
        if len(out) >= MAX_CELL_FINDINGS:
            break
    return out


HUGE = Decimal(10) ** 15  # beyond what a score, a total or a row number can be


def _num_text(d: Decimal) -> str:
    """A number for a message: ``1E+308`` would print as 309 digits, which nobody can read."""
    if abs(d) >= HUGE:
        return "过大的数" if d > 0 else "过大的负数"
    return plain_number(d)


def _shown(cell: RawCell) -> str:
    """A cell as a message quotes it: numbers readable, everything else as typed."""
    if cell.kind == "number":
        d = cell.number()
        return _num_text(d) if d is not None else cell.value
    return cell.text()


def _clip(text: str, n: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ───────────────────────────── totals ─────────────────────────────


def expected_totals(lay: L.SheetLayout, values: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """Score per row for every formula row, computed from the input rows' values."""
    out = dict(values)
    for row in lay.rows:
        if row.sum_rows:
            out[row.row] = sum((out.get(r, Decimal(0)) for r in row.sum_rows), Decimal(0))
    return out


_SUM_FORMULAS: dict[tuple[str, tuple[int, ...]], bool] = {}


def _is_sum_of(formula: str, rows: tuple[int, ...]) -> bool:
    """Whether ``formula`` adds up exactly ``rows`` of the score column.

    Memoised: every file of an evaluation carries the same few dozen total formulas.
    """
    key = (formula, rows)
    got = _SUM_FORMULAS.get(key)
    if got is None:
        parsed = formula_rows(formula, L.COL_SCORE)
        got = not (parsed is None or parsed[1] or sorted(parsed[0]) != sorted(rows))
        if len(formula) <= 1000 and len(_SUM_FORMULAS) < 10_000:
            _SUM_FORMULAS[key] = got
    return got


def _check_totals(rw: ReturnedWorkbook, plan: _Plan, values: dict[int, Decimal] | None) -> list[Finding]:
    out: list[Finding] = []
    changed = 0
    formula_rows_ok: list[L.Row] = []
    for row in plan.sums:
        cell = rw.cell(row.score_ref)
        problem = None
        if cell.kind != "formula":
            problem = f"被替换为“{_clip(_shown(cell))}”" if not cell.is_blank else "被清空"
        elif not _is_sum_of(cell.formula, row.sum_rows):
            problem = f"被改为“={_clip(cell.formula, 60)}”"
        if problem:
            changed += 1
            if changed <= MAX_CELL_FINDINGS:
                out.append(finding(
                    "TOTAL_FORMULA_CHANGED",
                    f"{L.SCORE_SHEET}!{row.score_ref}（{_total_label(row)}）的计算公式{problem}。汇总时按各项得分重新计算，不受影响；"
                    "如需退回，请专家使用原工作簿。",
                    sheet_ref(row.score_ref),
                ))
        else:
            formula_rows_ok.append(row)
    if values is None or not formula_rows_ok:
        return out
    expected = expected_totals(plan.lay, values)
    cached = [(row, rw.cell(row.score_ref).number()) for row in formula_rows_ok]
    known = [(row, v) for row, v in cached if v is not None]
    # A file written by a program that does not calculate (openpyxl, a script) carries no
    # cached results, or the writer's zeros: nothing the expert saw can disagree then.
    if not known or all(v == 0 for _, v in known):
        return out
    wrong = [(row, v) for row, v in known if v != expected[row.row]]
    if wrong:
        row, v = next(((r, v) for r, v in wrong if r.kind == "total"), wrong[0])
        out.append(finding(
            "CACHED_TOTAL_MISMATCH",
            f"{L.SCORE_SHEET}!{row.score_ref}（{_total_label(row)}）文件中保存的结果为 {_num_text(v)}，"
            f"按各项得分计算应为 {plain_number(expected[row.row])}（共 {len(wrong)} 处合计不一致）。"
            "通常是表格未重新计算就保存（如关闭了自动重算）；汇总时以各项得分为准。"
            "请专家核对自己看到的总分是否与逐项得分一致。",
            sheet_ref(row.score_ref),
        ))
    return out


def _total_label(row: L.Row) -> str:
    if row.kind == "item":
        return f"{row.id} 各分项合计"
    return row.label


# ───────────────────────────── protection, remarks, signature ─────────────────────────────


def _saved_by_libreoffice(rw: ReturnedWorkbook) -> bool:
    return "libreoffice" in rw.application.lower() or "openoffice" in rw.application.lower()


def _check_protection(rw: ReturnedWorkbook) -> list[Finding]:
    out: list[Finding] = []
    if not rw.score_sheet_protected:
        out.append(finding(
            "PROTECTION_REMOVED",
            f"“{L.SCORE_SHEET}”工作表的保护已被撤销：评分标准等内容可能被改动。已核对评价表内容未变，分值可用；"
            "请提醒专家不要撤销工作表保护。",
            sheet_ref("A1"),
        ))
    # LibreOffice does not keep workbook-structure protection when it saves .xlsx; only a
    # missing lock from another program means someone turned it off.
    if not rw.workbook_protected and not _saved_by_libreoffice(rw):
        out.append(finding(
            "PROTECTION_REMOVED",
            "工作簿结构保护已被撤销（可增删、改名或显示隐藏的工作表）。已核对身份信息和评价表内容未变，分值可用。",
        ))
    return out


def _check_remarks(rw: ReturnedWorkbook, plan: _Plan, values: Mapping[int, Decimal]) -> list[Finding]:
    out: list[Finding] = []
    missing: list[L.Row] = []
    for row in plan.inputs:
        v = values.get(row.row)
        if v is None or v >= row.max:
            continue
        item_id = row.item.id if row.item is not None else row.id
        if rw.remarks.get(row.id) or rw.remarks.get(item_id):
            continue
        missing.append(row)
    for row in missing[:MAX_CELL_FINDINGS]:
        assert row.cell is not None
        out.append(finding(
            "REMARK_MISSING",
            f"{L.SCORE_SHEET}!{row.score_ref}（{row.cell.label}）得 {plain_number(values[row.row])} 分，低于满分 {row.max} 分，"
            f"但 {row.note_ref} 没有填写扣分说明，请专家补充扣分理由。",
            sheet_ref(row.note_ref),
        ))
    if len(missing) > MAX_CELL_FINDINGS:
        out.append(finding("REMARK_MISSING", f"另有 {len(missing) - MAX_CELL_FINDINGS} 个扣分项没有填写扣分说明。"))
    return out


def _check_signature(rw: ReturnedWorkbook, lay: L.SheetLayout) -> list[Finding]:
    out: list[Finding] = []
    if not rw.sign_name:
        out.append(finding(
            "SIGNATURE_BLANK",
            f"{L.SCORE_SHEET}!{lay.signature_cell}（专家签名）为空，请专家填写姓名（打印稿须亲笔签名）。",
            sheet_ref(lay.signature_cell),
        ))
    if not rw.sign_date:
        out.append(finding(
            "DATE_BLANK",
            f"{L.SCORE_SHEET}!{lay.sign_date_cell}（日期）为空，请专家填写评分日期。",
            sheet_ref(lay.sign_date_cell),
        ))
    return out


# ───────────────────────────── experts' commitment ─────────────────────────────


def check_commitment(rw: ReturnedWorkbook, lay: L.SheetLayout) -> list[Finding]:
    """An expert's workbook counts only with the commitment confirmed (clauses 4.3, 8.1.1).

    The cell is found through the defined name ``commitment`` when the file still has it
    (names follow rows a program moves), else at its layout position. The self-evaluation
    has no commitment block.
    """
    if rw.kind != "expert":
        return []
    target = rw.defined_names.get(L.NAME_COMMITMENT) or ""
    sheet, _, where = target.rpartition("!")
    on_score_sheet = sheet.strip("'") == L.SCORE_SHEET and re.fullmatch(r"\$?[A-Z]{1,3}\$?\d+", where)
    ref = where.replace("$", "") if on_score_sheet else L.commitment_cell(lay)
    value = rw.cell(ref).text().strip()
    if value == L.COMMITMENT_VALUE:
        return []
    shown = f"填写的是“{_clip(value)}”" if value else "为空"
    return [finding(
        "COMMITMENT_MISSING",
        f"{L.SCORE_SHEET}!{ref}（专家承诺确认）{shown}：专家须阅读评分表末尾的承诺（保密、独立评分、无利益冲突），"
        f"并在该格选择“{L.COMMITMENT_VALUE}”后重新发送；未确认承诺的评分表不能接收。",
        sheet_ref(ref),
    )]
