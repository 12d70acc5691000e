"""Standard five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

Each field takes `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and comma lists; months and
weekdays also take three-letter names, and weekday 7 is Sunday like 0. As in Vixie cron, when both
day-of-month and day-of-week are restricted, a day matching either one fires.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}), ("month", 1, 12, _MONTHS),
           ("day of week", 0, 7, _DAYS))
_SEARCH_YEARS = 5


class CronError(ValueError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]          # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7
        if self.any_day or self.any_weekday:
            return moment.day in self.days and weekday in self.weekdays
        return moment.day in self.days or weekday in self.weekdays

    def next_after(self, ts: float) -> float:
        """The first firing time strictly after `ts` (Unix seconds), as Unix seconds."""
        moment = datetime.fromtimestamp(ts, timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + timedelta(days=366 * _SEARCH_YEARS)
        while moment < limit:
            if moment.month not in self.months:
                moment = (moment.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
            elif moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
            else:
                return moment.timestamp()
        raise CronError(f"{self.expression!r} never fires")


def parse(expression: str) -> Cron:
    parts = expression.split()
    if len(parts) != 5:
        raise CronError("must have five fields: minute hour day-of-month month day-of-week")
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS)]
    weekdays = frozenset(0 if d == 7 else d for d in values[4])
    cron = Cron(expression, values[0], values[1], values[2], values[3], weekdays, parts[2] == "*", parts[4] == "*")
    cron.next_after(0)          # refuses expressions that can never fire, like 30 February
    return cron


def _field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, name, names, 1, high) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _number(a, name, names, low, high), _number(b, name, names, low, high)
            if start > end:
                raise CronError(f"{name}: range {base} runs backwards")
        else:
            start = _number(base, name, names, low, high)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _number(text: str, name: str, names: dict[str, int], low: int, high: int) -> int:
    text = text.strip().lower()
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{name}: {text!r} is not a number" if text else f"{name}: a value is missing")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} is outside {low}-{high}")
    return value
