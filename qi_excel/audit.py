"""The evaluation folder's own memory: an append-only, hash-chained log of what changed it.

Clause 4.3 wants the process open to supervision, and an office must be able to show later
what was done when, by whom, with which files. Every command that changes an evaluation
folder appends one JSON line to ``.qi/audit.jsonl``: the time, the command and its options,
the qi-excel version, the operating-system user, and the SHA-256 of each file read and
written. Each record carries the hash of the one before it, so editing a record breaks the
chain at that record and deleting one leaves a gap the next record points across. Deleting
the *last* records leaves no gap, so the chain head (number of records and last hash) is
also kept in ``.qi/audit-head.json``, signed with the evaluation's key, and copied into the
signed manifest of every archive.

``record`` is the one function that writes the log; ``audited`` wraps a command (CLI or the
local web page) and finds what it wrote by comparing the folder before and after.
``verify_log`` is pure: it takes the log's lines and the expected head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import QiError
from .folder_state import relative_text, resolved, resolved_in

if TYPE_CHECKING:
    from .log_check import LogCheck as LogCheck  # noqa: PLC0414 - re-exported (see __getattr__)

LOG_FILE = ".qi/audit.jsonl"
HEAD_FILE = ".qi/audit-head.json"
LOCK_FILE = ".qi/audit.lock"
READABLE_FILE = "操作记录.xlsx"  # the readable copy inside an archive
GENESIS = "0" * 64
_SKIP_PREFIX = ".~tmp-"  # atomic writes in progress


def __getattr__(name: str) -> Any:
    """``LogCheck`` lives in ``log_check`` (a frozen dataclass costs ~0.7 ms to define, and a
    command that only appends a record never checks the log): still importable from here."""
    if name == "LogCheck":
        from .log_check import LogCheck

        return LogCheck
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ───────────────────────────── records ─────────────────────────────


def os_user() -> str:
    """Who ran the command, as the operating system knows them.

    What ``getpass.getuser()`` answers (the first of LOGNAME, USER, LNAME and USERNAME that is
    set, else the password database), without importing getpass and termios (~0.4 ms).
    """
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]
    except Exception:  # noqa: BLE001 - no login name (Windows without the variables, some containers)
        return os.environ.get("USERNAME") or os.environ.get("USER") or "未知"


def sha256_file(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


class _Hashes:
    """SHA-256 of the files around one command, each content hashed once.

    The files read are hashed before the command runs and their contents kept (up to
    ``budget`` bytes, files up to ``largest`` bytes); a file it writes as a byte-for-byte
    copy of one of them (``collect`` stores every accepted return in 回收/) then gets that
    hash by comparing the bytes, not by hashing them again. Equal bytes, equal hash: the
    record is the same, for half the hashing.
    """

    def __init__(self, budget: int = 32 << 20, largest: int = 8 << 20) -> None:
        self._kept: dict[int, list[tuple[bytes, str]]] = {}
        self._budget = budget
        self._largest = largest

    def _small(self, path: Path) -> bytes | None:
        """The whole content when small enough to compare; None to hash it in chunks."""
        with open(path, "rb") as fh:
            data = fh.read(self._largest + 1)
            if len(data) <= self._largest:
                return data
        return None

    def read(self, path: Path) -> str | None:
        """Hash a file read by the command, keeping its content for ``written``."""
        try:
            data = self._small(path)
        except OSError:
            return None
        if data is None:
            return sha256_file(path)
        sha = hashlib.sha256(data).hexdigest()
        if len(data) <= self._budget:
            self._budget -= len(data)
            self._kept.setdefault(len(data), []).append((data, sha))
        return sha

    def written(self, path: Path) -> str | None:
        """Hash a file the command wrote: by comparison when it copies a file read."""
        try:
            data = self._small(path)
        except OSError:
            return None
        if data is None:
            return sha256_file(path)
        for kept, sha in self._kept.get(len(data), ()):
            if kept == data:
                return sha
        return hashlib.sha256(data).hexdigest()


def record_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 of a record without its own ``hash``, in one canonical JSON spelling."""
    data = {k: v for k, v in body.items() if k != "hash"}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return str(value)


