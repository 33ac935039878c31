"""The consolidation step on an evaluation folder: read the accepted workbooks, consolidate,
write 汇总表.xlsx, the signed record and the panel's opinion draft.

It sits above the pure maths (``consolidate``) and the writers it calls (``summary``,
``opinion``), so that none of them has to import back up into the folder step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from .consolidate import (
    DEFAULT_DECIMALS,
    DEFAULT_SPREAD_SHARE,
    Consolidation,
    ExpertSheet,
    consolidate,
)
from .errors import QiError
from .excuse import PanelAccount
from .lock import locked
from .project import KIND_EXPERT


def sheet_from_returned(rw: Any) -> ExpertSheet:
    """An accepted ``ReturnedWorkbook`` reduced to what the maths needs."""
    return ExpertSheet(
        expert_id=rw.expert_id,
        name=rw.expert_name or rw.expert_id,
        scores=rw.int_scores(),
        remarks=dict(rw.remarks),
        suggestions=tuple((s.text, s.ref) for s in rw.suggestions),
        kind=rw.kind,
        source=rw.name,
    )


@dataclass(frozen=True)
class FolderConsolidation:
    """What ``run_consolidation`` did: the result, who counted, and the panel's opinion draft."""

    result: Consolidation
    panel: PanelAccount
    opinion: Any  # opinion.OpinionWrite: where the draft went and why


def consolidate_folder(
    folder: str | Path,
    *,
    method: str = "mean",
    decimals: int = DEFAULT_DECIMALS,
    draft: bool = False,
    spread_share: Decimal = DEFAULT_SPREAD_SHARE,
    deviation_threshold: Decimal | None = None,
    created_at: str | None = None,
) -> Consolidation:
    """Consolidate ``folder`` (see ``run_consolidation``) and return the result only."""
    return run_consolidation(
        folder, method=method, decimals=decimals, draft=draft, spread_share=spread_share,
        deviation_threshold=deviation_threshold, created_at=created_at,
    ).result


@locked("consolidate")
def run_consolidation(
    folder: str | Path,
    *,
    method: str = "mean",
    decimals: int = DEFAULT_DECIMALS,
    draft: bool = False,
    spread_share: Decimal = DEFAULT_SPREAD_SHARE,
    deviation_threshold: Decimal | None = None,
    created_at: str | None = None,
) -> FolderConsolidation:
    """Consolidate the accepted workbooks of ``folder``; write 汇总表.xlsx, the JSON record and
    the panel's opinion draft 专家组意见.docx.

    ``created_at`` (ISO 8601) defaults to now; the demo and the samples pass their own clock.

    A final result needs every roster member: an accepted workbook or an excusal with a
    reason (clauses 7.2, 8.3.2); otherwise only ``draft`` goes ahead. An excused member's
    workbook is left out even if one was accepted: the organizer decided they did not take
    part. Only the collector's current accepted workbook per expert counts (superseded and
    rejected returns never reach here). Outputs are written atomically, the workbook first,
    so a workbook left open in Excel stops the run before the record changes.
    """
    from datetime import datetime

    from . import evaluation as ev
    from .collect import load_accepted
    from .excuse import account, folder_excusals, refusal
    from .opinion import write_opinion_draft
    from .summary import write_summary

    root = Path(folder)
    if not root.is_dir():
        raise QiError(f"评价目录 {root} 不存在。")
    info, panel = ev.load_project(root)
    rubric = ev.evaluation_rubric(root)
    excused = folder_excusals(root, panel)
    excused_ids = {x.expert_id for x in excused}
    returned = load_accepted(root)
    panel_account = account(panel.experts, (rw.expert_id for rw in returned if rw.kind == KIND_EXPERT), excused)
    if not draft and not (panel_account.complete and panel_account.enough):
        raise QiError(refusal(panel_account, str(folder)))
    sheets = [sheet_from_returned(rw) for rw in returned if rw.expert_id not in excused_ids]
    not_counted = tuple(f"{name}（{ident}）" for ident, name in panel_account.missing)
    result = consolidate(
        rubric, sheets, method=method, decimals=decimals, draft=draft, spread_share=spread_share,
        deviation_threshold=deviation_threshold,
        created_at=created_at or datetime.now().astimezone().replace(microsecond=0).isoformat(),
        service_name=info.service_name, applicant=info.applicant,
    )
    result = replace(result, not_counted=not_counted, members=len(panel.experts), excused=excused)
    write_summary(result, root / ev.SUMMARY_FILE, rubric)
    save_consolidation(root, result)
    opinion = write_opinion_draft(root, result, rubric)
    return FolderConsolidation(result, panel_account, opinion)


def load_consolidation(folder: str | Path) -> Consolidation:
    """The last consolidation written by ``consolidate_folder`` (for the report and archive)."""
    from . import evaluation as ev

    path = Path(folder) / ev.CONSOLIDATION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QiError(f"{Path(folder)} 还没有汇总结果：请先运行 qi-excel consolidate。") from None
    except (OSError, UnicodeDecodeError):
        raise QiError(f"无法读取汇总结果 {path}：请重新运行 qi-excel consolidate。") from None
    from .folder_state import verify_record

    secret = ev.load_secret(folder)
    try:
        data = json.loads(text)
        signed = isinstance(data, dict) and verify_record(secret.hmac_key, data)
    except ValueError:
        raise QiError(f"汇总结果 {path} 已损坏或版本不符：请重新运行 qi-excel consolidate。") from None
    if not signed:
        # a total edited by hand must never reach the report or the archive
        raise QiError(
            f"汇总结果 {path} 的签名与本评价目录的密钥不符：它在汇总之后被改动过（或由旧版本生成），其中的分数不可信。"
            "请重新运行 qi-excel consolidate，再生成评价报告。"
        )
    try:
        return Consolidation.from_dict({k: v for k, v in data.items() if k != "signature"})
    except (ValueError, KeyError, TypeError, ArithmeticError, AttributeError):
        raise QiError(f"汇总结果 {path} 已损坏或版本不符：请重新运行 qi-excel consolidate。") from None


def save_consolidation(folder: str | Path, result: Consolidation) -> Path:
    """Write .qi/consolidation.json signed with the evaluation key (checked by ``load_consolidation``)."""
    from . import evaluation as ev
    from .fileio import write_text_atomic
    from .folder_state import sign_record

    secret = ev.load_secret(folder)
    data = sign_record(secret.hmac_key, json.loads(result.dumps()))
    return write_text_atomic(Path(folder) / ev.CONSOLIDATION_FILE, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
