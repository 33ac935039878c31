"""Collecting returned workbooks into the evaluation folder: where trust is decided.

Experts send files by e-mail, sometimes twice, sometimes the wrong file. ``collect`` reads
every candidate (an .xlsx, the .xlsx attachments of an .eml, or a folder of them), checks it,
copies accepted originals into 回收/ under a content-hash name and keeps a ledger there, so
a second run over the same files changes nothing and a later return from the same expert
supersedes the earlier one (by arrival, never by the sender's clock; see ``_order_key``). Sources are only
ever read. One bad file never stops the others: every failure becomes a finding.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from . import evaluation as ev
from .dates import human_time
from .errors import QiError, os_error_text
from .fileio import write_bytes_atomic, write_bytes_if_changed
from .findings import Finding, finding, has_errors
from .lazy_re import lazy_re
from .ledger import (
    Ledger,
    LedgerEntry,
    in_use,
    load_raw,
    order_key,
    parse_time,
    plausible_saved,
    resolve_statuses,
    same_person,
    with_status,
)
from .lock import folder_lock
from .package import MAX_FILE_BYTES, ReadError, sniff

if TYPE_CHECKING:
    from email.message import EmailMessage

    from .returned import ReturnedWorkbook
    from .rubric import Rubric

Status = Literal["accepted", "rejected", "superseded"]

MAX_EML_BYTES = 3 * MAX_FILE_BYTES  # base64 makes attachments a third larger
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".et", ".ett", ".ods", ".xlsb", ".csv", ".xltx")
_SKIP_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
_TNEF_MAGIC = b"\x78\x9f\x3e\x22"  # Outlook's winmail.dat


_MARK = {"accepted": "接收", "rejected": "拒收", "superseded": "被替代"}


class FileResult(NamedTuple):
    """One candidate file of a collect run (an .xlsx, or one attachment of an .eml).

    FileResult and ExpertStatus are named tuples rather than frozen dataclasses (as immutable,
    compared field by field): defining a dataclass costs ~1 ms, paid by every fresh ``collect``.
    """

    file: str  # as given on the command line / found in the folder; "mail.eml[附件名]" for attachments
    expert_id: str | None
    expert: str | None  # the expert's name (the applicant's for a self-evaluation)
    kind: str | None  # "expert" / "self"
    status: Status
    findings: tuple[Finding, ...]
    sha256: str | None = None
    stored: str | None = None  # relative to the evaluation folder, for accepted/superseded
    saved_at: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    def summary(self) -> str:
        """The one console line an organizer reads for this file.

        Names come from senders (file names, the name inside a workbook): control characters
        are shown escaped so a name can neither break the line nor drive the terminal.
        """
        who = f"{self.expert}（{self.expert_id}）" if self.expert and self.expert_id else "身份不明"
        return _printable(f"[{_MARK[self.status]}] {who}  {self.file}  拒收问题 {self.errors} 项，提醒 {self.warnings} 项")

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "expert": self.expert,
            "status": self.status,
            "findings": [f.to_json() for f in self.findings],
        }


class CollectResult(NamedTuple):
    """What one collect run found, and where its report and ledger are."""

    files: tuple[FileResult, ...]
    report: Path
    ledger: Path

    def count(self, status: Status) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def exit_code(self) -> int:
        return 1 if any(f.status == "rejected" for f in self.files) else 0

    def summary(self) -> str:
        if not self.files:
            return "没有找到需要检查的文件。"
        return (
            f"共 {len(self.files)} 个文件：接收 {self.count('accepted')} 个，拒收 {self.count('rejected')} 个，"
            f"被替代 {self.count('superseded')} 个。问题明细见 {self.report}"
        )

    def to_json(self) -> dict[str, Any]:
        return {"files": [f.to_json() for f in self.files]}


class ExpertStatus(NamedTuple):
    """One line of ``qi-excel status``: what the organizer needs to chase this person."""

    expert_id: str
    name: str
    email: str
    issued: bool
    issued_at: str | None
    returned: int  # files received that claim to be this expert's
    accepted: bool
    stored: str | None  # the accepted file in use
    saved_at: str | None
    findings: tuple[Finding, ...]  # of the file in use, or of the latest rejected return

    @property
    def state(self) -> str:
        if self.accepted:
            warn = sum(1 for f in self.findings if f.severity == "warning")
            return f"已接收（{warn} 项提醒）" if warn else "已接收"
        if self.returned:
            return "已交回但被拒收，需退回修改"
        return "已发放，尚未交回" if self.issued else "尚未发放"

    def to_json(self) -> dict[str, Any]:
        return {
            "expert_id": self.expert_id,
            "name": self.name,
            "issued": self.issued,
            "returned": self.returned,
            "accepted": self.accepted,
            "state": self.state,
            "file": self.stored,
            "findings": [f.to_json() for f in self.findings],
        }


# ───────────────────────────── candidates ─────────────────────────────


class _Candidate:
    """One file to check, as found. A plain class, not a dataclass: it is private and
    changed as it is read, and creating a dataclass costs each command ~0.35 ms at import."""

    __slots__ = ("label", "identity", "arrival", "data", "sender", "findings")

    def __init__(self, label: str, identity: str, arrival: str, data: bytes | None = None,
                 sender: str | None = None, findings: list[Finding] | None = None) -> None:
        self.label = label  # shown to the user
        self.identity = identity  # stable key of where it came from (resolved path [+ attachment])
        self.arrival = arrival  # ISO time: e-mail Date, else file modification time
        self.data = data
        self.sender = sender
        self.findings: list[Finding] = findings if findings is not None else []  # problems found before reading


_CONTROL = lazy_re(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1] if m.group(0) != "\t" else " ", text)


def _iso(ts: float | datetime) -> str:
    dt = ts if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def safe_name(name: str, fallback: str = "附件") -> str:
    """An attachment's name reduced to a harmless base name (no folders, no control characters)."""
    base = re.split(r"[\\/]", _undo_surrogates(name or ""))[-1]
    base = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "", base).strip().lstrip(".").strip()
    if len(base) > 120:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 110] + dot + ext[:9]) if dot else base[:120]
    return base or fallback


