"""Metrics at a glance: the few numbers an operator looks at first, for the admin page.

Read from what telemetry/metrics.py already records, exactly as a scrape of /metrics would see it
(every gunicorn worker's samples merged, counted since the server started), plus the per-minute
traffic and the queues from the database (cluster-wide). Nothing here records anything.
Latency percentiles are estimated from the histogram's buckets, as Prometheus's
histogram_quantile does: good to a bucket's width, which is what a glance needs.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ..manage import state
from ..telemetry import metrics
from . import queues

P = metrics.PREFIX
HANDLING_ERRORS = ("error", "failed")


@dataclass
class Latency:
    count: int = 0
    mean: float | None = None
    p50: float | None = None
    p95: float | None = None


@dataclass
class ModelCalls:
    provider: str
    calls: int = 0
    errors: dict[str, int] = field(default_factory=dict)      # failure kind -> calls
    mean_seconds: float | None = None
    tokens: int = 0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class Glance:
    figures: dict[str, Any]
    queues: dict[str, dict[str, Any]]
    handled: int
    handled_errors: int
    delivered: int
    delivery_failures: int
    webhooks_refused: int
    reply_latency: Latency
    models: list[ModelCalls]
    cache_hits: int
    cache_lookups: int
    threads_busy: int
    threads_max: int
    memory_bytes: float


Samples = dict[str, list[tuple[dict[str, str], float]]]


def read(db: Any, text: str | None = None) -> Glance:
    """`text`: Prometheus text to read instead of this server's own metrics (tests)."""
    samples = _samples(metrics.render() if text is None else text)

    def total(name: str, result: Any = None) -> int:
        """A counter's sum over its series; only the series whose `result` passes, when given."""
        return int(_sum(samples, name, None if result is None else lambda labels: result(labels.get("result"))))

    return Glance(
        figures=state.figures(db), queues=queues.overview(db),
        handled=total("messages_handled_total"),
        handled_errors=total("messages_handled_total", lambda r: r in HANDLING_ERRORS),
        delivered=total("replies_total", lambda r: r == "delivered"),
        delivery_failures=total("replies_total", lambda r: r != "delivered"),
        webhooks_refused=total("webhook_refused_total"),
        reply_latency=latency(samples, "reply_latency_seconds"),
        models=_models(samples),
        cache_hits=total("model_cache_total", lambda r: r == "hit"), cache_lookups=total("model_cache_total"),
        threads_busy=total("worker_threads_busy"), threads_max=total("worker_threads_max"),
        memory_bytes=_sum(samples, "process_resident_memory_bytes"))


def latency(samples: Samples, name: str, labels: dict[str, str] | None = None) -> Latency:
    """One histogram's count, mean and estimated median and 95th percentile, its series (one per
    channel or provider) merged, or only those whose labels include `labels`."""
    def wanted(have: dict[str, str]) -> bool:
        return all(have.get(k) == v for k, v in (labels or {}).items())

    count = _sum(samples, f"{name}_count", wanted)
    if not count:
        return Latency()
    buckets: dict[float, float] = defaultdict(float)
    for have, value in samples.get(P + f"{name}_bucket", []):
        if wanted(have):
            buckets[float(have["le"])] += value
    edges = sorted(buckets.items())
    return Latency(int(count), _sum(samples, f"{name}_sum", wanted) / count, quantile(0.5, edges),
                   quantile(0.95, edges))


def quantile(q: float, edges: list[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative buckets [(upper bound, count), ...] ending with +Inf:
    linear within the bucket it falls in; the highest finite bound when it falls past them all."""
    if not edges or not edges[-1][1]:
        return None
    rank = q * edges[-1][1]
    lower, below = 0.0, 0.0
    for upper, cumulative in edges:
        if cumulative >= rank:
            if math.isinf(upper):
                return lower
            share = (rank - below) / (cumulative - below) if cumulative > below else 1.0
            return lower + (upper - lower) * share
        lower, below = upper, cumulative
    return lower


def _models(samples: Samples) -> list[ModelCalls]:
    by_provider: dict[str, ModelCalls] = {}
    for labels, value in samples.get(P + "model_calls_total", []):
        entry = by_provider.setdefault(labels.get("provider", ""), ModelCalls(labels.get("provider", "")))
        entry.calls += int(value)
        if labels.get("result") != "ok":
            entry.errors[labels.get("result", "")] = entry.errors.get(labels.get("result", ""), 0) + int(value)
    for name, entry in by_provider.items():
        entry.mean_seconds = latency(samples, "model_call_seconds", {"provider": name}).mean
        entry.tokens = int(_sum(samples, "model_tokens_total", lambda labels: labels.get("provider") == name))
    return sorted(by_provider.values(), key=lambda entry: entry.provider)


def _samples(text: str) -> Samples:
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), float(sample.value)))
    return out


def _sum(samples: Samples, name: str, where: Any = None) -> float:
    return sum(value for labels, value in samples.get(P + name, []) if where is None or where(labels))
