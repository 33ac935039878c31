"""Checking returned workbooks: ms per workbook (read + every check) vs an openpyxl full load.

Target (issue 4): 700 returned workbooks in <= 5 ms each on one core, all checks included.
Run: python benchmarks/bench_collect.py   (timings are printed, never asserted)
``benchmarks/run.py`` times the same step inside the whole flow; this one also reads the corpus.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, best_of, openpyxl_full_load, pin_one_core

sys.path.insert(0, str(ROOT / "tests"))

from qi_excel.checks import check_workbook  # noqa: E402
from qi_excel.evaluation import load_issued, load_project, load_secret, new_evaluation  # noqa: E402
from qi_excel.package import ReadError  # noqa: E402
from qi_excel.returned import read_returned  # noqa: E402
from qi_excel.rubric import shipped_rubric  # noqa: E402
from qi_excel.workbook import issue_workbooks  # noqa: E402
from shared_corpus import CORPUS  # noqa: E402
from xlsx_edit import fill, issued_bytes  # noqa: E402


def main() -> None:
    print(pin_one_core())
    rubric = shipped_rubric()
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "评价"
        new_evaluation(folder, sample=True)
        issue_workbooks(folder)
        secret, (_, panel), issued = load_secret(folder), load_project(folder), load_issued(folder)
        blanks = {e.expert_id: issued_bytes(folder, e.expert_id) for e in panel.experts}
        files: list[bytes] = []
        for i in range(700):
            expert = panel.experts[i % len(panel.experts)]
            scores = {c.id: rng.choice(c.allowed.values()) for c in rubric.score_cells}
            remarks = {c.id: "扣分说明" for c in rubric.score_cells if scores[c.id] < c.max}
            files.append(fill(blanks[expert.expert_id], rubric, scores, remarks=remarks, sign=expert.name))

    def check(data: bytes) -> int:
        rw = read_returned(data, "x.xlsx", rubric=rubric)
        return len(check_workbook(rw, rubric=rubric, evaluation_id=secret.evaluation_id, key=secret.hmac_key,
                                  panel=panel, issued=issued))

    for data in files[:20]:
        check(data)  # warm caches
    found = sum(check(d) for d in files)
    best = best_of(lambda: [check(d) for d in files], 3)
    print(f"read + check, 700 returned workbooks: {best * 1000 / len(files):.2f} ms each "
          f"({best:.2f} s total, {found} findings; target <= 5 ms)")
    print(f"openpyxl full load (baseline, no checks): {openpyxl_full_load(files[:50]):.2f} ms each")

    if CORPUS.is_dir():
        corpus = [p.read_bytes() for p in sorted(CORPUS.glob("*.xlsx"))]
        t = time.perf_counter()
        for d in corpus:
            try:
                read_returned(d, "c.xlsx", rubric=rubric)
            except ReadError:
                pass
        dt = time.perf_counter() - t
        print(f"corpus ({len(corpus)} Excel-made files) read: {dt * 1000 / len(corpus):.2f} ms each ({dt:.2f} s)")


if __name__ == "__main__":
    main()