def _relative(root: Path, path: str | Path, root_real: str | None = None,
              folders: dict[str, str] | None = None) -> str:
    """``path`` relative to the folder (``/`` between names), or as given when it is outside.

    One record names a dozen files in a few folders: ``root_real`` (``resolved(root)``) and
    ``folders`` (see ``resolved_in``) spare resolving the same folders again (~35 µs each).
    """
    p = Path(path)
    try:
        real = resolved(p) if folders is None else resolved_in(p, folders)
        inside = relative_text(real, resolved(root) if root_real is None else root_real)
    except OSError:
        inside = None
    return str(p) if inside is None else inside


def _head_mac(key: bytes, count: int, head: str) -> str:
    return hmac.new(key, f"{count}:{head}".encode("ascii"), hashlib.sha256).hexdigest()


def _key(root: Path) -> bytes | None:
    from .evaluation import load_secret

    try:
        return load_secret(root).hmac_key
    except QiError:
        return None


def read_lines(root: Path) -> list[str]:
    path = root / LOG_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise QiError(f"无法读取操作记录 {path}：{exc.strerror or exc}") from None
    return [line for line in data.decode("utf-8", errors="replace").split("\n") if line.strip()]


def read_head(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / HEAD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def record(
    folder: str | Path,
    command: str,
    options: Mapping[str, Any] | None = None,
    *,
    read: Mapping[str, str | None] | Iterable[str | Path] = (),
    written: Mapping[str, str | None] | Iterable[str | Path] = (),
    result: str = "完成",
    when: datetime | None = None,
) -> dict[str, Any]:
    """Append one record to the folder's log and move the signed chain head; returns it.

    ``read`` / ``written`` are paths (hashed now) or mappings path → SHA-256 (None for a
    file that was deleted). Paths inside the folder are stored relative to it.
    """
    root = Path(folder)
    (root / ".qi").mkdir(parents=True, exist_ok=True)
    with _lock(root):
        return _append(root, command, options, read, written, result, when)


@contextmanager
def _lock(root: Path, wait: float = 10.0, stale: float = 60.0) -> Iterator[None]:
    """One writer at a time (the CLI and the web page may both append): an exclusive lock file.

    A lock left by a killed process is taken over once it is older than ``stale`` seconds.
    """
    import time

    path = root / LOCK_FILE
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            os.close(fd)
            break
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime > stale:
                    path.unlink(missing_ok=True)
                    continue
            except OSError:
                continue
            if time.monotonic() > deadline:
                raise QiError(f"操作记录正被另一个程序写入（{path}）；如确认没有其他 qi-excel 在运行，请删除该文件后重试。") from None
            time.sleep(0.05)
        except OSError as exc:
            raise QiError(f"无法写入操作记录：{exc.strerror or exc}") from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


_TAIL = 256 << 10  # the end of the log read to find its last record


def _chain_end(root: Path) -> tuple[int, str]:
    """The next record's number and the last record's hash (``prev``), from the log's end.

    A log grows by every command for years: its last ``_TAIL`` bytes hold the last record,
    so the whole file is read and split only when they do not (a damaged last line, whose
    successor is numbered by counting all lines, or a record longer than that).
    """
    path = root / LOG_FILE
    try:
        with open(path, "rb") as fh:
            start = max(0, fh.seek(0, os.SEEK_END) - _TAIL)
            fh.seek(start)
            tail = fh.read()
    except FileNotFoundError:
        return 1, GENESIS
    except OSError as exc:
        raise QiError(f"无法读取操作记录 {path}：{exc.strerror or exc}") from None
    pieces = tail.split(b"\n")[1 if start else 0:]  # the first piece may start inside a line
    for piece in reversed(pieces):
        line = piece.decode("utf-8", errors="replace")
        if line.strip():
            try:
                last = json.loads(line)
                return int(last["seq"]) + 1, str(last["hash"])
            except (ValueError, KeyError, TypeError):
                break
    else:
        if not start:
            return 1, GENESIS
    return _chain_end_of(read_lines(root))


def _chain_end_of(lines: Sequence[str]) -> tuple[int, str]:
    """``_chain_end`` from all the log's lines."""
    prev = GENESIS
    seq = len(lines) + 1
    if lines:
        try:
            last = json.loads(lines[-1])
            prev = str(last["hash"])
            seq = int(last["seq"]) + 1
        except (ValueError, KeyError, TypeError):
            prev = hashlib.sha256(lines[-1].encode("utf-8")).hexdigest()
    return seq, prev


def _append(root: Path, command: str, options: Mapping[str, Any] | None,
            read: Mapping[str, str | None] | Iterable[str | Path],
            written: Mapping[str, str | None] | Iterable[str | Path], result: str,
            when: datetime | None) -> dict[str, Any]:
    try:
        root_real: str | None = resolved(root)
    except OSError:
        root_real = None  # then no path is inside it: each is kept as given

    folders: dict[str, str] = {}

    def rel(p: str | Path) -> str:
        return str(Path(p)) if root_real is None else _relative(root, p, root_real, folders)

    def hashes(files: Mapping[str, str | None] | Iterable[str | Path]) -> list[dict[str, Any]]:
        if isinstance(files, Mapping):
            pairs = [(rel(p), h) for p, h in files.items()]
        else:
            pairs = [(rel(p), sha256_file(root / p if not Path(p).is_absolute() else Path(p)))
                     for p in files]
        return [{"path": p, "sha256": h} for p, h in sorted(pairs)]

    seq, prev = _chain_end(root)
    body: dict[str, Any] = {
        "seq": seq,
        "time": (when or datetime.now().astimezone()).replace(microsecond=0).isoformat(),
        "command": command,
        "options": _json_safe(dict(options or {})),
        "version": __version__,
        "user": os_user(),
        "read": hashes(read),
        "written": hashes(written),
        "result": result,
        "prev": prev,
    }
    body["hash"] = record_hash(body)
    line = json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n"
    path = root / LOG_FILE
    try:
        with open(path, "a", encoding="utf-8", newline="\n") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise QiError(f"无法写入操作记录 {path}：{exc.strerror or exc}") from None
    _write_head(root, seq, body["hash"])
    return body


def _write_head(root: Path, count: int, head: str) -> None:
    from .fileio import write_text_atomic

    data: dict[str, Any] = {"records": count, "head": head}
    key = _key(root)
    if key is not None:
        data["mac"] = _head_mac(key, count, head)
    write_text_atomic(root / HEAD_FILE, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# ───────────────────────────── verification (pure) ─────────────────────────────


def _describe(rec: Mapping[str, Any]) -> str:
    return f"（{rec.get('time', '')[:19].replace('T', ' ')} qi-excel {rec.get('command', '')}）"


def _parsed(line: str) -> dict[str, Any] | None:
    """One log line as a record; None for a damaged line (not JSON, or not an object)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def verify_log(lines: Sequence[str], expected: Mapping[str, Any] | None = None) -> LogCheck:
    """Check the chain record by record; the first problem names the first broken record.

    ``expected`` is the chain head kept apart from the log ({"records", "head"}); without it
    only edits and gaps inside the log can be found, not records cut off its end.
    """
    from .log_check import LogCheck

    problems: list[str] = []
    prev = GENESIS
    head = GENESIS
    next_seq = 1
    for n, line in enumerate(lines, start=1):
        rec = _parsed(line)
        if rec is None:
            problems.append(f"第 {next_seq} 条操作记录（日志第 {n} 行）已损坏，无法读取。")
            prev = head = hashlib.sha256(line.encode("utf-8")).hexdigest()
            next_seq += 1
            continue
        stored = str(rec.get("hash", ""))
        seq = rec.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            problems.append(f"第 {next_seq} 条操作记录没有有效的序号，已被改动{_describe(rec)}。")
            seq = next_seq
        elif seq > next_seq:
            gap = f"第 {next_seq} 条" if seq == next_seq + 1 else f"第 {next_seq}～{seq - 1} 条"
            problems.append(f"{gap}操作记录被删除：日志中紧接着的是第 {seq} 条{_describe(rec)}。")
        elif seq < next_seq:
            problems.append(f"第 {seq} 条操作记录重复或顺序被调换（日志第 {n} 行）{_describe(rec)}。")
        elif rec.get("prev") != prev and n > 1:
            problems.append(f"第 {seq - 1} 条操作记录被改动或替换：第 {seq} 条记下的上一条记录哈希与它不符。")
        elif rec.get("prev") != prev:
            problems.append(f"第 {seq} 条操作记录被改动：它应是第一条记录{_describe(rec)}。")
        if record_hash(rec) != stored:
            problems.append(f"第 {seq} 条操作记录被改动：内容与其哈希不符{_describe(rec)}。")
        prev = head = stored
        next_seq = max(next_seq, seq + 1)
    count = next_seq - 1
    if expected is not None:
        want_count = expected.get("records")
        want_head = expected.get("head")
        if isinstance(want_count, int) and want_count > count:
            gap = f"第 {want_count} 条" if want_count == count + 1 else f"第 {count + 1}～{want_count} 条"
            problems.append(f"{gap}操作记录被删除：应有 {want_count} 条记录，日志只到第 {count} 条。")
        elif isinstance(want_count, int) and want_count < count:
            problems.append(f"日志中有 {count} 条记录，多于记下的 {want_count} 条：第 {want_count + 1} 条起为事后添加。")
        elif want_head is not None and want_head != head:
            problems.append(f"第 {count} 条（最后一条）操作记录被改动或替换：与记下的最后一条记录哈希不符。")
    return LogCheck(count, head, tuple(problems))


def check_folder(folder: str | Path) -> LogCheck:
    """Verify a folder's live log against its signed chain head."""
    from .log_check import LogCheck

    root = Path(folder)
    lines = read_lines(root)
    head = read_head(root)
    problems: list[str] = []
    if head is not None:
        key = _key(root)
        mac = head.get("mac")
        if key is not None and isinstance(head.get("records"), int) and isinstance(head.get("head"), str):
            if not isinstance(mac, str) or not hmac.compare_digest(mac, _head_mac(key, head["records"], head["head"])):
                problems.append(f"{HEAD_FILE} 的签名与本评价目录的密钥不符：记录链末端的标记被改动过。")
    elif lines:
        problems.append(f"缺少 {HEAD_FILE}：无法判断最后几条记录是否被删除。")
    check = verify_log(lines, head)
    return LogCheck(check.records, check.head, tuple(problems) + check.problems)


# ───────────────────────────── wrapping a command ─────────────────────────────


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file in the folder, by its path relative to it.

    What ``os.walk`` with ``Path.stat`` gave (symlinked folders are not entered, files behind
    links are followed, unreadable folders and files are left out), walked with ``os.scandir``
    on plain strings: a folder of a few dozen files is walked twice per command.
    """
    out: dict[str, tuple[int, int]] = {}
    if not root.is_dir():
        return out
    own = (LOG_FILE, HEAD_FILE, LOCK_FILE)

    def walk(top: str, prefix: str) -> None:
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            return
        folders = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                folders.append(entry)
                continue
            name = entry.name
            rel = prefix + name
            if name.startswith(_SKIP_PREFIX) or rel in own:
                continue
            try:
                st = os.stat(entry.path)  # not entry.stat(): Windows caches it from the listing
            except OSError:
                continue
            out[rel] = (st.st_size, st.st_mtime_ns)
        for entry in sorted(folders, key=lambda e: e.name):
            if not os.path.islink(entry.path):
                walk(entry.path, prefix + entry.name + "/")

    walk(str(root), "")
    return out


# The folder's records that every later step reads (whichever exist when a command starts).
STATE_INPUTS = ("评价项目.xlsx", ".qi/rubric.toml", ".qi/issued.json", "回收/ledger.json", ".qi/consolidation.json")


def input_files(folder: str | Path, paths: Iterable[str | Path] = ()) -> list[Path]:
    """The files a command reads: the folder's records plus the files (or folders) it is given."""
    root = Path(folder)
    out = [root / name for name in STATE_INPUTS if (root / name).is_file()]
    for p in paths:
        p = Path(p)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(_SKIP_PREFIX))[:500])
    seen: set[str] = set()
    unique = []
    folders: dict[str, str] = {}
    for p in out:
        key = resolved_in(p, folders)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@contextmanager
