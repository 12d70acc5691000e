"""The five-field cron parser: what each field form means, the next firing time in UTC, and clear
errors for expressions that are wrong or can never fire."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from smartbot.workflows.cron import CronError, parse


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _next(expression: str, after: str) -> str:
    return datetime.fromtimestamp(parse(expression).next_after(_at(after)), timezone.utc).strftime("%Y-%m-%d %H:%M %a")


@pytest.mark.parametrize("expression, after, expected", [
    ("* * * * *", "2026-11-30 12:00:30", "2026-11-30 12:01 Mon"),            # strictly after, whole minutes
    ("*/15 * * * *", "2026-11-30 12:15:00", "2026-11-30 12:30 Mon"),
    ("0,30 9-17/4 * * *", "2026-11-30 13:31", "2026-11-30 17:00 Mon"),
    ("0 6 * * mon-fri", "2026-11-28 07:00", "2026-11-30 06:00 Mon"),          # Saturday -> Monday
    ("0 0 * * 7", "2026-11-30 00:00", "2026-12-06 00:00 Sun"),                # 7 is Sunday, like 0
    ("0 0 1 jan *", "2026-11-30 00:00", "2027-01-01 00:00 Fri"),
    ("0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00 Tue"),               # the next leap day
    ("0 12 13 * fri", "2026-11-30 00:00", "2026-12-04 12:00 Fri"),            # either day field matches
    ("30 23 31 * *", "2026-11-01 00:00", "2026-12-31 23:30 Thu"),             # November has no 31st
])
def test_next_firing_time(expression, after, expected):
    assert _next(expression, after) == expected


@pytest.mark.parametrize("expression, reason", [
    ("* * * *", "must have five fields"),
    ("60 * * * *", "minute: 60 is outside 0-59"),
    ("* 24 * * *", "hour: 24 is outside 0-23"),
    ("* * 0 * *", "day of month: 0 is outside 1-31"),
    ("* * * 13 *", "month: 13 is outside 1-12"),
    ("* * * * 8", "day of week: 8 is outside 0-7"),
    ("5-1 * * * *", "minute: range 5-1 runs backwards"),
    ("*/0 * * * *", "minute: 0 is outside 1-59"),
    ("x * * * *", "minute: 'x' is not a number"),
    ("1, * * * *", "minute: a value is missing"),
    ("0 0 30 2 *", "never fires"),
])
def test_bad_expressions_say_what_is_wrong(expression, reason):
    with pytest.raises(CronError) as caught:
        parse(expression)
    assert reason in caught.value.reason
