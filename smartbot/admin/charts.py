"""The geometry of the admin page's charts, drawn as SVG by templates/admin/_charts.html.

Server-side and plain: no script, no library, nothing fetched, so a chart works offline, under the
page's Content-Security-Policy, and reads the same in every browser. Two shapes cover the usage
page: columns over time (stacked when there are several series) and horizontal bars for a ranking.
Every bar carries its exact figure as a tooltip title; the page puts the same numbers in a table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

WIDTH = 720
COLUMNS_HEIGHT = 220
AXIS_WIDTH = 64                 # room for the value labels left of the columns
LABEL_HEIGHT = 26               # room for the day labels under the columns
ROW_HEIGHT = 26
NAME_WIDTH = 190                # room for the names left of the bars
NOTE_WIDTH = 190                # room for the figures right of the bars
MAX_X_LABELS = 10
MAX_TICKS = 5


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: int                 # which series (its colour)
    title: str                  # the exact figure, shown as a tooltip and read by screen readers


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str


@dataclass
class Chart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    ticks: list[Text] = field(default_factory=list)         # value labels and their grid lines
    labels: list[Text] = field(default_factory=list)        # names of columns or rows
    notes: list[Text] = field(default_factory=list)         # figures beside the bars
    grid_from: float = 0.0
    grid_to: float = 0.0

    @property
    def empty(self) -> bool:
        return not any(r.height > 0 and r.width > 0 for r in self.rects)


def axis(largest: float) -> tuple[float, int]:
    """(top, ticks): an axis from 0 to at least `largest` in at most MAX_TICKS even steps of 1, 2 or
    5 times a power of ten, so that every tick is a round number."""
    if largest <= 0:
        return 1.0, MAX_TICKS
    power = 10 ** math.floor(math.log10(largest / MAX_TICKS))
    step = next(s * power for s in (1, 2, 5, 10) if s * power * MAX_TICKS >= largest * (1 - 1e-9))
    ticks = max(1, math.ceil(largest / step - 1e-9))
    return step * ticks, ticks


def columns(names: Sequence[str], series: Sequence[Sequence[float]], titles: Callable[[int, int], str],
            short: Callable[[float], str]) -> Chart:
    """Columns, one per name, each stacking one value per series (`series[s][i]`); `titles(s, i)` is
    the tooltip of series s at column i, `short` formats an axis value."""
    chart = Chart(WIDTH, COLUMNS_HEIGHT)
    plot_height = COLUMNS_HEIGHT - LABEL_HEIGHT - 8
    top, ticks = axis(max((sum(values) for values in zip(*series)), default=0.0))
    slot = (WIDTH - AXIS_WIDTH) / max(1, len(names))
    bar = max(1.0, slot * 0.72)
    chart.grid_from, chart.grid_to = AXIS_WIDTH, WIDTH
    for tick in range(ticks + 1):
        chart.ticks.append(Text(AXIS_WIDTH - 6, round(8 + plot_height * (1 - tick / ticks), 2),
                                short(top * tick / ticks)))
    every = max(1, math.ceil(len(names) / MAX_X_LABELS))
    for i, name in enumerate(names):
        x = AXIS_WIDTH + i * slot + (slot - bar) / 2
        base = 8 + plot_height
        for s, values in enumerate(series):
            height = plot_height * values[i] / top
            base -= height
            chart.rects.append(Rect(round(x, 2), round(base, 2), round(bar, 2), round(height, 2), s, titles(s, i)))
        if i % every == 0:
            chart.labels.append(Text(round(x + bar / 2, 2), COLUMNS_HEIGHT - 8, name))
    return chart


def rows(names: Sequence[str], values: Sequence[float], notes: Sequence[str], titles: Sequence[str],
         last_is_rest: bool = False) -> Chart:
    """Horizontal bars, one per name, as long as its value; `notes` are written beside them. With
    `last_is_rest` the last bar (everything else summed) gets the second colour."""
    chart = Chart(WIDTH, max(1, len(names)) * ROW_HEIGHT + 8)
    top = max(values, default=0.0) or 1.0
    room = WIDTH - NAME_WIDTH - NOTE_WIDTH
    for i, (name, value, note, title) in enumerate(zip(names, values, notes, titles)):
        y = 4 + i * ROW_HEIGHT
        length = room * value / top
        chart.labels.append(Text(NAME_WIDTH - 8, y + ROW_HEIGHT / 2, name))
        rest = last_is_rest and i == len(names) - 1
        chart.rects.append(Rect(NAME_WIDTH, y + 4, round(length, 2), ROW_HEIGHT - 8, 1 if rest else 0, title))
        chart.notes.append(Text(round(NAME_WIDTH + length + 6, 2), y + ROW_HEIGHT / 2, note))
    return chart