def audited(folder: str | Path, command: str, options: Mapping[str, Any] | None = None, *,
            read: Iterable[str | Path] = ()) -> Iterator[dict[str, Any]]:
    """Run a command body and append its record: what it read (hashed before it ran) and what
    it wrote, created or deleted (found by comparing the folder before and after).

    A run that changes nothing (a failure before writing, a rerun of collect with nothing
    new) leaves no record; one that fails half-way is recorded with its error. Only
    evaluation folders (with a ``.qi`` folder) get a log.
    """
    root = Path(folder)
    hashes = _Hashes()
    reads = {str(p): hashes.read(Path(p)) for p in read}
    before = _snapshot(root)
    outcome: dict[str, Any] = {"result": "完成"}
    try:
        yield outcome
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            outcome["result"] = f"完成（退出码 {code}）"
        raise
    except QiError as exc:
        outcome["result"] = f"失败：{exc}"[:500]
        outcome["failed"] = True
        raise
    except BaseException:
        outcome["result"] = "中断"
        outcome["failed"] = True
        raise
    finally:
        if (root / ".qi").is_dir():
            after = _snapshot(root)
            changed = sorted(rel for rel, st in after.items() if before.get(rel) != st)
            deleted = sorted(rel for rel in before if rel not in after)
            if changed or deleted:  # a run that changed nothing (a rerun of collect) is not a change
                written: dict[str, str | None] = {rel: hashes.written(root / rel) for rel in changed}
                written.update({rel: None for rel in deleted})
                record(root, command, options, read=reads, written=written, result=str(outcome["result"]))


