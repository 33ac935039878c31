"""What every ``qi-excel`` command shares: the ``--json`` option, the JSON printer, the list of
written documents, the exit codes, the per-person JSON item of ``collect`` and ``status``, and
opening the folder handle.

Exit codes (documented in the README's developer section):

- 0: done;
- 1: done, but something needs the organizer (a returned file was rejected, an archive or
  the operation log does not match its record);
- 2: a usage error (click's own code: an unknown option, a missing argument);
- 3: a data or folder error (``QiError``, or a file that could not be read or written).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

    from ..collect import ExpertStatus, FileResult
    from ..handle import Evaluation

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_DATA = 3

json_option = click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（供脚本使用）。")


def echo_json(data: Any) -> None:
    """The one JSON printer: UTF-8 text (Chinese stays readable), indented, one document."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


NO_OFFICE = "未生成 PDF：本机未找到 LibreOffice（soffice）。安装 LibreOffice 后加 --pdf 重新运行，或在 Word/WPS 中“另存为 PDF”。"


def echo_written(paths: list[Path], pdf: bool) -> None:
    """The files a document command wrote; says why there is no PDF when one was asked for."""
    for path in paths:
        click.echo(f"  {path}")
    if pdf and not any(p.suffix.lower() == ".pdf" for p in paths):
        click.echo(NO_OFFICE)


def evaluation(folder: str) -> "Evaluation":
    """The handle on ``folder``; a QiError (exit 3) when it is missing or not an evaluation."""
    from ..handle import Evaluation

    return Evaluation(folder)


# ───────────────────────────── one shape for a person's item ─────────────────────────────
# ``collect --json`` lists files and ``status --json`` lists people, but a script reading either
# finds the same keys: who (expert_id, name, kind), how it stands (status), which file, and
# the findings. Each adds its own extra keys.


def collect_item(f: "FileResult") -> dict[str, Any]:
    return {
        "expert_id": f.expert_id,
        "name": f.expert,
        "kind": f.kind,
        "status": f.status,  # accepted / rejected / superseded
        "file": f.file,
        "findings": [x.to_json() for x in f.findings],
        "stored": f.stored,
    }


def status_item(p: "ExpertStatus") -> dict[str, Any]:
    from ..evaluation import SELF_ID

    if p.accepted:
        status = "accepted"
    elif p.returned:
        status = "rejected"
    else:
        status = "issued" if p.issued else "not_issued"
    return {
        "expert_id": p.expert_id,
        "name": p.name,
        "kind": "self" if p.expert_id == SELF_ID else "expert",
        "status": status,  # accepted / rejected / issued / not_issued
        "file": p.stored,
        "findings": [x.to_json() for x in p.findings],
        "issued": p.issued,
        "returned": p.returned,
        "accepted": p.accepted,
        "state": p.state,
    }