def _read_limited(path: Path, limit: int) -> bytes | None:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


def _too_large(size: int, limit: int) -> Finding:
    return finding("TOO_LARGE", f"文件大小为 {size / 1048576:.1f} MB，超过 {limit / 1048576:.0f} MB 的上限，未打开。")


def shown_path(text: str) -> str:
    """A path as text that can be printed and stored, whatever bytes its name is made of.

    On Linux a name that is not UTF-8 (``unzip`` of an archive made on a Chinese Windows
    gives GBK bytes) reaches Python as lone surrogates, which no file or terminal accepts.
    Such parts are decoded as GB18030 when they are that, so the organizer sees the name the
    sender meant; anything else shows replacement characters.
    """
    if not _SURROGATE.search(text):
        return text
    parts = []
    for part in text.split(os.sep):
        parts.append(_undo_surrogates(part))
    return os.sep.join(parts)


def _undo_surrogates(part: str) -> str:
    if not _SURROGATE.search(part):
        return part
    try:
        raw = part.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that stand for no byte
        return _SURROGATE.sub("\ufffd", part)
    for codec in ("utf-8", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    return raw.decode("utf-8", "replace")


_SURROGATE = lazy_re("[\ud800-\udfff]")


def _file_candidates(path: Path, label: str) -> Iterator[_Candidate]:
    label = shown_path(label)
    identity = shown_path(str(path.resolve()))
    try:
        st = path.stat()
        arrival = _iso(st.st_mtime)
    except OSError as exc:
        yield _Candidate(label, identity, _iso(0), findings=[finding("READ_FAILED", f"无法读取文件：{os_error_text(exc)}。")])
        return
    if not stat.S_ISREG(st.st_mode):  # a pipe or device named on the command line would block or never end
        yield _Candidate(label, identity, arrival, findings=[finding(
            "READ_FAILED", "这不是普通文件（可能是管道或设备），未读取。")])
        return
    if path.suffix.lower() == ".eml" and not _starts_like_workbook(path):
        # a workbook renamed .eml is read as the workbook it is
        yield from _eml_candidates(path, label, identity, arrival, st.st_size)
        return
    cand = _Candidate(label, identity, arrival)
    if st.st_size > MAX_FILE_BYTES:
        cand.findings.append(_too_large(st.st_size, MAX_FILE_BYTES))
    else:
        try:
            cand.data = _read_limited(path, MAX_FILE_BYTES)
            if cand.data is None:
                cand.findings.append(_too_large(MAX_FILE_BYTES + 1, MAX_FILE_BYTES))
        except OSError as exc:
            cand.findings.append(finding("READ_FAILED", f"无法读取文件（{os_error_text(exc)}），可能正被其他程序占用。"))
    yield cand


_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # a zip package (.xlsx) or an OLE2 file (.xls)


def _starts_like_workbook(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head.startswith(_WORKBOOK_MAGIC)


_HEADER_LINE = lazy_re(rb"(?:From |[!-9;-~]{1,76}:)")


# Python's header parser takes time that grows faster than the header's length: one
# attachment name made of 100,000 encoded words (1.4 MB) takes minutes. Real mail stays far
# below these bounds (a long Chinese file name is a dozen encoded words).
MAX_HEADER_BLOCK = 64 * 1024  # bytes of one header block (the message's or one part's)
MAX_ENCODED_WORDS = 2_000  # =?charset?B/Q?…?= words in all headers together
MAX_MIME_PARTS = 1_000
_ENCODED_WORD = lazy_re(rb"=\?[^?\s]{1,64}\?[bBqQ]\?")
_BOUNDARY_LINE = lazy_re(rb"^--[^\r\n]{1,200}\r?\n", re.MULTILINE)
_BLANK_LINE = lazy_re(rb"\r?\n\r?\n")


def _mail_too_complex(raw: bytes) -> str | None:
    """What makes this message too costly to parse, checked on the bytes before parsing."""
    starts = [0] + [m.end() for m in _BOUNDARY_LINE.finditer(raw)]
    if len(starts) > MAX_MIME_PARTS:
        return f"有超过 {MAX_MIME_PARTS} 个部分"
    words = 0
    for start in starts:
        end_m = _BLANK_LINE.search(raw, start, start + MAX_HEADER_BLOCK + 4)
        end = end_m.start() if end_m else min(len(raw), start + MAX_HEADER_BLOCK + 1)
        if end - start > MAX_HEADER_BLOCK:
            return f"的邮件头超过 {MAX_HEADER_BLOCK // 1024} KB"
        words += len(_ENCODED_WORD.findall(raw, start, end))
        if words > MAX_ENCODED_WORDS:
            return f"的邮件头（如附件名）含有超过 {MAX_ENCODED_WORDS} 段编码文字"
    return None


def _looks_like_mail(raw: bytes) -> bool:
    """A message starts with a header line (``Name: value``) or an mbox ``From `` line."""
    return bool(_HEADER_LINE.match(raw[:4096].lstrip(b"\xef\xbb\xbf\r\n \t")))


def _eml_candidates(path: Path, label: str, identity: str, arrival: str, size: int) -> Iterator[_Candidate]:
    if size > MAX_EML_BYTES:
        yield _Candidate(label, identity, arrival, findings=[_too_large(size, MAX_EML_BYTES)])
        return
    import email  # only for mails: status and .xlsx-only runs need not load the email package
    import email.policy
    from email.message import EmailMessage
    from email.utils import parseaddr

    try:
        raw = _read_limited(path, MAX_EML_BYTES) or b""
    except OSError as exc:
        yield _Candidate(label, identity, arrival, findings=[finding(
            "READ_FAILED", f"无法读取文件（{os_error_text(exc)}），可能正被其他程序占用。")])
        return
    problem = _mail_too_complex(raw)
    if problem:
        yield _Candidate(label, identity, arrival, findings=[finding(
            "TOO_COMPLEX", f"这封邮件{problem}，远超正常邮件，为免拖慢其他文件的检查，未解析。"
            "请把其中的评分工作簿另存后单独放入收件箱，或请专家重新发送。")])
        return
    if not _looks_like_mail(raw):
        code, what = sniff(raw) or ("NOT_WORKBOOK", "无法识别的文件格式")
        yield _Candidate(label, identity, arrival, findings=[finding(
            code, f"文件扩展名是 .eml，但它不是邮件：{what}。请把专家的邮件另存为 .eml，或把其中的评分工作簿单独放入收件箱。")])
        return
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        sender = parseaddr(str(msg.get("From", "")))[1] or None
        arrival = _mail_arrival(msg) or arrival
        parts = list(_attachments(msg))
    except Exception:  # noqa: BLE001 - a broken e-mail is a finding, never a traceback
        yield _Candidate(label, identity, arrival, findings=[finding(
            "READ_FAILED", "无法解析这封邮件（格式异常），请把其中的评分工作簿另存后单独放入收件箱。")])
        return
    workbooks = 0
    used: set[str] = set()
    for i, (name, payload) in enumerate(parts, 1):
        base = safe_name(name, f"附件{i}")
        while base in used:
            base = f"{i}-{base}"
        used.add(base)
        cand = _Candidate(f"{label}[{base}]", f"{identity}[{i}:{base}]", arrival, payload, sender)
        if payload is None:
            cand.findings.append(finding("READ_FAILED", f"邮件附件“{base}”无法解码。"))
        elif len(payload) > MAX_FILE_BYTES:
            cand.data = None
            cand.findings.append(_too_large(len(payload), MAX_FILE_BYTES))
        elif base.lower() == "winmail.dat" or payload.startswith(_TNEF_MAGIC):
            cand.data = None
            cand.findings.append(finding(
                "NOT_WORKBOOK", f"邮件附件“{base}”是 Outlook 以 RTF 格式发信时生成的打包文件，其他邮件程序无法取出其中的附件。"
                "请专家在 Outlook 中改用 HTML 或纯文本格式，重新发送评分工作簿。"))
        elif not _looks_like_workbook(base, payload):
            cand.data = None
            cand.findings.append(finding(
                "NOT_WORKBOOK", f"邮件附件“{base}”不是 Excel 工作簿，未回收；如其中有评分内容，请专家使用发放的评分工作簿填写后发送。"))
        workbooks += 1
        yield cand
    if workbooks == 0:
        yield _Candidate(label, identity, arrival, sender=sender, findings=[finding(
            "NO_ATTACHMENT", "这封邮件没有附件，找不到评分工作簿；请专家把填好的评分工作簿作为附件重新发送。")])


def _mail_arrival(msg: EmailMessage) -> str | None:
    """When the mail reached the organizer: the topmost Received stamp, else its Date.

    The topmost Received header is added by the organizer's own mail server, with its own
    clock; Date is written by the sender's program, with the sender's clock.
    """
    from email.utils import parsedate_to_datetime

    for name in ("Received", "Date"):
        try:
            value = msg.get(name)
            if value is None:
                continue
            text = str(value)
            if name == "Received":
                text = text.rpartition(";")[2]
            return _iso(parsedate_to_datetime(text.strip()))
        except (TypeError, ValueError, IndexError, OverflowError, AttributeError):
            continue
    return None


def _attachments(msg: EmailMessage) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of every attached file; inline pictures of the message body are skipped."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        disposition = (part.get_content_disposition() or "").lower()
        if not name and disposition != "attachment":
            continue
        if disposition == "inline" and part.get_content_maintype() == "image":
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            payload = None
        yield str(name or ""), payload if isinstance(payload, bytes) else None


def _looks_like_workbook(name: str, data: bytes) -> bool:
    """Attachments worth reading as a workbook: spreadsheet names, or zip / OLE2 contents."""
    if name.lower().endswith(WORKBOOK_SUFFIXES):
        return True
    return data.startswith(_WORKBOOK_MAGIC)


def _gather(folder: Path, paths: Sequence[str | Path]) -> list[_Candidate]:
    if not paths:
        inbox = folder / ev.INBOX_DIR
        if not inbox.is_dir():
            raise QiError(f"找不到收件箱文件夹 {inbox}：请把专家交回的文件放入其中，或在命令中指定文件。")
        paths = [inbox]
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise QiError(f"找不到：{'、'.join(missing)}。")
    own = [(folder / d).resolve() for d in (ev.ACCEPTED_DIR, ev.ISSUE_DIR, ev.STATE_DIR)]
    own_files = {(folder / f).resolve() for f in (
        ev.PROJECT_FILE, ev.CHECK_REPORT_FILE, ev.SUMMARY_FILE, ev.APPLICATION_FILE, ev.REPORT_FILE, ev.PASSWORD_FILE)}
    out: list[_Candidate] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for found in _walk(path):
                if found.is_symlink():
                    out.append(_link_candidate(found))
                    continue
                resolved = found.resolve()
                if resolved in own_files or any(resolved.is_relative_to(d) for d in own):
                    continue
                out.extend(_file_candidates(found, str(found)))
        else:
            out.extend(_file_candidates(path, str(p)))
    return out


def _link_candidate(path: Path) -> _Candidate:
    """A link found in a folder is reported, never followed.

    Whatever lands in the inbox may point anywhere (another user's files, /etc, a device);
    a file named on the command line is the organizer's own choice and is read as named.
    """
    try:
        arrival = _iso(path.lstat().st_mtime)
    except OSError:
        arrival = _iso(0)
    return _Candidate(shown_path(str(path)), f"link:{shown_path(str(path.absolute()))}", arrival, findings=[finding(
        "READ_FAILED", "这是一个链接（快捷方式），为安全起见不跟随读取；请把评分工作簿文件本身放入收件箱。")])


def _walk(root: Path) -> Iterator[Path]:
    """Candidate files under ``root``, and links (to files or folders) to report, never follow."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        links = sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
        for name in sorted(filenames + links):
            low = name.lower()
            if name.startswith(("~$", ".~lock", ".")) or low in _SKIP_NAMES:
                continue
            p = Path(dirpath) / name
            # links, and pipes or devices (reported by _file_candidates, never opened)
            if not p.is_dir() or p.is_symlink():
                yield p


# ───────────────────────────── the ledger ─────────────────────────────


def _load_ledger(folder: Path) -> dict[str, Any]:
    """The ledger's JSON as written; kept for modules that read it raw (use ``accepted_entries``)."""
    return load_raw(Path(folder))


def _resolve_statuses(entries: Iterable[LedgerEntry | Mapping[str, Any]]) -> dict[str, str]:
    """``resolve_statuses`` over raw ledger entries too; kept for modules that read it raw."""
    typed = (e if isinstance(e, LedgerEntry) else LedgerEntry.from_json(e) for e in entries)
    return resolve_statuses(e for e in typed if e is not None)


def _order_key(entry: LedgerEntry | Mapping[str, Any]) -> tuple[datetime, datetime, int]:
    """``order_key`` of a raw ledger entry too; kept for modules that read the ledger raw."""
    typed = entry if isinstance(entry, LedgerEntry) else LedgerEntry.from_json(entry)
    return order_key(typed) if typed is not None else (_MIN_TIME, _MIN_TIME, 0)


_MIN_TIME = datetime.min.replace(tzinfo=UTC)


def local_time_text(stamp: str | None) -> str:
    """An ISO time as the organizer's wall clock shows it; never raises.

    A file may claim any time (``9999-12-31T23:59:59Z`` overflows when moved to local time).
    """
    when = parse_time(stamp)
    if when is None:
        return _printable(stamp[:40]) if stamp else "时间不详"
    try:
        return human_time(when.astimezone(), local=False)
    except (OverflowError, ValueError, OSError):
        return human_time(when, local=False) + "（世界时）"


def _superseded_finding(newer: LedgerEntry) -> Finding:
    return finding(
        "SUPERSEDED",
        f"该专家之后又交回了工作簿（{newer.source}，收到于 {local_time_text(newer.arrival)}），"
        "以后收到的文件为准；本文件保留备查，不参与汇总。",
    )


def _order_findings(entries: Sequence[LedgerEntry], statuses: Mapping[str, str], e: LedgerEntry) -> list[Finding]:
    """Where the file's own save time disagrees with the order the files arrived in."""
    out: list[Finding] = []
    saved = parse_time(e.saved_at)
    if saved is not None and plausible_saved(e) is None:
        out.append(finding(
            "CLOCK_WRONG",
            f"文件记录的保存时间为 {local_time_text(e.saved_at)}，晚于收到时间 {local_time_text(e.arrival)}，"
            "专家电脑的时钟可能有误。先后顺序按收到时间判断，不看保存时间。",
        ))
    if statuses.get(e.sha256) != "accepted":
        return out
    mine = plausible_saved(e)
    for other in entries:
        if (other.sha256 == e.sha256 or not other.ok or statuses.get(other.sha256) != "superseded"
                or not same_person(other, e)):
            continue
        theirs = plausible_saved(other)
        if theirs is not None and (mine is None or theirs > mine):
            own = f"保存于 {local_time_text(e.saved_at)}" if mine is not None else "没有记录保存时间"
            out.append(finding(
                "ORDER_DOUBT",
                f"按收到的先后以本文件为准（收到于 {local_time_text(e.arrival)}，{own}）；但先收到的 {other.source} "
                f"保存于 {local_time_text(other.saved_at)}，保存时间更晚。请向专家确认哪一份是最终版本；"
                "如应以另一份为准，请专家重新保存该文件后再发送一次。",
            ))
            break
    return out


# ───────────────────────────── collect ─────────────────────────────


class _Context(NamedTuple):
    """What every file of a run is checked against, read once per run.

    A named tuple, not a frozen dataclass: it is private, and creating a dataclass costs
    each command ~0.6 ms at import.
    """

    folder: Path
    rubric: Rubric
    secret: ev.Secret
    panel: ev.Panel
    issued: tuple[ev.IssuedRecord, ...]
    rubric_sha256: str  # the rubric copy's fingerprint, read once (see verification_mark)


def _context(folder: str | Path, *, with_rubric: bool = True) -> _Context:
    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    secret = ev.load_secret(root)
    info, panel = ev.load_project(root)
    # status needs no rubric: parsing it is a tenth of what a person waits for
    rubric = ev.evaluation_rubric(root) if with_rubric else None
    from .folder_state import check_binding

    # a folder copied for another applicant stops here
    rubric_sha = ev.rubric_fingerprint(root)
    check_binding(root, info, rubric_sha, secret)
    return _Context(root, rubric, secret, panel, tuple(ev.load_issued(root)), rubric_sha)  # type: ignore[arg-type]


def _check(ctx: _Context, cand: _Candidate) -> tuple[ReturnedWorkbook | None, list[Finding]]:
    # imported here, not at the top: ``status`` reads no workbook while every accepted file
    # carries a valid verification mark, and the reader, the checks and the rubric parser
    # they bring along cost it a sixth of what a person waits for
    from .checks import check_workbook
    from .returned import read_returned

    assert cand.data is not None
    try:
        rw = read_returned(cand.data, Path(cand.label).name, rubric=ctx.rubric)
    except ReadError as err:
        return None, [finding(err.code, err.message)]
    except Exception:  # noqa: BLE001 - one strange file must not stop the others
        return None, [finding("READ_FAILED", "读取文件时出现意外问题，无法检查，请重新保存后发送（如反复出现，请把该文件交给软件维护人员）。")]
    try:
        found = check_workbook(
            rw, rubric=ctx.rubric, evaluation_id=ctx.secret.evaluation_id, key=ctx.secret.hmac_key,
            panel=ctx.panel, issued=ctx.issued, sender=cand.sender,
        )
    except Exception:  # noqa: BLE001
        found = [finding("READ_FAILED", "检查文件时出现意外问题，无法检查，请重新保存后发送（如反复出现，请把该文件交给软件维护人员）。")]
    return rw, found


def _stored_name(rw: ReturnedWorkbook, sha: str) -> str:
    who = "自评" if rw.kind == "self" else rw.expert_id
    name = safe_name(rw.expert_name, "")[:20]
    return f"{ev.ACCEPTED_DIR}/{who}-{name}-{sha[:16]}.xlsx" if name else f"{ev.ACCEPTED_DIR}/{who}-{sha[:16]}.xlsx"


def collect(folder: str | Path, paths: Sequence[str | Path] = (), *, now: datetime | None = None) -> CollectResult:
    """Check every candidate under ``paths`` (default: the inbox) and record the outcome.

    Raises ``QiError`` only for problems with the evaluation folder or the command (a path
    that does not exist); anything wrong with a returned file is a finding. The whole run
    holds the folder lock: the ledger is read, changed and written as one step, so a second
    window running ``collect`` at the same time cannot drop this run's acceptances.
    ``now`` (when a file was first seen) defaults to the clock.
    """
    with folder_lock(folder, command="collect"):
        when = now or datetime.now(UTC)
        return _collect(folder, paths, when if when.tzinfo else when.astimezone())


# one candidate of a run: the candidate, the sha256 of its bytes (None when unread), its findings
_Run = list[tuple[_Candidate, str | None, list[Finding]]]


def _collect(folder: str | Path, paths: Sequence[str | Path], now: datetime) -> CollectResult:
    ctx = _context(folder)
    root = ctx.folder
    ev.save_derived(root, ctx.secret)  # parsed rubric and roster kept in .qi/ (derived_cache.py)
    ledger = Ledger.load(root)
    run: _Run = [_record(ctx, ledger, cand, now) for cand in _gather(root, paths)]

    checked = {sha for _, sha, _ in run if sha is not None}
    verified = _reverify_earlier(ctx, ledger, checked) | checked
    statuses = resolve_statuses(ledger.entries())
    for e in ledger.entries():
        ledger.put(with_status(e, statuses[e.sha256]))
    entries = ledger.entries()
    results = [_file_result(run, i, ledger, entries, statuses) for i in range(len(run))]
    ledger_path = root / ev.LEDGER_FILE
    results += [FileResult(str(ledger_path), None, None, None, "rejected", (p,)) for p in ledger.problems()]
    write_bytes_if_changed(ledger_path, ledger.to_bytes())
    report = root / ev.CHECK_REPORT_FILE
    # imported here, not at the top: `status` writes no report and need not load the writer
    from .check_report import write_check_report

    write_check_report(report, _report_rows(entries, statuses),
                       panel_status(root, _ctx=ctx, _ledger=ledger, _verified=frozenset(verified)))
    return CollectResult(tuple(results), report, ledger_path)


def _record(ctx: _Context, ledger: Ledger, cand: _Candidate, now: datetime) -> tuple[_Candidate, str | None, list[Finding]]:
    """Check one candidate, record it in the ledger and keep an accepted file in 回收/."""
    if cand.data is None:
        return cand, None, cand.findings
    sha = hashlib.sha256(cand.data).hexdigest()
    rw, found = _check(ctx, cand)
    entry = ledger.get(sha) or LedgerEntry(
        sha,
        first_seen=_iso(now),
        # a file cannot have arrived after collect first saw it (a sender's clock)
        arrival=min(cand.arrival, _iso(now), key=lambda t: parse_time(t) or now),
        seq=ledger.next_seq(),
    )
    ok = rw is not None and not has_errors(found)
    stored = None
    if ok:
        assert rw is not None
        stored = entry.stored or _stored_name(rw, sha)
        target = _stored_path(ctx.folder, stored)
        if not target.is_file() or hashlib.sha256(target.read_bytes()).hexdigest() != sha:
            write_bytes_atomic(target, cand.data)
    ledger.put(entry._replace(
        sources=entry.sources if cand.identity in entry.sources else (*entry.sources, cand.identity),
        kind=rw.kind if rw is not None else None,
        expert_id=rw.expert_id if rw is not None and rw.meta else None,
        expert_name=rw.expert_name if rw is not None and rw.meta else None,
        saved_at=rw.saved_at if rw is not None else None,
        ok=ok,
        findings=tuple(found),
        label=entry.label or cand.label,
        stored=stored,
        extra=_with_mark(ctx, entry.extra, sha, rw if ok else None),
    ))
    return cand, sha, found


def _file_result(run: _Run, i: int, ledger: Ledger, entries: Sequence[LedgerEntry], statuses: Mapping[str, str]) -> FileResult:
    """What the run says of one candidate, with the findings that compare it to other files."""
    cand, sha, found = run[i]
    entry = ledger.get(sha) if sha is not None else None
    if entry is None:
        return FileResult(cand.label, None, None, None, "rejected", tuple(found))
    status = statuses[entry.sha256]
    extra: list[Finding] = []
    if entry.sources[0] != cand.identity:
        first = next((c.label for c, s, _ in run if s == sha), None) or entry.label or entry.sources[0]
        if first != cand.label:
            extra.append(finding("DUPLICATE", f"与 {first} 内容完全相同，只按一份处理。"))
            if status == "accepted":
                status = "superseded"
    if status == "superseded" and not extra:
        extra.append(_superseded_finding(in_use(entries, statuses, entry)))
    if not any(f.code == "DUPLICATE" for f in extra):
        extra += _order_findings(entries, statuses, entry)
    return FileResult(
        cand.label, entry.expert_id, entry.expert_name, entry.kind, status,  # type: ignore[arg-type]
        tuple(found) + tuple(extra), entry.sha256, entry.stored, entry.saved_at,
    )


def _report_rows(entries: Sequence[LedgerEntry], statuses: Mapping[str, str]) -> list[tuple[LedgerEntry, str, tuple[Finding, ...]]]:
    rows = []
    for e in sorted(entries, key=lambda x: (x.expert_id or "~", order_key(x))):
        status = statuses[e.sha256]
        found = e.findings
        if status == "superseded":
            found += (_superseded_finding(in_use(entries, statuses, e)),)
        found += tuple(_order_findings(entries, statuses, e))
        rows.append((e, status, found))
    return rows


# ───────────────────────────── reading back ─────────────────────────────


def accepted_entries(folder: str | Path) -> list[LedgerEntry]:
    """The ledger's entries in use, one per expert (and the self-evaluation), in ledger order.

    What the ledger says, not re-verified: enough to list or pack the files in use. To count
    scores, use ``load_accepted``, which verifies each file again.
    """
    entries = Ledger.load(Path(folder)).entries()
    statuses = resolve_statuses(entries)
    return [with_status(e, "accepted") for e in entries if statuses[e.sha256] == "accepted"]


def load_accepted(folder: str | Path) -> list[ReturnedWorkbook]:
    """The workbook in use per expert (and the self-evaluation, if collected), experts first.

    Each one is verified again as it is counted (signature, evaluation id, expert, rubric):
    the ledger only says which file is current, never that a file is genuine, so a 回收/
    copied from another evaluation counts nothing here.
    """
    ctx = _context(folder)
    out: list[ReturnedWorkbook] = []
    for e in accepted_entries(ctx.folder):
        if not e.stored:
            continue
        rw, found = _reverify(ctx, e)
        if rw is not None and not has_errors(found):
            out.append(rw)
    out.sort(key=lambda rw: (rw.kind == "self", rw.expert_id))
    return out


def panel_status(folder: str | Path, *, _ctx: _Context | None = None, _ledger: Ledger | None = None,
                 _verified: frozenset[str] = frozenset()) -> list[ExpertStatus]:
    """Per expert (then the self-evaluation, if issued): issued, returned, accepted, findings.

    ``_verified``: entries whose stored file the calling collect run has just checked (or
    written) under the same folder lock; they are not read and hashed a second time.
    """
    ctx = _ctx or _context(folder, with_rubric=False)
    entries = (_ledger if _ledger is not None else Ledger.load(ctx.folder)).entries()
    if ctx.rubric is None and any(e.ok and not _marked(ctx, e) for e in entries):
        # what is shown as accepted is re-verified, and a full check needs the rubric
        ctx = ctx._replace(rubric=ev.evaluation_rubric(ctx.folder))
    statuses = resolve_statuses(entries)
    people: list[tuple[str, str, str, str]] = [(e.expert_id, e.name, e.email, "expert") for e in ctx.panel.experts]
    self_issued = [r for r in ctx.issued if r.kind == "self"]
    if self_issued or any(e.kind == "self" and e.ok for e in entries):
        people.append((ev.SELF_ID, self_issued[-1].name if self_issued else "申报单位自评", "", "self"))
    return [_person_status(ctx, entries, statuses, _verified, *person) for person in people]


def _person_status(ctx: _Context, entries: Sequence[LedgerEntry], statuses: Mapping[str, str], verified: frozenset[str],
                   expert_id: str, name: str, mail: str, kind: str) -> ExpertStatus:
    issued = [r for r in ctx.issued if r.expert_id == expert_id and r.kind == kind]
    mine = [e for e in entries if e.expert_id == expert_id and (e.kind or kind) == kind]
    current = next((e for e in mine if statuses[e.sha256] == "accepted"), None)
    shown = current or (max(mine, key=order_key) if mine else None)
    shown_findings = shown.findings if shown else ()
    if current is not None and current.sha256 not in verified:
        found = _reverify_findings(ctx, current)
        if has_errors(found):  # the ledger says accepted, the file itself does not verify
            current, shown_findings = None, tuple(found)
    return ExpertStatus(
        expert_id, name, mail, bool(issued), issued[-1].issued_at if issued else None, len(mine),
        current is not None, current.stored if current else None,
        shown.saved_at if shown else None,
        shown_findings,
    )


# ───────────────────────────── re-verifying what is counted ─────────────────────────────


def _stored_path(root: Path, stored: object) -> Path:
    """Where a ledger entry's file lives; a path leading out of the folder is refused."""
    from .folder_state import confine

    return confine(root, stored, ev.LEDGER_FILE)


def _reverify(ctx: _Context, entry: LedgerEntry) -> tuple[ReturnedWorkbook | None, list[Finding]]:
    """Read an accepted entry's stored file and run every check again, as collect did.

    The ledger is a file in the folder like any other: it can be copied from another
    evaluation or edited. Only the file's own signature, evaluation id, expert and rubric,
    verified with this folder's key, decide whether it counts.
    """
    path = _stored_path(ctx.folder, entry.stored)
    data = _stored_bytes(ctx, entry)
    label = Path(str(entry.label or path.name)).name
    rw, found = _check(ctx, _Candidate(label, str(path), str(entry.arrival or ""), data))
    relabelled = rw is not None and ((rw.kind or "") != (entry.kind or "") or (rw.expert_id or "") != (entry.expert_id or ""))
    if rw is not None and not has_errors(found) and relabelled:
        found = [finding(
            "BAD_SIGNATURE",
            f"回收记录把这份工作簿登记为 {entry.expert_id}，工作簿本身属于 {rw.expert_id}："
            "回收记录被改动过，本文件不计入汇总。请从收件箱重新运行 qi-excel collect。",
        )]
    return rw, found


def _reverify_findings(ctx: _Context, entry: LedgerEntry) -> list[Finding]:
    """Errors of an accepted entry now; only its bytes are hashed when this folder's own
    collect marked exactly these bytes as verified (see ``verification_mark``)."""
    try:
        if _marked(ctx, entry):
            _stored_bytes(ctx, entry)
            return []
        return _reverify(ctx, entry)[1]
    except QiError as err:
        return [finding("READ_FAILED", str(err))]


def verification_mark(key: bytes, evaluation_id: str, rubric_sha256: str, sha256: str, kind: str,
                      expert_id: str, roster_entry: str) -> str:
    """HMAC, under the evaluation's key, of "these bytes verified as this expert's return here".

    ``status`` shows every accepted return and must not trust the ledger (a ledger can be
    copied from another evaluation or edited), yet a full check of every file costs what a
    person waits for. A mark can only be made with this folder's key, and it binds the
    content, the evaluation, the rubric copy and the expert's roster entry: anything copied,
    edited or changed since makes it fail, and the file gets the full check again. Counting
    (``load_accepted``) always runs the full check.
    """
    import hmac

    text = "\x1f".join(("qi-verified-v1", evaluation_id, rubric_sha256, sha256, kind, expert_id, roster_entry))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _roster_entry(ctx: _Context, expert_id: str) -> str:
    expert = next((e for e in ctx.panel.experts if e.expert_id == expert_id), None)
    return "" if expert is None else f"{expert.name}\x1f{expert.email}"


def _mark(ctx: _Context, sha: str, kind: str, expert_id: str) -> str:
    rubric_sha = ctx.rubric.fingerprint if ctx.rubric is not None else ctx.rubric_sha256
    return verification_mark(ctx.secret.hmac_key, ctx.secret.evaluation_id, rubric_sha, sha, kind, expert_id,
                             _roster_entry(ctx, expert_id))


def _marked(ctx: _Context, entry: LedgerEntry) -> bool:
    import hmac

    mark = entry.extra.get("verified")
    if not isinstance(mark, str) or not entry.kind or not entry.expert_id:
        return False
    return hmac.compare_digest(mark, _mark(ctx, entry.sha256, entry.kind, entry.expert_id))


def _with_mark(ctx: _Context, extra: Mapping[str, Any], sha: str, rw: ReturnedWorkbook | None) -> dict[str, Any]:
    """``extra`` with the verification mark of an accepted file (and without one otherwise)."""
    out = {k: v for k, v in extra.items() if k != "verified"}
    if rw is not None and rw.kind and rw.expert_id:
        out["verified"] = _mark(ctx, sha, rw.kind, rw.expert_id)
    return out


def _stored_bytes(ctx: _Context, entry: LedgerEntry) -> bytes:
    """The accepted file's bytes, refused when missing or not the bytes the ledger names."""
    path = _stored_path(ctx.folder, entry.stored)
    try:
        data = _read_limited(path, MAX_FILE_BYTES)
    except OSError:
        raise QiError(f"回收文件 {path} 丢失或无法读取：请从收件箱重新运行 qi-excel collect。") from None
    if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise QiError(f"回收文件 {path} 已被改动（与回收时的内容不符）：请从收件箱重新运行 qi-excel collect。")
    return data


def _reverify_earlier(ctx: _Context, ledger: Ledger, checked: set[str]) -> set[str]:
    """Entries accepted in earlier runs are checked again; one that no longer verifies is
    recorded as rejected, with the reason, so the ledger and 检查报告 tell the truth too.

    Returns the entries that still verify (their files need no second look in this run).
    """
    still = set()
    for e in ledger.entries():
        if not e.ok or e.sha256 in checked or not e.stored:
            continue
        found = _reverify_findings(ctx, e)
        if has_errors(found):
            ledger.put(e._replace(ok=False, stored=None, findings=tuple(found),
                               extra={k: v for k, v in e.extra.items() if k != "verified"}))
            continue
        still.add(e.sha256)
        if not _marked(ctx, e) and e.kind and e.expert_id:
            ledger.put(e._replace(extra={**e.extra, "verified": _mark(ctx, e.sha256, e.kind, e.expert_id)}))
    return still
