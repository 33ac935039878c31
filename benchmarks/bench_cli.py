"""CPU of ``qi-excel collect`` (7 returns) and ``qi-excel status`` in a fresh process.

These are the commands an organizer runs and waits for; a fresh process pays for every
import. Measured as user+system CPU of the child process (``resource.RUSAGE_CHILDREN``),
best of N runs, with the package compiled to bytecode first (an installed wheel has .pyc
files; ``PYTHONDONTWRITEBYTECODE`` is removed from the child's environment). Each collect
run gets a fresh copy of a folder whose 收件箱 holds 7 filled returns. Nothing is asserted.

    python benchmarks/bench_cli.py [--runs 21] [--instructions]

Also shows which heavy libraries each command imported (openpyxl must not be among them).
With ``--instructions`` (needs valgrind) each command also runs once under cachegrind and the
table shows its instruction count: CPU seconds on a shared VM vary by +-30 % between runs, the
count does not, so it is what to compare when deciding whether a change helped.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

from _common import ROOT, machine, print_table

from qi_excel import evaluation as ev  # noqa: E402
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill  # noqa: E402
from qi_excel.workbook import issue_workbooks  # noqa: E402

TARGET_COLLECT_S = 0.15
TARGET_STATUS_S = 0.12
PROBE = ("import sys, runpy; sys.argv = ['qi-excel', *sys.argv[1:]];\n"
         "try:\n    runpy.run_module('qi_excel', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "heavy = [m for m in ('openpyxl', 'xlsxwriter', 'docx', 'docxtpl', 'jinja2', 'lxml') if m in sys.modules]\n"
         "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')")


def build(root: Path) -> Path:
    folder = root / "评价"
    ev.new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    rubric = ev.evaluation_rubric(folder)
    levels = platform_levels(rubric, 7)
    for i, record in enumerate(ev.load_issued(folder)):
        fill = simulated_fill(rubric, levels, i, sign_name=record.name, sign_date=date(2026, 6, 18),
                              saved_at=datetime(2026, 6, 18, 15, 0) + timedelta(minutes=7 * i))
        (folder / ev.INBOX_DIR / Path(record.file).name).write_bytes(
            fill_workbook((folder / record.file).read_bytes(), rubric, fill))
    return folder


def cpu_of(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    heavy = next((line[6:] for line in proc.stderr.splitlines() if line.startswith("HEAVY=")), "?")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), heavy


def instructions_of(args: list[str], env: dict[str, str]) -> str:
    """Instructions executed by the command (user space, cachegrind), e.g. ``"1,082 M"``."""
    if shutil.which("valgrind") is None:
        return "valgrind not found"
    proc = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    refs = next((line.split("refs:")[1].strip() for line in proc.stderr.splitlines() if "I   refs:" in line), "")
    return f"{int(refs.replace(',', '')) / 1e6:,.0f} M" if refs else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()
    compileall.compile_dir(str(ROOT / "qi_excel"), quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="qi-bench-cli-") as tmp:
        source = build(Path(tmp))
        collect_runs, status_runs = [], []
        heavy_collect = heavy_status = ""
        for i in range(args.runs):
            folder = Path(shutil.copytree(source, Path(tmp) / f"run{i}"))
            cpu, heavy_collect = cpu_of(["collect", str(folder)], env)
            collect_runs.append(cpu)
            cpu, heavy_status = cpu_of(["status", str(folder)], env)
            status_runs.append(cpu)
        bare, _ = cpu_of(["--version"], env)
        counts = {}
        if args.instructions:
            folder = Path(shutil.copytree(source, Path(tmp) / "counted"))
            counts = {"collect": instructions_of(["collect", str(folder)], env),
                      "status": instructions_of(["status", str(folder)], env),
                      "version": instructions_of(["--version"], env)}
    rows = [
        ("qi-excel collect (7 returns in 收件箱), fresh process", f"{min(collect_runs):.3f} s",
         f"≤ {TARGET_COLLECT_S} s", "yes" if min(collect_runs) <= TARGET_COLLECT_S else "no", heavy_collect or "—"),
        ("qi-excel status, fresh process", f"{min(status_runs):.3f} s",
         f"≤ {TARGET_STATUS_S} s", "yes" if min(status_runs) <= TARGET_STATUS_S else "no", heavy_status or "—"),
        ("qi-excel --version (interpreter + click)", f"{bare:.3f} s", "—", "", "—"),
    ]
    for key, value in machine():
        print(f"- {key}: {value}")
    header = ["command", "CPU (best)", "target", "met", "heavy imports"]
    if counts:
        header.append("instructions")
        rows = [(*row, count) for row, count in zip(rows, counts.values())]
    print_table(header, rows)


if __name__ == "__main__":
    main()
