"""回收/ledger.json: every returned file collect has seen, and which one counts per expert.

The ledger is a file in the evaluation folder like any other: it may be edited by hand,
copied from an older tool or damaged. Each usable entry becomes a frozen ``LedgerEntry``;
anything else (not an object, no sha256, a second entry for the same file) is kept in the
file exactly as it was and reported, never a crash. Which return is in use is decided here,
from what the organizer's side recorded (see ``order_key``), never from the sender's clock.
Pure logic apart from ``Ledger.load``; writing is the caller's (atomic, only when changed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import QiError, os_error_text
from .evaluation import LEDGER_FILE
from .findings import UNATTRIBUTED_CODES, Finding, finding
from .lazy_re import lazy_re

LEDGER_VERSION = 1

_SHA256 = lazy_re(r"[0-9a-f]{64}")
_TEXT_KEYS = ("kind", "expert_id", "expert_name", "saved_at", "arrival", "stored", "label")
_KNOWN_KEYS = frozenset({"sha256", "sources", "first_seen", "seq", "ok", "findings", "status", *_TEXT_KEYS})

_MIN_TIME = datetime.min.replace(tzinfo=UTC)
CLOCK_SLACK = timedelta(days=1)  # save times written in local time but marked UTC are up to 14 h off


class LedgerEntry(NamedTuple):
    """One returned file (by content) as the ledger records it.

    ``sources`` are where the same bytes were found (the first one is shown); ``arrival`` is
    when it reached the organizer, ``saved_at`` what the file itself claims. ``extra`` keeps
    keys this version does not know, so a rewrite never loses them.

    A named tuple rather than a frozen dataclass (as immutable, compared field by field; a
    changed copy is ``entry._replace(...)``): a dataclass of 15 fields costs ~1.5 ms to
    define, paid by every fresh ``collect`` and ``status``.
    """

    sha256: str
    sources: tuple[str, ...] = ()
    first_seen: str | None = None
    arrival: str | None = None
    seq: Any = None  # an int as written by collect; anything else reads as 0
    kind: str | None = None
    expert_id: str | None = None
    expert_name: str | None = None
    saved_at: str | None = None
    ok: bool = False
    findings: tuple[Finding, ...] = ()
    label: str | None = None
    stored: str | None = None
    status: str | None = None
    extra: Mapping[str, Any] = MappingProxyType({})

    @property
    def order(self) -> int:
        """The ledger's sequence number; 0 for an entry without a valid one."""
        return self.seq if isinstance(self.seq, int) and not isinstance(self.seq, bool) else 0

    @property
    def source(self) -> str:
        """The file as the organizer first gave it, for messages."""
        return self.sources[0] if self.sources else (self.label or "?")

    @staticmethod
    def usable(raw: Any) -> bool:
        return isinstance(raw, dict) and isinstance(raw.get("sha256"), str) and bool(_SHA256.fullmatch(raw["sha256"]))

    @classmethod
    def from_json(cls, raw: Any) -> LedgerEntry | None:
        """The entry, fields coerced to the types the code expects; None when unusable."""
        if not cls.usable(raw):
            return None
        sha = raw["sha256"]
        sources = raw.get("sources")
        found = raw.get("findings")
        text = {k: (raw.get(k) if isinstance(raw.get(k), str) else None) for k in _TEXT_KEYS}
        first_seen = raw.get("first_seen")
        status = raw.get("status")
        return cls(
            sha256=sha,
            sources=tuple(str(x) for x in sources) if isinstance(sources, list) and sources
            else (str(raw.get("label") or sha[:16]),),
            first_seen=first_seen if isinstance(first_seen, str) else None,
            seq=raw.get("seq"),
            ok=raw.get("ok") if isinstance(raw.get("ok"), bool) else False,
            findings=tuple(Finding.from_json(f) for f in found if isinstance(f, dict)) if isinstance(found, list) else (),
            status=status if isinstance(status, str) else None,
            extra={k: v for k, v in raw.items() if k not in _KNOWN_KEYS},
            **text,
        )

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        out.update({
            "sha256": self.sha256,
            "sources": list(self.sources),
            "first_seen": self.first_seen,
            "arrival": self.arrival,
            "seq": self.seq,
            "kind": self.kind,
            "expert_id": self.expert_id,
            "expert_name": self.expert_name,
            "saved_at": self.saved_at,
            "ok": self.ok,
            "findings": [f.to_json() for f in self.findings],
            "label": self.label,
            "stored": self.stored,
        })
        if self.status is not None:
            out["status"] = self.status
        return out


