"""Atomic output: a crash or Ctrl-C must never leave a half-written file behind.

Every file qi-excel writes goes to a temporary sibling first and is renamed into place,
so an organizer only ever sees the old file or the complete new one.
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import QiError, os_error_text
from .lazy_re import lazy_re


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_files(target.parent)
        fd, tmp = _make_temp(target.parent, target.suffix)
    except OSError as exc:
        raise QiError(f"无法在 {target.parent} 中写入 {target.name}：{os_error_text(exc)}。") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # the temporary file is made private (0600); give it the mode an ordinary save would, so
        # colleagues on a shared drive can open it.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, target)
    except PermissionError:
        tmp_path.unlink(missing_ok=True)
        raise QiError(f"无法写入 {target}：文件可能正在 Excel/WPS 中打开，请关闭后重试。") from None
    except IsADirectoryError:
        tmp_path.unlink(missing_ok=True)
        raise QiError(f"无法写入 {target}：已有同名文件夹。") from None
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise QiError(f"无法写入 {target}：{os_error_text(exc)}。") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


TEMP_PREFIX = ".~tmp-"
# Exactly what _make_temp makes (the names tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=<a file
# suffix>) made before): 8 characters from its alphabet, then the target's suffix. Nothing else
# is ever removed.
_TEMP_NAME = lazy_re(r"^\.~tmp-[a-z0-9_]{8}(?:\.[A-Za-z0-9]{1,10})?$")
STALE_TEMP_SECONDS = 120  # a write in progress (another run) is never that old
_cleaned: set[str] = set()
_cleaned_as_given: set[str] = set()  # the same directories, by their absolute names
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile's alphabet: what _TEMP_NAME accepts
# tempfile.mkstemp's flags: exclusive create, never through a link, binary on Windows
_OPEN_FLAGS = (os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))


def _make_temp(directory: Path, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=suffix, dir=directory)`` without importing
    tempfile (with shutil, bz2, lzma and random: ~6 ms on every command that writes a file).

    Same guarantees: a fresh name (8 random characters from os.urandom, 37**8 names), created
    with O_EXCL (never an existing file, never through a link), private (0600) and not inherited
    by child processes; the same retries on a taken name.
    """
    folder = os.path.abspath(directory)
    for _ in range(getattr(os, "TMP_MAX", 10000)):
        name = "".join(_NAME_CHARS[b % 37] for b in os.urandom(8))
        path = os.path.join(folder, TEMP_PREFIX + name + suffix)
        try:
            return os.open(path, _OPEN_FLAGS, 0o600), path
        except FileExistsError:
            continue
        except PermissionError:
            # Windows answers so when a folder of that name exists (as tempfile knows)
            if os.name == "nt" and os.path.isdir(folder) and os.access(folder, os.W_OK):
                continue
            raise
    raise FileExistsError(errno.EEXIST, "No usable temporary file name found")


def clean_stale_temp_files(directory: str | Path, *, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove our own temporary files left by a crashed run (``发放/.~tmp-ab12cd34.xlsx``).

    They would otherwise stay forever and could be mailed by mistake. Only names that
    ``atomic_path`` makes, only regular files, only when older than ``older_than`` seconds;
    in an evaluation folder (one with ``.qi``) its output subfolders are swept too. Runs once
    per directory and process; a file that cannot be removed is left alone.
    """
    directory = Path(directory)
    dirs = [directory]
    root = next((d for d in (directory, directory.parent) if (d / ".qi").is_dir()), None)
    if root is not None:  # writing into an evaluation folder: sweep it and its output folders
        dirs += [root] + [root / sub for sub in (".qi", "发放", "回收")]
    removed: list[Path] = []
    now = time.time()
    for d in dirs:
        # swept already under this name? (resolving the name again costs ~35 µs); a name with
        # ".." is resolved every time, since a link before the ".." decides where it leads
        given = os.path.abspath(d) if os.pardir not in d.parts else None
        if given is not None and given in _cleaned_as_given:
            continue
        exists = d.exists()
        key = str(d.resolve()) if exists else str(d)
        if exists and given is not None:
            _cleaned_as_given.add(given)
        if key in _cleaned:
            continue
        _cleaned.add(key)
        try:
            names = [e for e in os.scandir(d) if _TEMP_NAME.match(e.name)]
        except OSError:
            continue
        for entry in names:
            try:
                info = entry.stat(follow_symlinks=False)
                if not entry.is_file(follow_symlinks=False) or now - info.st_mtime < older_than:
                    continue
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | Path, text: str) -> Path:
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_bytes_if_changed(target: str | Path, data: bytes) -> Path:
    """``write_bytes_atomic``, unless the file already holds exactly ``data``: an unchanged
    record keeps its file time, and the operation log does not list it as written."""
    try:
        if Path(target).is_file() and Path(target).read_bytes() == data:
            return Path(target)
    except OSError:
        pass
    return write_bytes_atomic(target, data)
