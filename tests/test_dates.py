"""Dates as people read them (GB/T 9704): no zero padding, no ISO stamps."""

from __future__ import annotations

import datetime

from qi_excel.dates import day_text, human_date, human_time


def test_days_without_zero_padding():
    assert day_text(datetime.date(2026, 12, 1)) == "2026年12月1日"
    assert human_date("2025-06-08T09:05:00+08:00") == "2025年6月8日"
    assert human_date(datetime.date(2025, 1, 2)) == "2025年1月2日"
    assert human_date("现场考察后") == "现场考察后"


def test_times_in_the_stamps_own_or_local_wall_clock():
    assert human_time("2025-06-18T16:30:00+08:00", local=False) == "2025年6月18日 16:30"
    utc = "2025-06-18T08:30:00+00:00"
    local = datetime.datetime.fromisoformat(utc).astimezone()
    assert human_time(utc) == f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    assert human_time("2025-06-18T08:30:00Z", local=False) == "2025年6月18日 08:30"
    assert human_time("不是时间") == "不是时间"
