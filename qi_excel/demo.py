"""The whole evaluation on the sample project, end to end, in one call.

A newcomer sees every step work and every file it writes, and the samples/ folder is made
from exactly this run. Expert returns are simulated deterministically from a seed: the
experts disagree a little and give reasons for deductions, one pastes an out-of-range score
(and is rejected, then sends a corrected file), one sends twice, one replies by email.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from .errors import QiError
from .simulate import Value

if TYPE_CHECKING:
    from .collect import CollectResult
    from .rubric import Rubric

Echo = Callable[[str], None]

STEPS = 9
ISSUE_LEAD = timedelta(days=2)  # workbooks go out two days before the site visit


def sample_clock() -> datetime:
    """When the demo's experts sign: the end of the sample project's site visit (Beijing time).

    The demo runs on its own evaluation's dates, not on today's: a run in 2027 still has the
    experts sign on the day of the site visit in 评价项目.xlsx, and the samples made from it
    are the same on any day.
    """
    from .evaluation import sample_info

    day = date.fromisoformat(sample_info().evaluation_date)
    return datetime(day.year, day.month, day.day, 16, 30, tzinfo=timezone(timedelta(hours=8)))


@dataclass(frozen=True)
class DemoStep:
    title: str
    outputs: tuple[Path, ...]
    notes: tuple[str, ...] = ()


def _pasted_out_of_range(rubric: "Rubric", scores: Mapping[str, Value]) -> tuple[str, int]:
    """A score pasted from elsewhere: two points above the maximum of a cell the expert
    had scored below it (pasting bypasses data validation)."""
    cell = next(c for c in rubric.score_cells if isinstance(v := scores[c.id], int) and v < c.max)
    return cell.id, cell.max + 2


def _revised(scores: Mapping[str, Value], rubric: "Rubric") -> dict[str, Value]:
    """An earlier draft: the first deduction not yet made (the expert revised it later)."""
    cell = next(c for c in rubric.score_cells if isinstance(v := scores[c.id], int) and v < c.max)
    return {**scores, cell.id: cell.max}


def _mail(sender: str, to: str, subject: str, body: str, name: str, data: bytes, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg.set_content(body)
    msg.add_attachment(
        data, maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=name,
    )
    return bytes(msg)


def simulate_returns(folder: Path, *, seed: int, start: datetime) -> tuple[list[Path], tuple[str, bytes]]:
    """Write the experts' (and the applicant's) returns into the inbox.

    Returns the files written and the corrected workbook (name, content) kept back for the
    second round.
    """
    from .evaluation import INBOX_DIR, evaluation_rubric, load_issued, load_project
    from .fileio import write_bytes_atomic
    from .simulate import platform_levels, simulated_fill, fill_workbook

    rubric = evaluation_rubric(folder)
    info, panel = load_project(folder)
    inbox = folder / INBOX_DIR
    levels = platform_levels(rubric, seed)
    latest = {r.expert_id: r for r in load_issued(folder)}
    written: list[Path] = []
    corrected: tuple[str, bytes] | None = None
    sign_day = start.date()
    for i, expert in enumerate(panel.experts):
        record = latest[expert.expert_id]
        issued = (folder / record.file).read_bytes()
        saved = start + timedelta(minutes=20 + 7 * i)
        fill = simulated_fill(rubric, levels, seed * 100 + i, sign_name=expert.name,
                              sign_date=sign_day, saved_at=saved)
        name = Path(record.file).name
        if i == 2:  # pasted a value the validation would have refused
            cell_id, bad = _pasted_out_of_range(rubric, fill.scores)
            wrong = replace(fill, scores={**fill.scores, cell_id: bad})
            written.append(write_bytes_atomic(inbox / name, fill_workbook(issued, rubric, wrong)))
            later = replace(fill, saved_at=saved + timedelta(hours=2))
            corrected = (name.replace(".xlsx", "-更正.xlsx"), fill_workbook(issued, rubric, later))
        elif i == 4:  # sends twice: a first version, then a revised one an hour later
            first = replace(fill, scores=_revised(fill.scores, rubric), saved_at=saved - timedelta(hours=1))
            written.append(write_bytes_atomic(inbox / name.replace(".xlsx", "-初稿.xlsx"),
                                              fill_workbook(issued, rubric, first)))
            written.append(write_bytes_atomic(inbox / name, fill_workbook(issued, rubric, fill)))
        elif i == 1:  # replies by email with the workbook attached
            data = fill_workbook(issued, rubric, fill)
            mail = _mail(expert.email, info.contact_email or "organizer@example.cn",
                         f"回复：{info.service_name}评分表", f"{info.contact}：\n\n评分表已填好，请查收。\n\n{expert.name}",
                         name, data, saved)
            written.append(write_bytes_atomic(inbox / f"{expert.number:02d}-{expert.name}-回复邮件.eml", mail))
        else:
            written.append(write_bytes_atomic(inbox / name, fill_workbook(issued, rubric, fill)))
    if "SELF" in latest:  # the applicant's self-evaluation: somewhat kinder to itself
        record = latest["SELF"]
        kinder = {k: min(rubric.cell(k).allowed.values(), key=lambda v: abs(v - (levels[k] + 2))) for k in levels}
        fill = simulated_fill(rubric, kinder, seed * 100 + 99, sign_name=info.head,
                              sign_date=sign_day, saved_at=start + timedelta(minutes=5))
        written.append(write_bytes_atomic(inbox / Path(record.file).name,
                                          fill_workbook((folder / record.file).read_bytes(), rubric, fill)))
    assert corrected is not None
    return written, corrected


def run_demo(folder: str | Path, *, echo: Echo = print, seed: int = 2026, now: datetime | None = None,
             after_returns: Callable[[Path], None] | None = None) -> list[DemoStep]:
    """Run every step on a new folder; ``echo`` receives the progress lines as they happen.

    ``after_returns`` may alter the inbox before the first collect (the samples use it to
    have one return re-saved by LibreOffice Calc).
    """
    from .archive import write_archive
    from .collect import collect
    from .consolidation_step import run_consolidation
    from .documents import write_application, write_report
    from .evaluation import INBOX_DIR, STATE_DIR, new_evaluation
    from .fileio import write_bytes_atomic
    from .workbook import issue_workbooks

    root = Path(folder)
    if root.exists() and any(root.iterdir()):
        raise QiError(f"{root} 已存在且不是空文件夹；演示需要一个新的文件夹，例如：qi-excel demo 演示评价2")
    start = (now or sample_clock()).replace(microsecond=0)
    steps: list[DemoStep] = []

    def step(title: str, outputs: list[Path], notes: list[str] = ()) -> None:  # type: ignore[assignment]
        n = len(steps) + 1
        echo(f"[{n}/{STEPS}] {title}")
        for note in notes:
            echo(f"      {note}")
        for path in outputs:
            echo(f"      → {path}")
        steps.append(DemoStep(title, tuple(outputs), tuple(notes)))

    from .procedure import write_pledge, write_plan, write_review, write_signin
    from .remind import remind

    created = [p for p in new_evaluation(root, sample=True) if STATE_DIR not in p.parts]
    step("建立评价文件夹，填入示例项目、7 人专家组和申请材料审查结论“符合”（qi-excel new --sample），"
         "生成审查记录、评价计划和首次会议签到表（qi-excel review / plan / signin）",
         created + write_review(root) + write_plan(root) + write_signin(root, ("first",)))
    issued_at = (start - ISSUE_LEAD).replace(hour=9, minute=0, second=0).isoformat()
    experts = issue_workbooks(root, eml=True, issued_at=issued_at)
    own = issue_workbooks(root, self_eval=True, eml=True, issued_at=issued_at)
    step("为每位专家生成锁定的评分工作簿和邮件草稿，另生成申报单位自评表（qi-excel issue --eml / --self）",
         [root / f for r in (experts, own) for f in [*(x.file for x in r.records), *r.eml_files]])
    returned, corrected = simulate_returns(root, seed=seed, start=start)
    if after_returns is not None:
        after_returns(root)
    _arrived(root / INBOX_DIR, start + timedelta(hours=2))
    step("模拟专家交回：有人用邮件回复，有人交了两次，有人粘贴了不允许的分值", returned)
    first = collect(root)
    chase = remind(root)
    step("回收并检查，为被拒收的专家生成更正请求邮件（qi-excel collect / remind）",
         [first.report, *(root / r.file for r in chase.reminders)],
         _collect_lines(first) + [f"催办：{r.expert}（{r.expert_id}）{'尚未交回' if r.reason == 'missing' else '被拒收，需更正'}"
                                  for r in chase.reminders])
    corrected_name, corrected_data = corrected
    inbox_copy = write_bytes_atomic(root / INBOX_DIR / corrected_name, corrected_data)
    _arrived(inbox_copy, start + timedelta(hours=2, minutes=50))
    second = collect(root)
    step("被拒收的专家发回更正后的文件，再次回收（qi-excel collect）",
         [inbox_copy, second.report], _collect_lines(second))
    # Every member's workbook is accepted after the correction, so the result is final.
    run = run_consolidation(root, created_at=(start + timedelta(hours=3)).isoformat())
    cons = run.result
    from .decimals import plain_number
    from .evaluation import SUMMARY_FILE
    notes = [f"专家 {len(cons.experts)} 人，算术平均，总分 {plain_number(cons.total)} 分；分歧项 {len(cons.divergent)} 个",
             "专家组意见.docx 是供专家组组长修改定稿的草稿；生成报告时逐段写入“五、专家组意见”“六、评价结论”"]
    step("汇总专家评分，整理专家组意见草稿（qi-excel consolidate）", [root / SUMMARY_FILE, run.opinion.path], notes)
    step("生成评价申请表（qi-excel application）", write_application(root))
    step("生成评价报告、末次会议签到表和持续改进承诺书（qi-excel report / signin / pledge）",
         write_report(root) + write_signin(root, ("last",)) + write_pledge(root))
    step("归档（qi-excel archive）", [write_archive(root)])
    return steps


def _collect_lines(result: CollectResult) -> list[str]:
    lines = []
    for f in result.files:
        lines.append(f.summary())
        if f.status == "rejected":
            lines.extend(f"    {x.message}" for x in f.findings if x.severity == "error")
    lines.append(result.summary())
    return lines


def _arrived(path: Path, when: datetime) -> None:
    """Date simulated returns by when they reached the organizer (collect orders by arrival).

    Files written now would carry today's time: the demo's story (and the samples) must not.
    A story told in the present (no fixed clock) never dates a file in the future.
    """
    import os

    stamp = min(when.timestamp(), datetime.now(timezone.utc).timestamp())
    for p in ([path] if path.is_file() else sorted(path.iterdir())):
        if p.is_file():
            os.utime(p, (stamp, stamp))
