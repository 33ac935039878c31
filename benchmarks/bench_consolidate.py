"""Time consolidation: the pure maths and the 汇总表.xlsx writer, for panels of 5..25 experts.

Run from the repository root:
    python3 benchmarks/bench_consolidate.py [--repeat 20]
Prints a table; nothing is asserted (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import pin_one_core, print_table

from qi_excel.consolidate import ExpertSheet, consolidate  # noqa: E402
from qi_excel.rubric import shipped_rubric  # noqa: E402
from qi_excel.summary import render_summary  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(pin_one_core())
    rubric = shipped_rubric()
    rows = []
    for n in (5, 7, 15, 25):
        rng = random.Random(n)
        sheets = [
            ExpertSheet(f"E{k:02d}", f"专家{k}", {c.id: rng.choice(c.allowed.values()) for c in rubric.score_cells},
                        {c.id: "现场查阅资料，记录不完整" for c in rubric.score_cells[::3]},
                        (("完善制度并定期评估", "2.4"),) * 5)
            for k in range(1, n + 1)
        ]
        for method in ("mean", "trimmed", "median"):
            maths, xlsx, size = [], [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                c = consolidate(rubric, sheets, method=method)
                t1 = time.perf_counter()
                data = render_summary(c)
                t2 = time.perf_counter()
                maths.append((t1 - t0) * 1000)
                xlsx.append((t2 - t1) * 1000)
                size = len(data)
            rows.append((n, method, f"{statistics.median(maths):.1f}", f"{statistics.median(xlsx):.1f}", f"{size / 1024:.0f}"))
    print_table(("experts", "method", "maths ms", "xlsx ms", "xlsx KB"), rows)


if __name__ == "__main__":
    main()
