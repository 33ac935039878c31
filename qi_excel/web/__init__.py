"""``qi-excel ui``: the whole evaluation from a local browser page.

Organizers live in Excel, Word and their mail client; this page gives them the CLI's steps
without a terminal. It is a thin layer over ``qi_excel.Evaluation``: every action calls one
handle method, so what the page does the CLI can do, and the reverse.

Flask is imported only here (and only by the ``ui`` command), so ``qi-excel --help`` stays fast.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
