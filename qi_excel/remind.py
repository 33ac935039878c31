"""Reminders and correction requests: one mail draft per panel member still owing a workbook.

Chasing is most of an organizer's work between issue and consolidation. A member who has not
returned anything gets their issued workbook again with the deadline; a member whose latest
return was rejected gets every finding (sheet, cell, message) and their own file back to
correct. Members already accepted, or excused by the organizer (``.qi/excused.json``, written
by ``qi-excel excuse`` when present), get nothing. Drafts are .eml files with ``X-Unsent: 1``
like ``issue --eml``; each run replaces the drafts of the previous one, so the 催办 folder
always shows exactly who is still to be chased.

Deadline: the 内部沟通 time of 基本信息 (the panel needs every score for its internal
discussion, clause 8.3), else the 末次会议 time, else none (the body asks for a prompt
return); ``deadline=`` overrides it.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from . import evaluation as ev
from .checks import Finding
from .dates import day_text
from .errors import QiError
from .fileio import write_bytes_atomic, write_text_atomic

REMIND_DIR = "催办"
REMINDED_FILE = ".qi/reminded.json"  # drafts the last run wrote (removed when no longer needed)
EXCUSED_FILE = ".qi/excused.json"

Reason = Literal["missing", "rejected"]


@dataclass(frozen=True)
class Reminder:
    expert_id: str
    expert: str
    reason: Reason
    file: str  # the draft, relative to the evaluation folder
    attached: str  # the attached workbook's file name
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"expert_id": self.expert_id, "expert": self.expert, "reason": self.reason, "file": self.file}


@dataclass(frozen=True)
class RemindResult:
    reminders: tuple[Reminder, ...]
    skipped: tuple[str, ...]  # members who cannot be reminded yet (not issued), as sentences
    deadline: str

    def to_json(self) -> dict[str, Any]:
        return {"reminders": [r.to_json() for r in self.reminders]}


# ───────────────────────────── pure parts ─────────────────────────────


def load_excused(folder: str | Path) -> set[str]:
    """Expert ids the organizer excused; tolerant of the file's absence and of its shape.

    Accepted shapes: ``["E03"]``, ``[{"expert_id": "E03", ...}]``, ``{"E03": {...}}`` or
    ``{"excused": [...]}`` of either list form.
    """
    path = Path(folder) / EXCUSED_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, UnicodeDecodeError):
        raise QiError(f"{path} 已损坏，无法读取免于交回的专家名单；请从备份恢复该文件。") from None
    if isinstance(data, dict) and isinstance(data.get("excused"), (list, dict)):
        data = data["excused"]
    if isinstance(data, dict):
        return {str(k) for k in data}
    out: set[str] = set()
    if isinstance(data, list):
        for item in data:
            if isinstance(item, str):
                out.add(item)
            elif isinstance(item, dict) and item.get("expert_id"):
                out.add(str(item["expert_id"]))
    return out


_STAMP = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}:\d{2}))?")


def deadline_from(info: ev.EvaluationInfo) -> str:
    """The return deadline people read (``2025年6月18日 17:00前``), or "" when none is known."""
    for value in (info.internal_meeting, info.last_meeting):
        m = _STAMP.match(value or "")
        if m:
            day = f"{int(m[1])}年{int(m[2])}月{int(m[3])}日"
            return f"{day} {m[4]}前" if m[4] else f"{day}前"
    return ""


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """One line per error finding: where (sheet!cell) and what to do."""
    lines: list[str] = []
    for f in findings:
        if f.severity != "error":
            continue
        if f.cell and f.cell in f.message:
            lines.append(f"{len(lines) + 1}．{f.message}")
        else:
            lines.append(f"{len(lines) + 1}．{f.cell or '整个文件'}：{f.message}")
    return lines


def _today(on: datetime.date | None = None) -> str:
    return day_text(on or datetime.date.today())


def missing_body(info: ev.EvaluationInfo, expert: ev.Expert, filename: str, deadline: str, *,
                 on: datetime.date | None = None) -> str:
    organizer = info.organizer or "评价组织"
    when = f"请于{deadline}" if deadline else "请尽快"
    return (
        f"尊敬的{expert.name}专家：\n\n"
        f"您好！{info.service_name}评价的专家评分工作簿我们尚未收到。现将您的评分工作簿《{filename}》再次附上，"
        f"{when}填写完毕（逐项打分、扣分说明、确认专家承诺、签名和日期）后回复本邮件发回。\n\n"
        "如您已经发出，请忽略本邮件，或告知我们发送的时间，以便核对。\n\n"
        f"{organizer}\n{_today(on)}\n"
    )


def rejected_body(info: ev.EvaluationInfo, expert: ev.Expert, filename: str, findings: Sequence[Finding],
                  deadline: str, *, on: datetime.date | None = None) -> str:
    organizer = info.organizer or "评价组织"
    when = f"请于{deadline}" if deadline else "请尽快"
    lines = "\n".join(finding_lines(findings)) or "（检查记录中没有具体问题，请与我们联系。）"
    return (
        f"尊敬的{expert.name}专家：\n\n"
        f"您好！感谢您发回{info.service_name}评价的评分工作簿。经检查，这份工作簿存在以下问题，暂不能接收：\n\n"
        f"{lines}\n\n"
        f"现将您发回的文件《{filename}》附上，请在该文件上按以上说明修改（请勿另存为其他格式），"
        f"{when}保存后回复本邮件发回。\n\n"
        f"{organizer}\n{_today(on)}\n"
    )


# ───────────────────────────── the folder ─────────────────────────────


def _returned_bytes(folder: Path, entry: dict[str, Any]) -> tuple[str, bytes] | None:
    """The bytes of a rejected return, from where collect found it (a file or a mail's attachment)."""
    want = entry.get("sha256")
    for source in entry.get("sources", []):
        m = re.match(r"^(.*)\[(\d+):(.*)\]$", str(source))
        try:
            if m and m[1].lower().endswith(".eml"):
                msg = email.message_from_bytes(Path(m[1]).read_bytes(), policy=email.policy.default)
                from .collect import _attachments

                parts = list(_attachments(msg))
                index = int(m[2]) - 1
                if 0 <= index < len(parts) and parts[index][1] is not None:
                    data = parts[index][1]
                    if hashlib.sha256(data).hexdigest() == want:  # type: ignore[arg-type]
                        return m[3], data  # type: ignore[return-value]
            else:
                path = Path(source)
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() == want:
                    return path.name, data
        except (OSError, ValueError):
            continue
    return None


def _latest_rejected(entries: list[dict[str, Any]], statuses: dict[str, str], expert_id: str) -> dict[str, Any] | None:
    from .collect import _order_key

    mine = [e for e in entries if e.get("expert_id") == expert_id and (e.get("kind") or "expert") == "expert"]
    if not mine or any(statuses.get(e["sha256"]) == "accepted" for e in mine):
        return None
    return max(mine, key=_order_key)


def _draft_name(expert: ev.Expert, reason: Reason) -> str:
    from .workbook import safe_file_part

    what = "催交" if reason == "missing" else "更正"
    return f"{REMIND_DIR}/{expert.number:02d}-{safe_file_part(expert.name) or expert.expert_id}-{what}.eml"


def remind(folder: str | Path, *, deadline: str | None = None, today: datetime.date | None = None) -> RemindResult:
    """Write a draft for each panel member without an accepted return (and not excused).

    ``today`` dates the letters (the clock by default)."""
    from .collect import _load_ledger, _resolve_statuses
    from .eml import draft

    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    ev.load_secret(root)  # a clear message when this is not an evaluation folder
    info, panel = ev.load_project(root)
    issued = {r.expert_id: r for r in ev.load_issued(root) if r.kind == "expert"}
    if not issued:
        raise QiError("还没有发放专家评分工作簿，无需催办：请先运行 qi-excel issue。")
    from .ledger import LedgerEntry

    # entries collect could not use are kept in the file as they were (and reported by collect)
    entries: list[dict[str, Any]] = [e for e in _load_ledger(root)["entries"] if LedgerEntry.usable(e)]
    statuses = _resolve_statuses(entries)
    excused = load_excused(root)
    when = deadline.strip() if deadline else deadline_from(info)

    outputs: list[tuple[str, bytes]] = []
    reminders: list[Reminder] = []
    skipped: list[str] = []
    for expert in panel.experts:
        eid = expert.expert_id
        if eid in excused:
            continue
        if any(statuses.get(e["sha256"]) == "accepted" for e in entries
               if e.get("expert_id") == eid and (e.get("kind") or "expert") == "expert"):
            continue
        record = issued.get(eid)
        if record is None:
            skipped.append(f"{expert.name}（{eid}）尚未发放评分工作簿，请先运行 qi-excel issue。")
            continue
        rejected = _latest_rejected(entries, statuses, eid)
        subject_base = f"{info.service_name}评价 专家评分表"
        if rejected is not None:
            findings = tuple(Finding.from_json(f) for f in rejected.get("findings", []))
            own = _returned_bytes(root, rejected)
            if own is None:  # the returned file is gone from the inbox: send the blank again
                name, data = Path(record.file).name, _issued_bytes(root, record)
            else:
                name, data = own
            body = rejected_body(info, expert, name, findings, when, on=today)
            subject = f"{subject_base}需修改后重新发送（{expert.name}）"
            reason: Reason = "rejected"
        else:
            findings = ()
            name, data = Path(record.file).name, _issued_bytes(root, record)
            body = missing_body(info, expert, name, when, on=today)
            subject = f"提醒：{subject_base}尚未交回（{expert.name}）"
            reason = "missing"
        rel = _draft_name(expert, reason)
        outputs.append((rel, draft(expert.name, expert.email, subject, body, name, data)))
        reminders.append(Reminder(eid, expert.name, reason, rel, name, findings))

    previous = _previous_drafts(root)
    for rel, data in outputs:
        write_bytes_atomic(root / rel, data)
    current = {rel for rel, _ in outputs}
    for rel in previous - current:  # drafts of people no longer to be chased
        path = root / rel
        if path.parent == root / REMIND_DIR and path.suffix == ".eml":
            path.unlink(missing_ok=True)
    write_text_atomic(root / REMINDED_FILE, json.dumps(sorted(current), ensure_ascii=False, indent=2) + "\n")
    return RemindResult(tuple(reminders), tuple(skipped), when)


def _issued_bytes(root: Path, record: ev.IssuedRecord) -> bytes:
    path = root / record.file
    try:
        return path.read_bytes()
    except OSError:
        raise QiError(f"发放的工作簿 {path} 不见了，无法附在催办邮件中：请重新运行 qi-excel issue。") from None


def _previous_drafts(root: Path) -> set[str]:
    try:
        data = json.loads((root / REMINDED_FILE).read_text(encoding="utf-8"))
        return {str(x) for x in data if isinstance(x, str)} if isinstance(data, list) else set()
    except (OSError, ValueError, UnicodeDecodeError):
        return set()
