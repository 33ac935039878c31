"""One writer at a time per evaluation folder.

Two windows (or the web page and a terminal) running ``collect`` on one folder each read the
ledger, add their files and write it back: the second write drops the first run's
acceptance. Every command that writes the folder therefore holds ``.qi/lock`` while it reads,
changes and writes. The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on Windows
and Linux, local disks and SMB shares alike) holding who took it; a lock whose process is
gone (a crash, a killed window) on this machine is taken over, so nothing stays blocked.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .errors import QiError
from .folder_state import resolved

LOCK_FILE = ".qi/lock"
WAIT_SECONDS = 5.0  # a short run of the other window usually ends within this
STALE_SECONDS = 6 * 3600  # a lock from another machine this old belongs to no running command

_COMMAND_LABEL = {
    "collect": "回收检查（collect）", "issue": "发放（issue）", "consolidate": "汇总（consolidate）",
    "report": "生成报告（report）", "application": "生成申请表（application）", "archive": "归档（archive）",
}


def _default_wait() -> float:
    """WAIT_SECONDS, or QI_EXCEL_LOCK_WAIT for a slow shared drive (and the concurrency test)."""
    try:
        value = float(os.environ.get("QI_EXCEL_LOCK_WAIT", ""))
    except ValueError:
        return WAIT_SECONDS
    return value if 0 <= value <= 3600 else WAIT_SECONDS


def _host() -> str:
    """This computer's name, without importing ``socket`` (a few ms on every command)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    return os.environ.get("COMPUTERNAME", "")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _read_holder(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_stale(path: Path, holder: dict[str, object]) -> bool:
    """A lock nobody can be holding: its process ended on this machine, or it is very old."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if not holder:  # unreadable or half-written: only its age tells
        return age > 30
    pid = holder.get("pid")
    if holder.get("host") == _host() and isinstance(pid, int):
        return not _pid_alive(pid)
    return age > STALE_SECONDS


def _describe(holder: dict[str, object] | None) -> str:
    if not holder:
        return "另一个 qi-excel 操作"
    command = _plain(holder.get("command"))
    label = _COMMAND_LABEL.get(command, command or "另一个 qi-excel 操作")
    since = ""
    try:
        when = datetime.fromtimestamp(float(holder.get("time", 0) or 0)).astimezone()  # type: ignore[arg-type]
        since = f"自 {when.year}年{when.month}月{when.day}日 {when:%H:%M:%S} 起"
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    host = _plain(holder.get("host"))
    where = f"（计算机 {host}，进程 {_plain(holder.get('pid'))}）" if host else ""
    return f"{label}{where}{since}"


def _plain(value: object) -> str:
    """Text from the lock file as a message may show it: short, no control characters."""
    return "".join(ch for ch in str(value or "")[:60] if ch.isprintable())


@contextmanager
def folder_lock(folder: str | Path, *, command: str, wait: float | None = None) -> Iterator[None]:
    """Hold the folder's lock for the body; wait up to ``wait`` seconds for another run.

    Re-entrant within one thread: a command that calls another library entry point (the
    web page running ``collect`` then ``consolidate``) does not lock itself out, while two
    requests of the web page on two threads exclude each other like two processes.
    """
    root = Path(folder)
    key = resolved(root)
    held = _held()
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    path = root / LOCK_FILE
    if not path.parent.is_dir():
        # not an evaluation folder (yet): the command itself says what is wrong, in its words
        yield
        return
    body = json.dumps({"pid": os.getpid(), "host": _host(), "command": command,
                       "time": time.time()}, ensure_ascii=False).encode("utf-8")
    deadline = time.monotonic() + (_default_wait() if wait is None else wait)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except (FileExistsError, PermissionError) as exc:
            # Windows answers PermissionError while a released lock is still being deleted
            holder = _read_holder(path)
            if holder is None:
                if isinstance(exc, PermissionError) and time.monotonic() >= deadline:
                    raise QiError(f"无法在 {path.parent} 中建立锁文件：没有写入权限。") from None
                time.sleep(0.01)
                continue  # released between our two looks
            if _is_stale(path, holder):
                _break(path, holder)
                continue
            if time.monotonic() >= deadline:
                raise QiError(
                    f"评价文件夹 {root} 正被{_describe(holder)}使用，请等它完成后再试。"
                    f"如确认没有其他窗口在运行 qi-excel，可删除 {path} 后重试。"
                ) from None
            time.sleep(0.05)
            continue
        except OSError:
            yield  # a file system without exclusive create: run unlocked rather than not at all
            return
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
        break
    held[key] = 1
    try:
        yield
    finally:
        held.pop(key, None)
        if _read_holder(path) == json.loads(body):  # never remove a lock another run has since taken
            try:
                path.unlink()
            except OSError:
                pass


def _break(path: Path, judged: dict[str, object]) -> None:
    """Remove a stale lock without removing a live one that replaced it meanwhile.

    Two runs may judge the same dead lock at once: the first moves it aside and takes the
    lock; the second would then move the first one's live lock aside. So the lock moved
    aside is compared with the one judged, and a different one is put back.
    """
    aside = path.with_name(f"lock.stale-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.replace(path, aside)
    except OSError:
        return
    if _read_holder(aside) != judged:
        try:
            os.link(aside, path)  # fails if yet another run holds the lock by now
        except OSError:
            pass
    try:
        aside.unlink()
    except OSError:
        pass


_LOCAL = threading.local()


def _held() -> dict[str, int]:
    held = getattr(_LOCAL, "held", None)
    if held is None:
        held = _LOCAL.held = {}
    return held


F = TypeVar("F", bound=Callable[..., Any])


def locked(command: str) -> Callable[[F], F]:
    """Run a library entry point whose first argument is the evaluation folder under its lock.

    A decorator, so each command's module gains one line rather than a re-indented body.
    """

    def wrap(fn: F) -> F:
        import functools

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            folder = args[0] if args else kwargs["folder"]
            with folder_lock(folder, command=command):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
