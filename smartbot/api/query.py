"""Reading query-string parameters with a clear 400 naming the parameter when one is malformed."""
from __future__ import annotations

import math

from flask import request

from .context import ApiError


def number(name: str, default: float | None = None) -> float | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):        # nan passes every comparison; inf fails int()
        raise ApiError(400, f"query parameter {name} must be a finite number", name)
    return value


def integer(name: str, default: int | None = None, minimum: int = 0, maximum: int = 10**9) -> int | None:
    value = number(name, None)
    if value is None:
        return default
    if value != int(value) or not minimum <= value <= maximum:
        raise ApiError(400, f"query parameter {name} must be an integer from {minimum} to {maximum}", name)
    return int(value)


def text(name: str, max_length: int = 200) -> str | None:
    raw = request.args.get(name) or None
    if raw is not None and len(raw) > max_length:
        raise ApiError(400, f"query parameter {name} is longer than {max_length} characters", name)
    return raw
