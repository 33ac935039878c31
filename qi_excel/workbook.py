"""Issuing the score workbooks into the evaluation folder (``qi-excel issue``).

The template is rendered by ``score_sheet`` and each expert's copy assembled by
``score_package``; this module is the folder step: the roster and the gates before issuing,
file names, the issued records and the optional .eml drafts.
"""

from __future__ import annotations

import datetime
import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QiError, os_error_text
from .fileio import write_bytes_atomic
from .lock import locked
from .project import EvaluationInfo, Expert
from .rubric import Rubric

from .evaluation import (
    evaluation_rubric, load_issued, load_secret, read_project, save_derived, save_issued,
)
from .project import ISSUE_DIR, KIND_EXPERT, KIND_SELF, PROJECT_FILE, SELF_ID, IssuedRecord, is_email, raise_panel_problems
from .score_package import render_score_workbook

def safe_file_part(text: str, limit: int = 24) -> str:
    """Letters, digits and a few joiners only: a roster cell must never steer a path."""
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN" or ch in "·-_")
    return kept[:limit]




# ───────────────────────────── issuing into the folder ─────────────────────────────


@dataclass(frozen=True)
class IssueResult:
    folder: Path
    issued_at: str
    records: tuple[IssuedRecord, ...]
    eml_files: tuple[str, ...]
    accepted_warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()  # warnings that do not stop the issue (experts sharing a unit)

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "issued_at": self.issued_at,
            "workbooks": [
                {"expert_id": r.expert_id, "name": r.name, "kind": r.kind, "file": r.file, "sha256": r.sha256}
                for r in self.records
            ],
            "eml": list(self.eml_files),
            "accepted_warnings": list(self.accepted_warnings),
            "notes": list(self.notes),
        }


def workbook_file_name(expert: Expert | None, info: EvaluationInfo) -> str:
    if expert is None:
        return f"自我评价记录-{safe_file_part(info.applicant) or '申报单位'}.xlsx"
    return f"{expert.number:02d}-{safe_file_part(expert.name) or expert.expert_id}-评分表.xlsx"


def now_iso() -> str:
    return datetime.datetime.now().astimezone().replace(microsecond=0).isoformat()


@locked("issue")
def issue_workbooks(folder: str | Path, *, self_eval: bool = False, eml: bool = False,
                    accept_titles: bool = False, rubric: Rubric | None = None,
                    issued_at: str | None = None) -> IssueResult:
    """Write every expert's workbook (or, with ``self_eval``, the self-evaluation record).

    Everything is checked and rendered in memory first: a bad roster writes nothing.
    """
    from .eml import expert_eml, self_eml

    root = Path(folder)
    secret = load_secret(root)
    project = read_project(root)
    info = project.info
    rubric = rubric or evaluation_rubric(root)
    issued_at = issued_at or now_iso()
    accepted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    targets: list[Expert | None]
    if self_eval:
        targets = [None]  # clause 6.1 comes before the panel exists: no roster checks
        if eml:
            _self_address_usable(info)
    else:
        accepted, notes = _roster_gates(project, accept_titles=accept_titles, eml=eml)
        targets = list(project.experts)

    from .folder_state import bind_evaluation

    bind_evaluation(root, info, evaluation_rubric(root), secret)  # the key now belongs to this service and applicant

    outputs: list[tuple[str, bytes]] = []
    records: list[IssuedRecord] = []
    eml_files: list[str] = []
    for expert in targets:
        data = render_score_workbook(rubric, info, expert, secret, issued_at)
        name = workbook_file_name(expert, info)
        rel = f"{ISSUE_DIR}/{name}"
        outputs.append((rel, data))
        records.append(IssuedRecord(
            expert_id=SELF_ID if expert is None else expert.expert_id,
            name=info.applicant if expert is None else expert.name,
            file=rel,
            kind=KIND_SELF if expert is None else KIND_EXPERT,
            issued_at=issued_at,
            sha256=hashlib.sha256(data).hexdigest(),
        ))
        if eml:
            day = datetime.datetime.fromisoformat(issued_at).date()
            message = (self_eml(info, name, data, on=day) if expert is None
                       else expert_eml(info, expert, name, data, on=day))
            rel_eml = f"{ISSUE_DIR}/{Path(name).stem}.eml"
            outputs.append((rel_eml, message))
            eml_files.append(rel_eml)
    _write_issued(root, outputs, records)
    save_derived(root, secret)  # parsed rubric and roster kept in .qi/ for collect/status (derived_cache.py)
    return IssueResult(root, issued_at, tuple(records), tuple(eml_files), accepted, notes)


