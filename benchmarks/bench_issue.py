"""Time issuing score workbooks: 100 evaluations (panels) of 7 experts each, on one core.

Target: ≤ 10 ms per workbook. Run from the repository root:
    python3 benchmarks/bench_issue.py [--panels 100]
Prints a table; nothing is asserted (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from _common import pin_one_core, print_table

from qi_excel import score_package as P  # noqa: E402
from qi_excel import score_sheet as S  # noqa: E402
from qi_excel import workbook as W  # noqa: E402
from qi_excel.project import KIND_EXPERT  # noqa: E402
from qi_excel.evaluation import new_secret, sample_info, sample_panel  # noqa: E402
from qi_excel.rubric import shipped_rubric  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--panels", type=int, default=100)
    args = parser.parse_args()
    print(pin_one_core())
    rubric = shipped_rubric()
    info = sample_info()
    experts = sample_panel().experts
    issued_at = W.now_iso()

    t0 = time.perf_counter()
    S._template(rubric, KIND_EXPERT)
    template_ms = (time.perf_counter() - t0) * 1000

    # naive: a full XlsxWriter render for every workbook (what caching avoids)
    naive = []
    for i in range(10):
        S._template.cache_clear()
        P._prepared.cache_clear()
        t = time.perf_counter()
        P.render_score_workbook(rubric, info, experts[0], new_secret(), issued_at)
        naive.append((time.perf_counter() - t) * 1000)

    per_panel = []
    per_book = []
    sizes = []
    S._template(rubric, KIND_EXPERT)
    start = time.perf_counter()
    for p in range(args.panels):
        secret = new_secret()  # each evaluation has its own key and password
        panel_info = dataclasses.replace(info, service_name=f"第{p + 1}号县质量基础设施“一站式”服务")
        tp = time.perf_counter()
        for expert in experts:
            tb = time.perf_counter()
            data = P.render_score_workbook(rubric, panel_info, expert, secret, issued_at)
            per_book.append((time.perf_counter() - tb) * 1000)
            sizes.append(len(data))
        per_panel.append((time.perf_counter() - tp) * 1000)
    total_ms = (time.perf_counter() - start) * 1000
    books = args.panels * len(experts)

    rows = [
        ("rubric template (once per process)", f"{template_ms:8.1f} ms"),
        ("naive render per workbook (median of 10)", f"{statistics.median(naive):8.1f} ms"),
        (f"{args.panels} panels × {len(experts)} experts: total", f"{total_ms:8.1f} ms"),
        ("per panel (median)", f"{statistics.median(per_panel):8.2f} ms"),
        ("per workbook (mean, incl. per-panel setup)", f"{total_ms / books:8.2f} ms"),
        ("per workbook (median)", f"{statistics.median(per_book):8.2f} ms"),
        ("per workbook (max)", f"{max(per_book):8.2f} ms"),
        ("workbook size (mean)", f"{statistics.mean(sizes) / 1024:8.1f} KiB"),
        ("target per workbook", "    10.0 ms"),
    ]
    print_table(("measure", "value"), [(name, value.strip()) for name, value in rows])


if __name__ == "__main__":
    main()
