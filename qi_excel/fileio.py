"""Atomic output: a crash or Ctrl-C must never leave a half-written file behind.

Every file qi-excel writes goes to a temporary sibling first and is renamed into place,
so an organizer only ever sees the old file or the complete new one.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import QiError, os_error_text


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".~tmp-", suffix=target.suffix, dir=target.parent)
    except OSError as exc:
        raise QiError(f"无法在 {target.parent} 中写入 {target.name}：{os_error_text(exc)}。") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode an ordinary save would, so
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
