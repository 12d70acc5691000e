"""The freshness check every signed callback needs: a decimal timestamp within a window of now.

Refuses rather than crashes on anything odd (non-ASCII digits, absurd lengths that would overflow
a float), so a hostile header is a 401 with a reason, never a 500.
"""
from __future__ import annotations

import time

from ...errors import SignatureError

MAX_DIGITS = 16


def parse(value: object, what: str, per_second: int = 1) -> float:
    """`value` as unix seconds (given in ms with per_second=1000); SignatureError when it is not one."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_DIGITS:
        raise SignatureError(f"{what} must be unix {'milliseconds' if per_second == 1000 else 'seconds'}")
    return int(text) / per_second


def check_window(value: object, window: float, what: str, per_second: int = 1) -> None:
    """SignatureError unless `value` is a timestamp (seconds, or ms with per_second=1000) within `window` s."""
    age = time.time() - parse(value, what, per_second)
    if abs(age) > window:
        raise SignatureError(f"{what} is {age:.0f} s off, outside the {window:.0f} s window")
