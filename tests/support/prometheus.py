"""Reading /metrics in tests with prometheus_client's own parser (a format error raises here)."""
from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fams: dict[str, Any], name: str) -> list[Any]:
    """Every sample called `name` (e.g. `smartbot_replies_total`), whatever family it is in."""
    return [s for f in fams.values() for s in f.samples if s.name == name]
