"""How much text a cell of the score sheet holds: widths, wrapped lines and row heights.

Pure arithmetic on character widths, shared by the rubric's limit check (a criterion must
fit Excel's tallest row), the workbook writers and the reports, so that it sits below all
of them and none has to import a writer to measure text.
"""

from __future__ import annotations

import math
import unicodedata

# Column widths of 评分表 (Excel character units) and body font size. A and B are wide enough
# for every indicator name of table A.1 on one line (longer names break at 和/与/及, see
# label_lines); H is wide enough that a remark of NOTE_CHARS characters needs few lines.
# The total (130) keeps the sheet at 100 % in Excel and WPS and at about 90 % in an office suite
# that measures columns with a wider fallback font, so 10-pt text never prints below 9 pt.
WIDTHS = {"A": 13, "B": 14, "C": 13, "D": 8, "E": 37, "F": 8, "G": 6, "H": 31}
FONT_SIZE = 10
LINE_HEIGHT = 14.0  # points per wrapped line at FONT_SIZE (CJK fonts run taller than Latin)


def text_width(text: str) -> int:
    """Width in Excel character units: CJK and full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WFA" else 1 for ch in text)


def line_count(text: str, width: float) -> int:
    usable = max(width - 1.5, 1)
    return sum(max(1, math.ceil(text_width(part) / usable)) for part in text.split("\n"))


def row_height(lines: int) -> float:
    return round(lines * LINE_HEIGHT + 5, 1)


def column_pixels(width: float) -> int:
    """Excel's on-screen width of a column of ``width`` characters (Calibri 11: 7 px per digit)."""
    return int(width * 7 + 5)


_BREAK_BEFORE = "和与及"


def label_fits(text: str, width: float) -> bool:
    """Whether ``text`` at FONT_SIZE fits one line of a column ``width`` characters wide.

    A Chinese character is one em (FONT_SIZE pt = FONT_SIZE × 4/3 px), a Latin one about a
    digit (7 px); the column is ``width`` × 7 + 5 px less a little padding.
    """
    em = FONT_SIZE * 4 / 3
    needed = sum(em if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in text)
    return needed <= column_pixels(width) - 4


def label_lines(text: str, width: float) -> str:
    """``text`` with a line break where it reads well, if it does not fit on one line.

    A narrow column otherwise wraps a name mid-word ("服务平台建 / 设"); Chinese breaks
    before a conjunction (服务模式总结 / 和推广) keep both halves words.
    """
    if label_fits(text, width):
        return text
    best: tuple[float, int] | None = None
    for i, ch in enumerate(text):
        if ch in _BREAK_BEFORE and 0 < i < len(text) - 1:
            head, tail = text[:i], text[i:]
            if label_fits(head, width) and label_fits(tail, width):
                balance = abs(text_width(head) - text_width(tail))
                if best is None or balance < best[0]:
                    best = (balance, i)
    if best is None:
        return text
    return text[: best[1]] + "\n" + text[best[1]:]
