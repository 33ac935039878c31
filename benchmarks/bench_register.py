"""Time ``qi-excel register`` over many evaluation folders (target: 200 folders in under 5 s).

Builds one sample evaluation taken to 已出报告 (issue, 7 returns, collect, consolidate, report)
and a second one at 回收中, copies them into 200 folders under a temporary root (plus one
broken folder), then times ``build_register`` and ``write_register`` on one core.

Run from the repository root (not part of the test suite; nothing is asserted):
    python benchmarks/bench_register.py [--folders 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from _common import best_of, pin_one_core, print_table

from qi_excel import evaluation as ev
from qi_excel.collect import collect
from qi_excel.consolidation_step import consolidate_folder
from qi_excel.documents import write_report
from qi_excel.register import build_register, write_register
from qi_excel.simulate import fill_workbook, platform_levels, simulated_fill
from qi_excel.workbook import issue_workbooks

TARGET_S = 5.0


def _evaluation(folder: Path, returns: int, finish: bool) -> None:
    ev.new_evaluation(folder, sample=True)
    issue_workbooks(folder)
    rubric = ev.evaluation_rubric(folder)
    levels = platform_levels(rubric, 1)
    for i, rec in enumerate(ev.load_issued(folder)[:returns]):
        fill = simulated_fill(rubric, levels, i, sign_name=rec.name, sign_date=date(2025, 6, 18),
                              saved_at=datetime(2025, 6, 18, 17, i))
        (folder / ev.INBOX_DIR / Path(rec.file).name).write_bytes(
            fill_workbook((folder / rec.file).read_bytes(), rubric, fill))
    collect(folder)
    if finish:
        consolidate_folder(folder)
        write_report(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folders", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(pin_one_core())
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        base = Path(tmp)
        t = time.perf_counter()
        _evaluation(base / "模板-完成", 7, True)
        _evaluation(base / "模板-回收中", 3, False)
        root = base / "root"
        for k in range(args.folders):
            source = base / ("模板-完成" if k % 2 == 0 else "模板-回收中")
            shutil.copytree(source, root / f"{2020 + k % 6}" / f"评价{k:03d}")
        (root / "损坏").mkdir()
        (root / "损坏" / ev.PROJECT_FILE).write_bytes(b"not a workbook")
        print(f"built {args.folders} folders (+1 broken) in {time.perf_counter() - t:.1f} s")
        scan = best_of(lambda: build_register(root), args.repeat)
        full = best_of(lambda: write_register(root, base / "台账.xlsx"), args.repeat)
        reg = build_register(root)
        assert len(reg.entries) == args.folders + 1  # sanity of the benchmark itself, not a timing
        print_table(("step", "seconds", "per folder ms", "target"), [
            ("scan (build_register)", f"{scan:.2f}", f"{scan * 1000 / len(reg.entries):.1f}", ""),
            ("scan + write 评价台账.xlsx", f"{full:.2f}", f"{full * 1000 / len(reg.entries):.1f}",
             f"< {TARGET_S:.0f} s: {'met' if full < TARGET_S else 'MISSED'}"),
        ])


if __name__ == "__main__":
    sys.exit(main())