# ───────────────────────────── in the archive ─────────────────────────────


def _time_text(iso: str) -> str:
    try:
        t = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M:%S}"


def _files_text(files: Any) -> str:
    if not isinstance(files, list):
        return ""
    out = []
    for f in files:
        if isinstance(f, dict):
            sha = f.get("sha256")
            out.append(f"{f.get('path')}（{'已删除' if sha is None else 'SHA-256 ' + str(sha)[:12] + '…'}）")
    return "\n".join(out)


def _lines(text: str, width: float) -> int:
    """Wrapped lines of ``text`` in a column ``width`` characters wide (CJK counts double)."""
    total = 0
    for line in text.split("\n"):
        units = sum(2 if ord(ch) > 0x2E7F else 1 for ch in line)
        total += max(1, -(-units // max(1, int(width) - 1)))
    return total


def render_readable(lines: Sequence[str], check: LogCheck) -> bytes:
    """操作记录.xlsx: the log for people, every text written as text."""
    import io

    import xlsxwriter

    from .xlsx_print import a4_one_page_wide

    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                      "strings_to_numbers": False})
    wb.set_properties({"title": "操作记录", "comments": "由 qi-excel 根据 .qi/audit.jsonl 生成。"})
    ws = wb.add_worksheet("操作记录")
    base = {"font_name": "宋体", "font_size": 10, "valign": "top", "text_wrap": True, "border": 1}
    title = wb.add_format({"font_name": "宋体", "font_size": 14, "bold": True})
    note = wb.add_format({"font_name": "宋体", "font_size": 10, "text_wrap": True, "valign": "top"})
    bad = wb.add_format({"font_name": "宋体", "font_size": 10, "text_wrap": True, "font_color": "#C00000", "bold": True})
    header = wb.add_format({**base, "bold": True, "bg_color": "#D9E1F2", "align": "center"})
    text = wb.add_format(base)
    number = wb.add_format({**base, "num_format": "0", "align": "center"})
    headers = ("序号", "时间", "命令", "选项", "操作人", "程序版本", "结果", "读取的文件", "写入的文件", "记录哈希")
    widths = (6, 20, 12, 24, 10, 9, 18, 40, 40, 18)
    for i, w in enumerate(widths):
        ws.set_column(i, i, w)
    ws.merge_range(0, 0, 0, len(headers) - 1, "", title)
    ws.write_string(0, 0, "操作记录（评价目录的每一次改动）", title)
    status = (f"哈希链校验：完好，共 {check.records} 条记录。" if check.ok
              else "哈希链校验发现问题：" + "；".join(check.problems))
    ws.merge_range(1, 0, 1, len(headers) - 1, "", bad if not check.ok else note)
    ws.write_string(1, 0, status, bad if not check.ok else note)
    ws.set_row(1, 30)
    for col, h in enumerate(headers):
        ws.write_string(2, col, h, header)
    row = 3
    for n, line in enumerate(lines, start=1):
        rec = _parsed(line)
        if rec is None:
            ws.write_number(row, 0, n, number)
            ws.write_string(row, 1, "（记录已损坏，无法读取）", text)
            row += 1
            continue
        options = rec["options"] if isinstance(rec.get("options"), dict) else {}
        option_text = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in options.items()
                                if v not in (None, False, [], ""))
        values = (str(rec.get("time", "")), str(rec.get("command", "")), option_text, str(rec.get("user", "")),
                  str(rec.get("version", "")), str(rec.get("result", "")), _files_text(rec.get("read")),
                  _files_text(rec.get("written")), str(rec.get("hash", ""))[:16] + "…")
        ws.write_number(row, 0, n, number)
        ws.write_string(row, 1, _time_text(values[0]), text)
        for col, v in enumerate(values[1:], start=2):
            ws.write_string(row, col, v[:32000], text)
        lines_needed = max(_lines(v, widths[col]) for col, v in enumerate(values, start=1))
        ws.set_row(row, min(409, 14 * lines_needed + 4))
        row += 1
    ws.freeze_panes(3, 0)
    a4_one_page_wide(ws, repeat=(2,))
    wb.close()
    return buffer.getvalue()


