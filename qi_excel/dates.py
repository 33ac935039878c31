"""Dates and times as people read them: ``2026年12月1日`` and ``2026年12月1日 18:34``.

GB/T 9704 writes dates without zero padding; ISO stamps (``2026-12-01T18:34:00+08:00``) are
for files and JSON, never for a workbook cell, a footer or a console line.
"""

from __future__ import annotations

import datetime
import re

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def day_text(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def human_date(value: str | datetime.date) -> str:
    """The date part of an ISO stamp (or a date) as ``2026年12月1日``; other text unchanged."""
    if isinstance(value, datetime.date):
        return day_text(value)
    m = _ISO.match(value or "")
    if not m:
        return value
    return f"{int(m[1])}年{int(m[2])}月{int(m[3])}日"


def human_time(value: str | datetime.datetime, *, local: bool = True) -> str:
    """An ISO stamp as ``2026年12月1日 18:34`` in the stamp's own wall-clock time.

    With ``local`` an aware stamp is shown in this computer's time zone (the organizer's),
    so a UTC stamp from the collector's ledger reads as the hour the organizer saw.
    """
    if isinstance(value, datetime.datetime):
        when = value
    else:
        try:
            when = datetime.datetime.fromisoformat((value or "").replace("Z", "+00:00"))
        except ValueError:
            return human_date(value) if isinstance(value, str) else str(value)
    if local and when.tzinfo is not None:
        when = when.astimezone()
    return f"{day_text(when.date())} {when.hour:02d}:{when.minute:02d}"
