"""What every benchmark script shares: the import path, one pinned core, timing, tables.

Benchmarks are run by hand from the repository root (``python benchmarks/<script>.py``);
nothing here is imported by the package or the tests, and no timing is ever asserted.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import unicodedata
from io import BytesIO
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the checkout's qi_excel, whether or not it is installed


def pin_one_core() -> str:
    """Run on one core so figures compare across machines with different core counts."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no os.sched_setaffinity on this platform)"
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    return f"pinned to core {cores[0]}"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` runs: the least disturbed by the rest of the machine."""
    best = float("inf")
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def openpyxl_full_load(files: Sequence[bytes | Path]) -> float:
    """Milliseconds per workbook for ``openpyxl.load_workbook``: the naive way to read a return."""
    from openpyxl import load_workbook

    t = time.perf_counter()
    for f in files:
        load_workbook(f if isinstance(f, Path) else BytesIO(f)).close()
    return (time.perf_counter() - t) * 1000 / max(1, len(files))


def pandas_read_excel(files: Sequence[Path]) -> float | None:
    """Milliseconds per workbook for ``pandas.read_excel`` (all sheets), or None without pandas."""
    try:
        import pandas
    except ImportError:
        return None
    t = time.perf_counter()
    for path in files:
        pandas.read_excel(path, sheet_name=None, header=None)
    return (time.perf_counter() - t) * 1000 / max(1, len(files))


def _width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Print (and return) a Markdown table, so the output can be pasted into RESULTS.md as is."""
    cells = [[str(c) for c in r] for r in (header, *rows)]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        padded = [c + " " * (w - _width(c)) if i == 0 else " " * (w - _width(c)) + c
                  for i, (c, w) in enumerate(zip(row, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    text = "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
    print(text)
    return text


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        ("CPU", model or platform.processor() or platform.machine()),
        ("nproc", str(os.cpu_count())),
        ("Python", platform.python_version()),
        ("OS", platform.platform(terse=True)),
    ]
