"""Hostile returns cost a bounded time (issue 11): seconds per file, printed, never asserted.

Before the bounds, the mail below took over 100 s (Python's header parser is super-linear in
the number of encoded words) and a 17 MB workbook within the size limits 28 s and 1.7 GB.
Run: python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import base64
import io
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _common import ROOT, pin_one_core

sys.path.insert(0, str(ROOT / "tests"))

from qi_excel.collect import collect  # noqa: E402
from qi_excel.evaluation import new_evaluation  # noqa: E402
from qi_excel.package import MAX_FILE_BYTES  # noqa: E402
from qi_excel.rubric import shipped_rubric  # noqa: E402
from qi_excel.workbook import issue_workbooks  # noqa: E402
from xlsx_edit import SCORE_PART, fill, issued_bytes  # noqa: E402


def encoded_word_mail(workbook: bytes, words: int = 100_000) -> bytes:
    name = " ".join("=?utf-8?q?a?=" for _ in range(words))
    body = base64.encodebytes(workbook).decode("ascii")
    return (
        "From: zhoulixin@example.com\r\nTo: organizer@example.cn\r\nSubject: x\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
        f"--BB\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n--BB--\r\n"
    ).encode("ascii")


def big_workbook(workbook: bytes) -> bytes:
    """The workbook with its score sheet grown by varied numbers: within every size limit."""
    rng = random.Random(1)
    src = zipfile.ZipFile(io.BytesIO(workbook))
    sheet = src.read(SCORE_PART).decode("utf-8")
    rows = "".join(f'<row r="{200 + i}"><c r="J{200 + i}"><v>{rng.random()}</v></c></row>' for i in range(560_000))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == SCORE_PART:
                data = sheet.replace("</sheetData>", rows + "</sheetData>").encode("utf-8")
            dst.writestr(info.filename, data)
    data = out.getvalue()
    assert len(data) <= MAX_FILE_BYTES
    return data


def main() -> None:
    print(pin_one_core())
    rubric = shipped_rubric()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "评价"
        new_evaluation(folder, sample=True)
        issue_workbooks(folder)
        good = fill(issued_bytes(folder, "E01"), rubric)
        cases = {
            "mail, attachment name of 100,000 encoded words": ("长名.eml", encoded_word_mail(good)),
            "workbook with a 37 MB score sheet": ("大.xlsx", big_workbook(good)),
        }
        for label, (name, data) in cases.items():
            path = Path(tmp) / name
            path.write_bytes(data)
            t = time.process_time()
            result = collect(folder, [path])
            spent = time.process_time() - t
            f = result.files[0]
            code = f.findings[0].code if f.findings else "-"
            print(f"{label} ({len(data) / 1048576:.1f} MB): {spent:.2f} s CPU, {f.status} ({code})")


if __name__ == "__main__":
    main()
