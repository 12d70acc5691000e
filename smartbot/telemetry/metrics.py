"""Counters, histograms and gauges for /metrics, shared by every gunicorn worker of one server.

`count()`, `observe()` and `gauge()` are cheap enough for the webhook path. Under gunicorn each
worker writes its samples to its own memory-mapped file in a folder the master prepared
(prometheus_client's multiprocess mode, switched on per worker by `use_multiprocess()` right after
the fork), and a scrape answered by any worker merges the files of all of them, including workers
that have exited (their counts still happened). Elsewhere (tests, `smartbot worker`) samples stay in
this process. Never put unbounded values (user ids, chat ids, texts) into labels.
"""
from __future__ import annotations

import glob
import struct
import time
import logging
import os
import threading
from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

PREFIX = "smartbot_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
HELP = {
    "webhook_requests_total": "Webhook requests answered, by channel and outcome.",
    "webhook_refused_total": "Webhook requests refused, by channel and reason.",
    "webhook_seconds": "Time to answer a webhook request, by channel.",
    "http_requests_total": "HTTP requests answered, by route, method and status.",
    "http_request_seconds": "Time to answer an HTTP request, by route.",
    "messages_handled_total": "Messages handled by the workers, by channel and result.",
    "message_handle_seconds": "Time from taking a message to storing its outcome, by channel.",
    "replies_total": "Replies delivered or given up, by channel and result.",
    "reply_latency_seconds": "Time from receiving a message to delivering its reply, by channel.",
    "model_calls_total": "Model calls, by provider and result (ok or the failure kind).",
    "model_call_seconds": "Time of one model call attempt, by provider.",
    "model_tokens_total": "Tokens used, by provider and kind (prompt, completion).",
    "model_cache_total": "Model response cache lookups, by result (hit, miss).",
    "process_cpu_seconds_total": "CPU time used by SmartBot's processes.",
    "process_resident_memory_bytes": "Resident memory of each SmartBot process.",
    "worker_threads": "Job worker threads started in each process.",
    "worker_threads_busy": "Job worker threads working a job right now, per process.",
    "worker_threads_max": "Job worker threads a process may start.",
    "alerts_firing": "Alerts firing now (cluster-wide state from the database).",
    "connection_up": "1 when the channel's connection is held and connected (cluster-wide, from the database).",
    "connection_up_here": "1 when this server holds the channel's connection and it is connected.",
    "connection_last_event_age_seconds": "Seconds since the holder of the channel's connection last heard from it.",
    "connection_reconnects_total": "Times a channel's connection was opened again after it ended or failed.",
    "connection_messages_total": "Messages that arrived over a channel's connection (duplicates included).",
    "connection_refused_total": "Frames or updates dropped from a channel's connection as forged or malformed.",
}

_lock = threading.Lock()
_metrics: dict[str, tuple[tuple[str, ...], Any]] = {}
_children: dict[tuple, Any] = {}        # (name, *label items) -> the labelled metric: the hot path's lookup
_registry = CollectorRegistry(auto_describe=False)
_shared_dir: str | None = None
_warned: set[str] = set()