@dataclass
class Ledger:
    """The ledger file as read: usable entries in order, everything else kept as it was.

    Mutable on purpose: one collect run reads it, puts new and changed entries, and writes
    it once, under the folder lock.
    """

    items: list[Any]  # LedgerEntry, or a raw entry that could not be used (written back as is)
    top: dict[str, Any] = field(default_factory=dict)  # other top-level keys, kept
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ledger:
        items: list[Any] = []
        index: dict[str, int] = {}
        for raw in data.get("entries", []):
            entry = LedgerEntry.from_json(raw)
            if entry is not None and entry.sha256 not in index:
                index[entry.sha256] = len(items)
                items.append(entry)
            else:
                items.append(raw)
        return cls(items, {k: v for k, v in data.items() if k not in ("version", "entries")}, index)

    @classmethod
    def load(cls, folder: Path) -> Ledger:
        return cls.from_json(load_raw(folder))

    def entries(self) -> list[LedgerEntry]:
        """The usable entries, one per file content, in ledger order."""
        return [x for x in self.items if isinstance(x, LedgerEntry)]

    def get(self, sha256: str) -> LedgerEntry | None:
        i = self._index.get(sha256)
        return self.items[i] if i is not None else None

    def put(self, entry: LedgerEntry) -> None:
        """Record ``entry``, replacing the one for the same file in place, else appending."""
        i = self._index.get(entry.sha256)
        if i is None:
            self._index[entry.sha256] = len(self.items)
            self.items.append(entry)
        else:
            self.items[i] = entry

    def next_seq(self) -> int:
        return max((e.order for e in self.entries()), default=0) + 1

    def problems(self) -> list[Finding]:
        """One finding per entry that was skipped (it stays in the file untouched)."""
        out: list[Finding] = []
        for i, x in enumerate(self.items, 1):
            if isinstance(x, LedgerEntry):
                continue
            what = "不是一条完整的记录" if not isinstance(x, dict) else (
                "与前面的记录重复" if LedgerEntry.usable(x) else "缺少文件指纹（sha256）")
            out.append(finding(
                "READ_FAILED",
                f"回收记录 ledger.json 的第 {i} 条{what}，已跳过（原样保留在文件中）；其余记录和文件照常处理。"
                "如这条记录对应的文件仍需回收，请把该文件重新放入收件箱。",
            ))
        return out

    def to_json(self) -> dict[str, Any]:
        out = dict(self.top)
        out["version"] = LEDGER_VERSION
        out["entries"] = [x.to_json() if isinstance(x, LedgerEntry) else x for x in self.items]
        return out

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def load_raw(folder: Path) -> dict[str, Any]:
    """The ledger file's JSON object (an empty ledger when there is none yet)."""
    path = folder / LEDGER_FILE
    if not path.is_file():
        return {"version": LEDGER_VERSION, "entries": []}
    damaged = QiError(f"{path} 已损坏，无法读取回收记录；请从备份恢复该文件，或删除它后重新回收。")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QiError(f"无法读取回收记录 {path}（{os_error_text(exc)}）。") from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise damaged from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise damaged
    return data


# ───────────────────────────── which return counts ─────────────────────────────


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())  # takes "Z" since Python 3.11
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def plausible_saved(entry: LedgerEntry) -> datetime | None:
    """The file's own save time, unless it is after the file arrived (a wrong clock)."""
    saved = parse_time(entry.saved_at)
    arrival = parse_time(entry.arrival)
    if saved is None or (arrival is not None and saved - arrival > CLOCK_SLACK):  # never overflows
        return None
    return saved


def order_key(entry: LedgerEntry) -> tuple[datetime, datetime, int]:
    """Which of two returns from one expert is the later one.

    Decided by what the organizer's side recorded: the arrival (the organizer's mail server
    stamp in the topmost Received header, else the mail's Date, else the time the file landed
    in the inbox; never later than when ``collect`` first saw it), then, for returns that
    arrived in the same second, the file's own save time as a hint, then the ledger's
    sequence. The save time comes from the expert's PC clock, which may say 2099 or nothing
    at all: it never overrides an arrival. When it disagrees with the arrival order the
    organizer is told (ORDER_DOUBT, CLOCK_WRONG), and the later arrival stays in use: an
    expert who sends an older file by mistake fixes it by sending the right one again.
    """
    arrival = parse_time(entry.arrival) or _MIN_TIME
    return arrival, plausible_saved(entry) or _MIN_TIME, entry.order


def attributed(entry: LedgerEntry) -> bool:
    """A rejected file whose identity verified: it really is this expert's earlier attempt."""
    codes = {f.code for f in entry.findings}
    return bool(entry.expert_id) and not codes & UNATTRIBUTED_CODES


def same_person(a: LedgerEntry, b: LedgerEntry) -> bool:
    return a.kind == b.kind and a.expert_id == b.expert_id


# What each status reads as, wherever a person sees it (collect's console lines, 检查报告, the web page).
STATUS_LABEL = {"accepted": "已接收", "rejected": "拒收", "superseded": "已被替代"}


def resolve_statuses(entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """sha256 → status; the current accepted file per (kind, expert) is the latest arrived.

    A rejected file of a verified expert that an accepted file arrived later replaces is
    superseded too: once the expert has sent a corrected file, the old one needs no chasing.
    """
    status: dict[str, str] = {}
    groups: dict[tuple[str, str], list[LedgerEntry]] = {}
    rejected: list[LedgerEntry] = []
    for e in entries:
        if e.ok:
            groups.setdefault((e.kind or "", e.expert_id or ""), []).append(e)
        else:
            status[e.sha256] = "rejected"
            rejected.append(e)
    for group in groups.values():
        group.sort(key=order_key)
        for e in group[:-1]:
            status[e.sha256] = "superseded"
        status[group[-1].sha256] = "accepted"
    for e in rejected:
        theirs = groups.get((e.kind or "", e.expert_id or ""))
        if theirs and attributed(e) and order_key(theirs[-1]) > order_key(e):
            status[e.sha256] = "superseded"
    return status


def in_use(entries: Sequence[LedgerEntry], statuses: Mapping[str, str], e: LedgerEntry) -> LedgerEntry:
    """The accepted entry of the person ``e`` belongs to."""
    return next(x for x in entries if statuses.get(x.sha256) == "accepted" and same_person(x, e))


def with_status(entry: LedgerEntry, status: str) -> LedgerEntry:
    return entry if entry.status == status else entry._replace(status=status)
