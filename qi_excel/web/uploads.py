"""Files dropped on the page: stored under a generated name, checked by ``collect``.

An uploaded file's name comes from whoever sent it; it never becomes a path. Each upload is
written into the evaluation's 收件箱 as ``网页上传-<time>-<random>.<kind>`` (the CLI's
``collect`` reads it there like any file the organizer saved by hand), the original name is
kept in ``.qi/web-uploads.json`` for display only.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .. import evaluation as ev
from ..checks import Finding, finding
from ..collect import (
    MAX_EML_BYTES,
    WORKBOOK_SUFFIXES,
    FileResult,
    safe_name,
)
from ..fileio import write_text_atomic
from ..ledger import STATUS_LABEL
from ..handle import Evaluation
from ..package import MAX_FILE_BYTES

MAX_FILES = 50  # per request
MAX_PROJECT_BYTES = 10 * 1024 * 1024  # an uploaded 评价项目.xlsx
NAMES_FILE = ".qi/web-uploads.json"
PREFIX = "网页上传-"


@dataclass(frozen=True)
class Upload:
    name: str  # as the browser sent it: display only
    stream: IO[bytes]


@dataclass(frozen=True)
class Verdict:
    """One row of the drop zone's answer: the file's original name and ``collect``'s finding."""

    name: str
    status: str  # accepted / rejected / superseded
    expert: str
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "status_label": STATUS_LABEL.get(self.status, self.status),
            "expert": self.expert,
            "findings": [split_cell(f) for f in self.findings],
        }


def split_cell(f: Finding) -> dict[str, str]:
    """A finding for the page: sheet and cell apart (``评分表!G12`` → 评分表, G12)."""
    sheet, _, cell = (f.cell or "").rpartition("!")
    return {"severity": f.severity, "level": "拒收问题" if f.severity == "error" else "提醒",
            "sheet": sheet, "cell": cell, "code": f.code, "message": f.message}


_INVISIBLE = re.compile(r"[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def display_name(original: str) -> str:
    """No folders, no control or direction-changing characters (a name must read as it is)."""
    return safe_name(_INVISIBLE.sub("", original), "未命名文件")


def _suffix(original: str) -> str:
    suffix = Path(display_name(original)).suffix.lower()
    if suffix == ".eml" or suffix in WORKBOOK_SUFFIXES:
        return suffix
    return ".bin"  # still checked: collect sniffs the content and says what it is


def _read_limited(stream: IO[bytes], limit: int) -> bytes | None:
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _names(evaluation: Evaluation) -> dict[str, str]:
    path = evaluation.path / NAMES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def receive(evaluation: Evaluation, uploads: Sequence[Upload]) -> list[Verdict]:
    """Store the uploads in the inbox, collect exactly those, answer per original file."""
    verdicts: dict[int, list[Verdict]] = {}
    stored: list[tuple[int, Path]] = []
    with evaluation.locked():
        names = _names(evaluation)
        inbox = evaluation.path / ev.INBOX_DIR
        inbox.mkdir(exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for i, up in enumerate(uploads):
            shown = display_name(up.name)
            if i >= MAX_FILES:
                verdicts[i] = [Verdict(shown, "rejected", "", (finding(
                    "READ_FAILED", f"一次最多上传 {MAX_FILES} 个文件，这个文件未处理；请分批上传。"),))]
                continue
            suffix = _suffix(up.name)
            limit = MAX_EML_BYTES if suffix == ".eml" else MAX_FILE_BYTES
            data = _read_limited(up.stream, limit)
            if data is None:
                verdicts[i] = [Verdict(shown, "rejected", "", (finding(
                    "TOO_LARGE", f"文件超过 {limit // 1048576} MB 的上限，未保存、未打开。"),))]
                continue
            target = inbox / f"{PREFIX}{stamp}-{secrets.token_hex(4)}{suffix}"
            with open(target, "xb") as fh:  # a fresh name: never overwrite anything
                fh.write(data)
            names[target.name] = shown
            stored.append((i, target))
        if stored:
            write_text_atomic(evaluation.path / NAMES_FILE, json.dumps(names, ensure_ascii=False, indent=1) + "\n")
            result = evaluation.collect([str(p) for _, p in stored])
            for i, path in stored:
                mine = [f for f in result.files if _is_from(f, path)]
                verdicts[i] = [_verdict(f, path, names[path.name]) for f in mine]
    return [v for i in sorted(verdicts) for v in verdicts[i]]


def _is_from(f: FileResult, path: Path) -> bool:
    return f.file == str(path) or f.file.startswith(str(path) + "[")


def _verdict(f: FileResult, path: Path, shown: str) -> Verdict:
    name = shown + f.file[len(str(path)):]  # keeps "[附件名]" of a mail's attachment
    who = f"{f.expert}（{f.expert_id}）" if f.expert and f.expert_id else ""
    return Verdict(name, f.status, who, f.findings)
