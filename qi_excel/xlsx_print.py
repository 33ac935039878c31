"""Page setup shared by every sheet we write with XlsxWriter: A4, one page wide.

Organizers print these sheets to file or sign them, so each one fits the page width on A4
(paper 9) whatever its length; margins and footers stay with the sheet that needs them.
"""

from __future__ import annotations

from typing import Any

A4 = 9  # XlsxWriter's paper index for A4


def a4_one_page_wide(ws: Any, *, landscape: bool = True, repeat: tuple[int, ...] | None = None) -> None:
    """A4 in the given orientation, scaled to one page wide, with ``repeat`` rows on every page."""
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(A4)
    ws.fit_to_pages(1, 0)
    if repeat is not None:
        ws.repeat_rows(*repeat)
