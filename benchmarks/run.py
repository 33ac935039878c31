"""The whole product's speed in one table: issue, collect+check, consolidate, ``--help``.

Builds N sample evaluations (panels) in a temporary folder with the project's own API —
``new_evaluation(sample=True)``, ``issue_workbooks``, then realistic filled returns from
``simulate.fill_workbook`` in each folder's 收件箱 — and times every step on one core, next
to the naive way of reading the same files (openpyxl full load; pandas if installed).

Run from the repository root (not part of the test suite; nothing is asserted):
    python benchmarks/run.py                      # 100 panels × 7 experts
    python benchmarks/run.py --panels 5           # a quick look
    python benchmarks/run.py --results benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from _common import ROOT, best_of, machine, openpyxl_full_load, pandas_read_excel, pin_one_core, print_table

from qi_excel import evaluation as ev  # noqa: E402
from qi_excel.checks import check_workbook, has_errors  # noqa: E402
from qi_excel.collect import collect  # noqa: E402
from qi_excel.consolidation_step import consolidate_folder  # noqa: E402
from qi_excel.returned import read_returned  # noqa: E402
from qi_excel.rubric import shipped_rubric  # noqa: E402
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill  # noqa: E402
from qi_excel.workbook import issue_workbooks  # noqa: E402

TARGET_ISSUE_MS = 10.0
TARGET_CHECK_MS = 5.0
TARGET_HELP_S = 0.3
SIGN_DAY = date(2026, 6, 18)
SAVED = datetime(2026, 6, 18, 15, 0)


@dataclasses.dataclass
class Panel:
    folder: Path
    context: tuple[ev.Secret, ev.Panel, tuple[ev.IssuedRecord, ...]]
    returns: list[Path]


def _roster(n: int) -> ev.Panel:
    """The sample panel, cut or extended with more fictional senior experts to ``n``."""
    sample = ev.sample_panel().experts
    extra = [dataclasses.replace(sample[(i - 1) % len(sample)], number=i, name=f"专家{i:02d}", role=ev.MEMBER,
                                 email=f"expert{i:02d}@example.com")
             for i in range(len(sample) + 1, n + 1)]
    return ev.Panel((*sample[:n], *extra))


def build(root: Path, panels: int, experts: int, seed: int) -> tuple[list[Panel], list[float]]:
    """Create, issue and fill ``panels`` evaluations; returns them and issue ms per panel."""
    from qi_excel.review import sample_review
    from qi_excel.workbook_project import fill_project_workbook, project_template_bytes

    rubric = shipped_rubric()
    built: list[Panel] = []
    issue_ms: list[float] = []
    for p in range(panels):
        folder = root / f"评价{p + 1:03d}"
        ev.new_evaluation(folder, sample=True)
        if experts != len(ev.sample_panel().experts):  # only when asked for another panel size
            (folder / ev.PROJECT_FILE).write_bytes(
                fill_project_workbook(project_template_bytes(), ev.sample_info(), _roster(experts), sample_review()))
        t = time.perf_counter()
        issue_workbooks(folder)
        issue_ms.append((time.perf_counter() - t) * 1000)

        _, roster = ev.load_project(folder)
        issued = tuple(ev.load_issued(folder))
        levels = platform_levels(rubric, seed + p)
        returns = []
        for i, record in enumerate(issued):
            expert = roster.by_id(record.expert_id)
            assert expert is not None
            fill = simulated_fill(rubric, levels, (seed + p) * 100 + i, sign_name=expert.name, sign_date=SIGN_DAY,
                                  saved_at=SAVED + timedelta(minutes=7 * i))
            target = folder / ev.INBOX_DIR / Path(record.file).name
            target.write_bytes(fill_workbook((folder / record.file).read_bytes(), rubric, fill))
            returns.append(target)
        built.append(Panel(folder, (ev.load_secret(folder), roster, issued), returns))
    return built, issue_ms


def time_check(panels: list[Panel], repeat: int) -> tuple[float, int, int]:
    """ms per workbook for read_returned + check_workbook on bytes in memory (best run)."""
    rubric = shipped_rubric()
    jobs = [(p.context, path.name, path.read_bytes()) for p in panels for path in p.returns]
    rejected = warnings = 0
    for (secret, roster, issued), name, data in jobs:  # warm-up and a sanity check: all accepted
        found = check_workbook(read_returned(data, name, rubric=rubric), rubric=rubric,
                               evaluation_id=secret.evaluation_id, key=secret.hmac_key, panel=roster, issued=issued)
        rejected += has_errors(found)
        warnings += len(found)

    def run() -> None:
        for (secret, roster, issued), name, data in jobs:
            check_workbook(read_returned(data, name, rubric=rubric), rubric=rubric,
                           evaluation_id=secret.evaluation_id, key=secret.hmac_key, panel=roster, issued=issued)

    return best_of(run, repeat) * 1000 / len(jobs), rejected, warnings


def time_help(runs: int = 5) -> tuple[float, str]:
    """Seconds of wall time for ``qi-excel --help`` in a fresh process (best of ``runs``)."""
    exe = shutil.which("qi-excel")
    if exe:
        cmd, how = [exe, "--help"], exe
    else:
        cmd = [sys.executable, "-c", "import sys; sys.argv[0] = 'qi-excel'; from qi_excel.cli import run; run()", "--help"]
        how = f"{Path(sys.executable).name} -c 'from qi_excel.cli import run; run()' (qi-excel not installed)"
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=100, help="evaluations to build (default 100)")
    parser.add_argument("--experts", type=int, default=7, help="experts per panel (default 7, the sample panel)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the in-memory check; the best counts")
    parser.add_argument("--baseline-files", type=int, default=50,
                        help="returned workbooks the naive baselines read (default 50; they are slow)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--results", type=Path, help="also write the figures as Markdown to this file")
    args = parser.parse_args()
    if args.panels < 1:
        parser.error("--panels must be at least 1")

    pinned = pin_one_core()
    # imports the steps do lazily, so no step pays for them inside its timing
    import openpyxl  # noqa: F401
    import xlsxwriter  # noqa: F401

    from qi_excel import check_report, summary  # noqa: F401

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qi-bench-") as tmp:
        print(f"building {args.panels} panels × {args.experts} experts in {tmp} ({pinned}) …", flush=True)
        panels, issue_ms = build(Path(tmp), args.panels, args.experts, args.seed)
        books = sum(len(p.returns) for p in panels)

        check_ms, rejected, warnings = time_check(panels, args.repeat)

        collect_ms, accepted = [], 0
        for p in panels:
            t = time.perf_counter()
            result = collect(p.folder)
            collect_ms.append((time.perf_counter() - t) * 1000)
            accepted += result.count("accepted")

        consolidate_ms = []
        for p in panels:
            t = time.perf_counter()
            consolidate_folder(p.folder, created_at="2026-06-19T10:00:00+08:00")
            consolidate_ms.append((time.perf_counter() - t) * 1000)

        sample = [path for p in panels for path in p.returns][: args.baseline_files]
        openpyxl_ms = openpyxl_full_load(sample)
        pandas_ms = pandas_read_excel(sample)
        help_s, help_how = time_help()
    total_s = time.perf_counter() - started

    issue_per_book = sum(issue_ms) / books
    per_panel_collect = statistics.median(collect_ms)
    rows = [
        ("issue: issue_workbooks(), incl. reading 评价项目.xlsx and writing files",
         f"{issue_per_book:.2f} ms", f"{statistics.median(issue_ms):.1f} ms",
         f"≤ {TARGET_ISSUE_MS:g} ms/workbook", _met(issue_per_book <= TARGET_ISSUE_MS)),
        ("collect+check: read_returned() + check_workbook(), every check, bytes in memory",
         f"{check_ms:.2f} ms", f"{check_ms * books / len(panels):.1f} ms",
         f"≤ {TARGET_CHECK_MS:g} ms/workbook", _met(check_ms <= TARGET_CHECK_MS)),
        ("collect(): whole inbox — read, check, copy, ledger, 检查报告.xlsx",
         f"{sum(collect_ms) / books:.2f} ms", f"{per_panel_collect:.1f} ms", "—", ""),
        ("consolidate_folder(): 汇总表.xlsx + consolidation.json",
         f"{sum(consolidate_ms) / books:.2f} ms", f"{statistics.median(consolidate_ms):.1f} ms", "—", ""),
        (f"naive baseline: openpyxl.load_workbook(path), no checks ({len(sample)} files)",
         f"{openpyxl_ms:.2f} ms", f"{openpyxl_ms * books / len(panels):.1f} ms", "—", ""),
        ("naive baseline: pandas.read_excel(path, sheet_name=None)",
         f"{pandas_ms:.2f} ms" if pandas_ms is not None else "skipped: pandas not installed",
         f"{pandas_ms * books / len(panels):.1f} ms" if pandas_ms is not None else "—", "—", ""),
        ("qi-excel --help: wall time of a fresh process, best of 5", "—", f"{help_s * 1000:.0f} ms",
         f"≤ {TARGET_HELP_S:g} s", _met(help_s <= TARGET_HELP_S)),
    ]
    print()
    table = print_table(("step", "per workbook", "per panel", "target", "met"), rows)
    notes = [
        f"{args.panels} panels × {args.experts} experts = {books} returned workbooks; {pinned}.",
        f"per panel = median over panels (the check row: per-workbook × {books // len(panels)}).",
        f"issue per workbook includes the workbook template, built once per process "
        f"(first panel {issue_ms[0]:.0f} ms, median panel {statistics.median(issue_ms):.0f} ms).",
        f"returns accepted by collect(): {accepted}/{books}; in the timed check {rejected} rejected, "
        f"{warnings} warnings in all.",
        f"read+check is {openpyxl_ms / check_ms:.0f}× faster than an openpyxl full load of the same files.",
        f"--help ran as: {help_how}.",
        f"whole benchmark: {total_s:.0f} s.",
    ]
    for n in notes:
        print("  " + n)
    if args.results:
        write_results(args.results, table, notes, args)
        print(f"\nwritten: {args.results}")


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def write_results(path: Path, table: str, notes: list[str], args: argparse.Namespace) -> None:
    env = "\n".join(f"- {k}: {v}" for k, v in machine())
    text = (
        "# Benchmark results\n\n"
        f"Measured with `python benchmarks/run.py --panels {args.panels} --experts {args.experts}` "
        f"on {date.today().isoformat()}, one core.\n\n"
        f"{env}\n\n{table}\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    )
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