def archive_members(folder: str | Path) -> tuple[list[tuple[str, bytes, str]], dict[str, Any] | None]:
    """The log and its readable copy for the archive, and the chain head for the manifest."""
    root = Path(folder)
    path = root / LOG_FILE
    if not path.is_file():
        return [], None
    raw = path.read_bytes()
    lines = [line for line in raw.decode("utf-8", errors="replace").split("\n") if line.strip()]
    check = check_folder(root)
    head = {"records": check.records, "head": check.head, "problems": list(check.problems)}
    return [(LOG_FILE, raw, "操作记录（哈希链，逐条可核验）"),
            (READABLE_FILE, render_readable(lines, check), "操作记录（可读版本）")], head


def verify_archived_log(zf: Any, manifest: Mapping[str, Any]) -> list[str]:
    """Chain problems of the log inside an archive, checked against the manifest's head."""
    expected = manifest.get("audit")
    if not isinstance(expected, dict):
        return []
    try:
        raw = zf.read(LOG_FILE)
    except KeyError:
        return [f"缺少操作记录 {LOG_FILE}（清单记有 {expected.get('records')} 条）。"]
    except Exception:  # noqa: BLE001 - damaged member: reported by the hash check as well
        return [f"操作记录 {LOG_FILE} 已损坏，无法读取。"]
    lines = [line for line in raw.decode("utf-8", errors="replace").split("\n") if line.strip()]
    check = verify_log(lines, expected)
    problems = [f"操作记录：{p}" for p in check.problems]
    for p in expected.get("problems") or []:
        problems.append(f"操作记录在归档时已有问题：{p}")
    return problems
