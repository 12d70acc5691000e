"""How the operations pages write numbers: counts with thousands separators, costs with four
decimals, and durations in the largest unit that keeps them short ("3 min", "2 h"), in the page's
language. Template filters (`|number`, `|money`, `|duration`), so every page writes them alike."""
from __future__ import annotations

from typing import Any

from jinja2 import pass_context

from ..i18n import t
from .base import bp

UNITS = ((86400, "d"), (3600, "h"), (60, "min"))


def number(value: float) -> str:
    return f"{value:,.0f}"


def money(value: float) -> str:
    return f"{value:,.4f}"


def duration(seconds: float, locale: str) -> str:
    for size, unit in UNITS:
        if seconds >= size:
            return t(f"ops.duration.{unit}", locale, value=f"{seconds / size:.1f}".rstrip("0").rstrip("."))
    return t("ops.duration.s", locale, value=f"{seconds:.1f}".rstrip("0").rstrip("."))


@pass_context
def _duration(context: Any, seconds: float | None) -> str:
    return "—" if seconds is None else duration(seconds, context["locale"])


bp.add_app_template_filter(number, "number")
bp.add_app_template_filter(money, "money")
bp.add_app_template_filter(_duration, "duration")
