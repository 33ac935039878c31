"""Panel members excused by the organizer, and who therefore counts in the result.

Clause 7.2 sets the panel and 8.3.2 has every member score; when a member cannot take part
(ill on the day of the site visit, a conflict of interest found late) the organizer records
the reason instead, and the official documents say so. A final result is only possible when
every roster member has either an accepted score workbook or such a recorded reason, and the
members who count are still at least the clause 7.2 minimum.

An excusal is recorded in one of two places: ``qi-excel excuse`` writes ``.qi/excused.json``,
and an organizer who prefers Excel types the reason in the optional 未参加原因 column of
评价项目.xlsx's 专家组 sheet. The command wins when both give a reason.

The top of this module is pure (``account``; the roster column is read by ``project.reasons_from_rows``); the folder functions at
the bottom read and write the state file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import QiError
from .project import EXCUSE_COLUMN, MIN_EXPERTS, PANEL_SHEET, PROJECT_FILE, clean_reason

if TYPE_CHECKING:
    from .project import Expert, Panel

EXCUSED_FILE = ".qi/excused.json"
MAX_REASON = 200


@dataclass(frozen=True)
class Excusal:
    """A roster member who does not take part, and why (printed in the report and archive)."""

    expert_id: str
    expert: str  # the member's name
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"expert_id": self.expert_id, "expert": self.expert, "reason": self.reason}


@dataclass(frozen=True)
class PanelAccount:
    """Who counts in the result: accepted workbooks, excused members, and who is still missing."""

    members: int
    counted: tuple[str, ...]  # expert ids with an accepted workbook and not excused
    excused: tuple[Excusal, ...]
    missing: tuple[tuple[str, str], ...]  # (expert id, name): neither accepted nor excused
    ignored: tuple[str, ...] = ()  # excused members whose accepted workbook is left out

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def enough(self) -> bool:
        return len(self.counted) >= MIN_EXPERTS

    def to_json(self) -> dict[str, Any]:
        """The ``panel`` block of ``qi-excel consolidate --json``."""
        return {"members": self.members, "counted": len(self.counted),
                "excused": [e.to_json() for e in self.excused]}


# ───────────────────────────── pure ─────────────────────────────


def find_member(experts: Sequence["Expert"], who: str) -> "Expert":
    """A roster member by id (E03, e3, 3) or by name; a clear message when none or several match."""
    key = who.strip()
    if not key:
        raise QiError("请给出专家编号（如 E03）或姓名。")
    ident = key.upper()
    if ident.startswith("E") and ident[1:].isdigit():
        ident = f"E{int(ident[1:]):02d}"
    elif ident.isdigit():
        ident = f"E{int(ident):02d}"
    by_id = [e for e in experts if e.expert_id == ident]
    if by_id:
        return by_id[0]
    compact = key.replace(" ", "").replace("　", "")
    by_name = [e for e in experts if e.name == compact]
    if len(by_name) == 1:
        return by_name[0]
    roster = "、".join(f"{e.expert_id} {e.name}" for e in experts)
    raise QiError(f"专家组名单中没有“{who}”。名单：{roster}。")


def effective_excusals(experts: Sequence["Expert"], stored: Mapping[str, str]) -> tuple[Excusal, ...]:
    """The command's record first, then the roster's 未参加原因 column, in roster order."""
    out = []
    for e in experts:
        reason = stored.get(e.expert_id) or e.excused
        if reason:
            out.append(Excusal(e.expert_id, e.name, reason))
    return tuple(out)


def account(experts: Sequence["Expert"], accepted: Iterable[str], excused: Sequence[Excusal]) -> PanelAccount:
    """Who counts: an excused member does not, even if a workbook from them was accepted."""
    accepted_ids = set(accepted)
    excused_ids = {x.expert_id for x in excused}
    counted = tuple(e.expert_id for e in experts if e.expert_id in accepted_ids and e.expert_id not in excused_ids)
    missing = tuple((e.expert_id, e.name) for e in experts
                    if e.expert_id not in accepted_ids and e.expert_id not in excused_ids)
    ignored = tuple(e.expert_id for e in experts if e.expert_id in accepted_ids and e.expert_id in excused_ids)
    return PanelAccount(len(experts), counted, tuple(excused), missing, ignored)


def refusal(account_: PanelAccount, folder: str) -> str:
    """Why a final result cannot be made yet, and what to do (Chinese, for the organizer)."""
    lines = []
    if account_.missing:
        names = "、".join(f"{name}（{ident}）" for ident, name in account_.missing)
        lines.append(f"专家组 {account_.members} 人中，{names}还没有已接收的评分表，不能形成正式汇总结果"
                     "（规范 8.3.2 条：专家组成员独立量化打分）。")
        lines.append("请回收并检查其评分表（qi-excel collect）；如该专家确实不能参加评价，请记录原因，例如：")
        ident = account_.missing[0][0]
        lines.append(f"  qi-excel excuse {folder} {ident} --reason 因病未能参加现场考察")
    if not account_.enough:
        lines.append(f"计入评分的专家只有 {len(account_.counted)} 人，少于规范 7.2 条要求的 {MIN_EXPERTS} 人，"
                     "只能加 --draft 生成草稿。")
    elif account_.missing:
        lines.append("如只需预览，可加 --draft 生成草稿。")
    return "\n".join(lines)


# ───────────────────────────── the evaluation folder ─────────────────────────────


def load_stored(folder: str | Path) -> dict[str, str]:
    """``.qi/excused.json``: expert id → reason (empty when nobody was excused by command)."""
    path = Path(folder) / EXCUSED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError):
        raise QiError(f"{path} 已损坏，无法读取请假记录；请删除该文件后重新运行 qi-excel excuse。") from None
    entries = data.get("excused") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise QiError(f"{path} 已损坏，无法读取请假记录；请删除该文件后重新运行 qi-excel excuse。")
    out = {}
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("expert_id"), str) and isinstance(e.get("reason"), str):
            out[e["expert_id"]] = clean_reason(e["reason"])
    return out


def _save_stored(folder: Path, stored: Mapping[str, tuple[str, str]]) -> None:
    from .fileio import write_text_atomic

    body = {"excused": [{"expert_id": k, "expert": name, "reason": reason}
                        for k, (name, reason) in sorted(stored.items())]}
    write_text_atomic(folder / EXCUSED_FILE, json.dumps(body, ensure_ascii=False, indent=1) + "\n")


def folder_excusals(folder: str | Path, panel: "Panel") -> tuple[Excusal, ...]:
    return effective_excusals(panel.experts, load_stored(folder))


def excuse(folder: str | Path, who: str, reason: str) -> Excusal:
    """Record that ``who`` does not take part; refused if fewer than 5 members would remain."""
    from .evaluation import load_project

    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    text = clean_reason(reason)
    if not text:
        raise QiError("请用 --reason 写明该专家未参加评价的原因（将写入评价报告和评价档案）。")
    if len(text) > MAX_REASON:
        raise QiError(f"原因太长（{len(text)} 字），请不超过 {MAX_REASON} 字。")
    _info, panel = load_project(root)
    member = find_member(panel.experts, who)
    stored = load_stored(root)
    after = effective_excusals(panel.experts, {**stored, member.expert_id: text})
    remaining = len(panel.experts) - len(after)
    if remaining < MIN_EXPERTS:
        raise QiError(
            f"不能登记 {member.name}（{member.expert_id}）请假：专家组 {len(panel.experts)} 人，"
            f"请假后只剩 {remaining} 人，少于规范 7.2 条要求的 {MIN_EXPERTS} 人。"
            "请补充专家（在 评价项目.xlsx 的“专家组”中增加并发放评分表），或只用 --draft 生成草稿。"
        )
    names = {e.expert_id: e.name for e in panel.experts}
    record = {k: (names.get(k, k), v) for k, v in stored.items()}
    record[member.expert_id] = (member.name, text)
    _save_stored(root, record)
    return Excusal(member.expert_id, member.name, text)


def undo_excuse(folder: str | Path, who: str) -> Excusal:
    """Take an excusal back (the member counts again, so their workbook is needed)."""
    from .evaluation import load_project

    root = Path(folder)
    _info, panel = load_project(root)
    member = find_member(panel.experts, who)
    stored = load_stored(root)
    if member.expert_id not in stored:
        if member.excused:
            raise QiError(f"{member.name}（{member.expert_id}）的未参加原因写在 {PROJECT_FILE} 的“{PANEL_SHEET}”表中，"
                          f"请在表中清空“{EXCUSE_COLUMN}”一栏后保存。")
        raise QiError(f"{member.name}（{member.expert_id}）没有请假记录，无需撤销。")
    reason = stored.pop(member.expert_id)
    names = {e.expert_id: e.name for e in panel.experts}
    _save_stored(root, {k: (names.get(k, k), v) for k, v in stored.items()})
    return Excusal(member.expert_id, member.name, reason)
