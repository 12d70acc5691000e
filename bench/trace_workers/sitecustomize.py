"""Where a worker's slowest requests wait: a tracer loaded into every gunicorn worker of a benchmark.

    BENCH_TRACE_DIR=/tmp/trace PYTHONPATH=$PWD/bench/trace_workers python bench/ingest.py --connections 100

Python imports `sitecustomize` at start-up from PYTHONPATH, so every process the benchmark starts
loads this; it does something only in processes that have BENCH_TRACE_DIR set (the benchmarks pass
their environment to gunicorn). Each process writes `<pid>.txt` there every 5,000 requests:

- per request, from gunicorn's gthread worker: the wait in the thread pool's queue, the handler
  (the whole WSGI call and the response), and the wait until the main thread took the keep-alive
  connection back into its poller (the next request on it waits that long before it is read);
- each garbage collection's pause, by generation (count, total and longest).

Measurement only: it wraps three methods of gunicorn's ThreadWorker and adds a callback to `gc`.
"""
from __future__ import annotations

import gc
import os
import time

_DIR = os.environ.get("BENCH_TRACE_DIR")
_REPORT_EVERY = 5000


def _quantiles(values: list[float]) -> str:
    xs = sorted(values)
    pick = lambda q: xs[min(len(xs) - 1, int(len(xs) * q))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.2f} p90 {pick(0.9):.2f} p99 {pick(0.99):.2f} max {xs[-1] * 1000:.1f} ms"


class _Trace:
    def __init__(self) -> None:
        self.requests: list[tuple[float, float, float]] = []
        self.gc: dict[int, list[float]] = {}
        self._gc_started = 0.0

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        n, total, longest = self.gc.get(info["generation"], (0, 0.0, 0.0))
        pause = time.perf_counter() - self._gc_started
        self.gc[info["generation"]] = (n + 1, total + pause, max(longest, pause))

    def add(self, queued: float, handled: float, taken_back: float) -> None:
        self.requests.append((queued, handled, taken_back))
        if len(self.requests) % _REPORT_EVERY == 0:
            self.write()

    def write(self) -> None:
        lines = [f"requests {len(self.requests)}"]
        for i, name in enumerate(("queue", "handler", "back to poller")):
            lines.append(f"  {name:>15}: {_quantiles([r[i] for r in self.requests])}")
        for gen, (n, total, longest) in sorted(self.gc.items()):
            lines.append(f"  gc gen{gen}: {n} collections, {total * 1000:.0f} ms in all, longest {longest * 1000:.1f} ms")
        with open(os.path.join(_DIR, f"{os.getpid()}.txt"), "w") as fh:
            fh.write("\n".join(lines) + "\n")


def _install() -> None:
    from gunicorn.workers import gthread

    trace = _Trace()
    gc.callbacks.append(trace.on_gc)
    os.register_at_fork(after_in_child=trace.__init__)      # a worker counts from its own start
    worker = gthread.ThreadWorker
    enqueue, handle, finish = worker.enqueue_req, worker.handle, worker.finish_request

    def traced_enqueue(self, conn):  # noqa: ANN001
        conn.bench_queued_at = time.perf_counter()
        return enqueue(self, conn)

    def traced_handle(self, conn):  # noqa: ANN001
        started = time.perf_counter()
        try:
            return handle(self, conn)
        finally:
            conn.bench_times = (conn.bench_queued_at, started, time.perf_counter())

    def traced_finish(self, conn, fs):  # noqa: ANN001
        times = getattr(conn, "bench_times", None)
        if times is not None:
            trace.add(times[1] - times[0], times[2] - times[1], time.perf_counter() - times[2])
        return finish(self, conn, fs)

    worker.enqueue_req, worker.handle, worker.finish_request = traced_enqueue, traced_handle, traced_finish


if _DIR:
    try:
        os.makedirs(_DIR, exist_ok=True)
        _install()
    except ImportError:          # a process without gunicorn (the load generator, the fakes)
        pass
