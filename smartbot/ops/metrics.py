"""Counters and histograms in Prometheus' text format, kept in this process.

`count()` and `observe()` are cheap enough for the webhook path (a dict update under a lock).
"""
from __future__ import annotations

import bisect
import threading
from typing import Iterable

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HELP = {
    "webhook_requests_total": "Webhook requests answered, by channel and outcome.",
    "webhook_refused_total": "Webhook requests refused, by channel and reason.",
    "webhook_seconds": "Time to answer a webhook request.",
    "messages_handled_total": "Messages handled by the workers, by channel and result.",
    "model_calls_total": "Model calls, by provider and result.",
    "replies_total": "Replies delivered or given up, by channel and result.",
}

_lock = threading.Lock()
_counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
_histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted((k, str(v)) for k, v in labels.items()))


def count(name: str, value: float = 1.0, **labels: str) -> None:
    key = _key(name, labels)
    with _lock:
        _counters[key] = _counters.get(key, 0.0) + value


def observe(name: str, seconds: float, **labels: str) -> None:
    key = _key(name, labels)
    with _lock:
        h = _histograms.get(key)
        if h is None:
            h = _histograms[key] = [0.0] * (len(BUCKETS) + 2)   # buckets..., +Inf, sum
        h[bisect.bisect_left(BUCKETS, seconds)] += 1
        h[-1] += seconds


def value(name: str, **labels: str) -> float:
    with _lock:
        return _counters.get(_key(name, labels), 0.0)


def reset() -> None:
    with _lock:
        _counters.clear()
        _histograms.clear()


def _labels(pairs: Iterable[tuple[str, str]], extra: str = "") -> str:
    items = [f'{k}="{_escape(v)}"' for k, v in pairs]
    if extra:
        items.append(extra)
    return "{" + ",".join(items) + "}" if items else ""


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(gauges: dict[str, float] | None = None) -> str:
    lines: list[str] = []
    with _lock:
        counters = dict(_counters)
        histograms = {k: list(v) for k, v in _histograms.items()}
    prefix = "smartbot_"
    for name in sorted({k[0] for k in counters}):
        lines.append(f"# HELP {prefix}{name} {HELP.get(name, name)}")
        lines.append(f"# TYPE {prefix}{name} counter")
        for (n, labels), v in sorted(counters.items()):
            if n == name:
                lines.append(f"{prefix}{name}{_labels(labels)} {v}")
    for name in sorted({k[0] for k in histograms}):
        lines.append(f"# HELP {prefix}{name} {HELP.get(name, name)}")
        lines.append(f"# TYPE {prefix}{name} histogram")
        for (n, labels), h in sorted(histograms.items()):
            if n != name:
                continue
            running = 0.0
            for i, bound in enumerate(BUCKETS):
                running += h[i]
                le = _labels(labels, 'le="%s"' % bound)
                lines.append(f"{prefix}{name}_bucket{le} {running}")
            running += h[len(BUCKETS)]
            le = _labels(labels, 'le="+Inf"')
            lines.append(f"{prefix}{name}_bucket{le} {running}")
            lines.append(f"{prefix}{name}_sum{_labels(labels)} {h[-1]}")
            lines.append(f"{prefix}{name}_count{_labels(labels)} {running}")
    for name, v in sorted((gauges or {}).items()):
        lines.append(f"# TYPE {prefix}{name} gauge")
        lines.append(f"{prefix}{name} {v}")
    return "\n".join(lines) + "\n"