def _self_address_usable(info: EvaluationInfo) -> None:
    """The self-evaluation's mail draft needs the applicant's contact (or head's) address."""
    label, address = ("联系人邮箱", info.contact_email) if info.contact_email else ("负责人邮箱", info.head_email)
    if not address:
        raise QiError(f"{PROJECT_FILE} 基本信息中没有联系人邮箱或负责人邮箱，无法生成自评表邮件草稿。")
    if not is_email(address):
        raise QiError(f"{PROJECT_FILE} 基本信息中的{label}“{address}”格式不正确，无法生成自评表邮件草稿；"
                      "未写入任何文件。")


def _roster_gates(project: Any, *, accept_titles: bool, eml: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Refuse a roster that breaks clause 7.2 (titles only once confirmed); returns the accepted
    warnings and the notes of the gates before issuing."""
    if project.errors:
        raise_panel_problems(project.errors, PROJECT_FILE)
    if project.warnings and not accept_titles:
        lines = "\n".join(f"  {p.text}" for p in project.warnings)
        raise QiError(f"{PROJECT_FILE} 的专家组名单需要确认：\n{lines}\n"
                      "确认无误后请加 --accept-titles 重新发放；未写入任何文件。")
    accepted = tuple(p.text for p in project.warnings)
    notes = _issue_gates(project)
    if eml:
        missing = [f"第 {row} 行 {e.name}" for e, row in zip(project.experts, project.rows) if not e.email]
        if missing:
            raise QiError(f"{PROJECT_FILE} 专家组中以下专家没有邮箱，无法生成邮件草稿：{'、'.join(missing)}。"
                          "未写入任何文件。")
    return accepted, notes


def _write_issued(root: Path, outputs: list[tuple[str, bytes]], records: list[IssuedRecord]) -> None:
    """Write the files and record what went out.

    A workbook written is a workbook issued: if a later file cannot be written (open in Excel,
    a folder in the way, disk full), what did go out is still recorded so collect recognises it.
    """
    history = load_issued(root)
    by_file = {r.file: r for r in records}
    done: list[IssuedRecord] = []
    try:
        for rel, data in outputs:
            try:
                write_bytes_atomic(root / rel, data)
            except OSError as exc:
                raise QiError(f"无法写入 {root / rel}：{os_error_text(exc)}。请关闭占用该文件的程序或检查磁盘后重新发放。"
                              + (f"已写入 {len(done)} 个工作簿，并已记录。" if done else "")) from None
            except QiError as exc:
                raise QiError(str(exc) + (f"已写入 {len(done)} 个工作簿，并已记录。" if done else "")) from None
            if rel in by_file:
                done.append(by_file[rel])
    finally:
        if done:
            save_issued(root, [*history, *done])


def _issue_gates(project: Any) -> tuple[str, ...]:
    """Before expert workbooks go out: the application passed the review (6.3) and no expert
    works at the applicant (4.3). Raises on either; returns warnings (experts sharing a unit)."""
    from .conflict import conflicts
    from .review import require_review

    require_review(project.review, PROJECT_FILE)
    found = conflicts(project.info.applicant, project.info.service_name, project.experts)
    errors = [p.message for p in found if p.severity == "error"]
    if errors:
        lines = "\n".join(f"  {m}。" for m in errors)
        raise QiError(f"{PROJECT_FILE} 的专家组存在利益冲突，未发放：\n{lines}\n未写入任何文件。")
    return tuple(p.message for p in found if p.severity == "warning")