# -- sharing between processes --------------------------------------------------------------
def prepare_shared_dir(directory: str) -> None:
    """Create the folder workers share, emptied of a previous server's files (gunicorn master)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def use_multiprocess(directory: str) -> None:
    """Write this process's samples to `directory` and read everyone's when scraped (a worker,
    right after the fork and before the app is built)."""
    global _shared_dir
    # prometheus_client finds the folder through this variable when it opens its files.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    values.ValueClass = values.MultiProcessValue()
    reset()                       # metrics made before the switch would write nowhere shared
    _shared_dir = directory


def process_exited(pid: int, directory: str) -> None:
    """Forget the live gauges of a worker that exited; its counters stay in the totals."""
    multiprocess.mark_process_dead(pid, directory)


# -- recording --------------------------------------------------------------------------------
def count(name: str, value: float = 1.0, **labels: str) -> None:
    child = _child(Counter, name, labels)
    if child is not None:
        child.inc(value)


def observe(name: str, seconds: float, **labels: str) -> None:
    child = _child(Histogram, name, labels)
    if child is not None:
        child.observe(seconds)


def gauge(name: str, value: float, mode: str = "liveall", **labels: str) -> None:
    """Set a gauge of this process. `mode` says how processes combine: liveall (one series per
    live process, labelled pid), livesum, max, ..."""
    child = _child(Gauge, name, labels, multiprocess_mode=mode)
    if child is not None:
        child.set(value)


def value(name: str, **labels: str) -> float:
    """This process's own value of a counter (0 when never counted)."""
    entry = _metrics.get(name)
    if entry is None or entry[0] != tuple(sorted(labels)):
        return 0.0
    return float(entry[1].labels(**labels)._value.get()) if labels else float(entry[1]._value.get())


def reset() -> None:
    """Forget this process's metrics (single-process tests)."""
    global _registry
    with _lock:
        _metrics.clear()
        _children.clear()
        _registry = CollectorRegistry(auto_describe=False)


def _child(cls: type, name: str, labels: dict[str, str], **kw: Any) -> Any:
    key = (name, *labels.items())
    child = _children.get(key)
    if child is None:
        child = _children[key] = _make_child(cls, name, labels, **kw)
    return child


def _make_child(cls: type, name: str, labels: dict[str, str], **kw: Any) -> Any:
    labelnames = tuple(sorted(labels))
    entry = _metrics.get(name)
    if entry is None:
        with _lock:
            entry = _metrics.get(name)
            if entry is None:
                metric = cls(PREFIX + name, HELP.get(name, name.replace("_", " ")), labelnames,
                             registry=_registry, **({"buckets": BUCKETS} if cls is Histogram else {}), **kw)
                entry = _metrics[name] = (labelnames, metric)
    if entry[0] != labelnames:
        if name not in _warned:
            _warned.add(name)
            log.error("metric %s recorded with labels %s, first declared with %s; sample dropped",
                      name, list(labelnames), list(entry[0]))
        return None
    metric = entry[1]
    return metric.labels(**{k: str(v) for k, v in labels.items()}) if labelnames else metric


# -- exposition -------------------------------------------------------------------------------
class GaugeSet:
    """Gauges computed at scrape time (e.g. from the database), added to what render() shows."""

    def __init__(self) -> None:
        self._families: list[GaugeMetricFamily] = []

    def add(self, name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]],
            labelnames: tuple[str, ...] = ()) -> None:
        family = GaugeMetricFamily(PREFIX + name, help_text, labels=list(labelnames))
        for labels, v in samples:
            family.add_metric([str(labels[k]) for k in labelnames], float(v))
        self._families.append(family)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return list(self._families)


class _Local:
    def collect(self) -> Iterable[Any]:
        return _registry.collect()


_SCRAPE_ATTEMPTS = 5


def render(gauges: dict[str, float] | GaugeSet | None = None) -> str:
    """Prometheus text: every process's counters, histograms and gauges, plus `gauges`."""
    registry = CollectorRegistry(auto_describe=False)
    if _shared_dir is not None:
        multiprocess.MultiProcessCollector(registry, path=_shared_dir)
    else:
        registry.register(_Local())
    if isinstance(gauges, dict):
        plain = GaugeSet()
        for name, v in sorted(gauges.items()):
            plain.add(name, HELP.get(name, name.replace("_", " ")), [({}, v)])
        gauges = plain
    if gauges is not None:
        registry.register(gauges)
    for attempt in range(_SCRAPE_ATTEMPTS):
        try:
            return generate_latest(registry).decode("utf-8")
        except (FileNotFoundError, struct.error):
            # A worker came or went while the shared folder was read: a file listed was removed
            # (an exited worker's live gauges), or a starting worker's was still empty. The next
            # look reads the folder as it is then.
            if attempt == _SCRAPE_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")
