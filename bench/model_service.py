"""Model service figures, in-process, against fake model servers in a separate process.

    python bench/model_service.py [--calls 3000] [--concurrent 1000] [--delay 2.0]

1. Overhead per call: `ModelService.complete()` (breaker, retry loop, metrics, provider request
   and answer translation) against a zero-latency fake OpenAI-compatible server, minus a raw
   `requests` POST of the same body to the same server on a pooled session (the baseline).
   Measured in alternating blocks so drift hits both alike. Target: under 2 ms at p50.
2. Cache-hit latency: the same request on a route with cache_ttl, answered without a call.
3. Concurrency: `--concurrent` calls at once to a fake server that answers after `--delay`
   seconds (2 s); how many were in flight together, whether all completed, and the wall time.
   Target: 1,000 in flight on 2 cores, all completed. Measured twice: the service alone in this
   process, then the whole node (gunicorn, 2 workers, `[jobs] threads` = 1,016) answering
   `--concurrent` signed webhook messages from as many users, replies to a fake platform.
"""
from __future__ import annotations

import argparse
import bisect
import multiprocessing
import os
import resource
import secrets
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import requests  # noqa: E402

from smartbot.errors import ProviderError  # noqa: E402
from smartbot.llm.base import ModelRequest, ProviderSpec  # noqa: E402
from smartbot.llm.service import ModelService  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402
from tests.support.signing import generic_request  # noqa: E402


def serve_fake(delay: float, ports: multiprocessing.Queue) -> None:
    """The fake model server, in its own process so it does not share our GIL."""
    server = FakeModel()
    server.delay = delay
    server.start()
    ports.put(server.base_url)
    threading.Event().wait()


def start_fake(delay: float) -> tuple[multiprocessing.Process, str]:
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue = ctx.Queue()
    proc = ctx.Process(target=serve_fake, args=(delay, ports), daemon=True)
    proc.start()
    return proc, ports.get(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def overhead(base_url: str, calls: int) -> dict[str, float]:
    spec = ProviderSpec(name="fake", kind="openai", base_url=base_url, model="fake-1", max_retries=0)
    service = ModelService({}, pool_size=4)
    request = ModelRequest([{"role": "system", "content": "You are a helpful assistant."},
                            {"role": "user", "content": "What is the capital of France?"}], user="bench")
    payload = service.client(spec).payload(request)            # the very body the service sends
    session = requests.Session()
    url = base_url + "/chat/completions"

    def raw() -> None:
        resp = session.post(url, json=payload, timeout=(5, 30))
        resp.raise_for_status()
        resp.json()

    def via_service() -> None:
        service.complete(request, [spec])

    timed(raw, 200)
    timed(via_service, 200)
    raw_times: list[float] = []
    service_times: list[float] = []
    for _ in range(calls):          # one of each in turn: load from other processes hits both alike
        raw_times += timed(raw, 1)
        service_times += timed(via_service, 1)
    paired = [s - r for s, r in zip(service_times, raw_times)]
    ms = 1000.0
    raw50, svc50 = percentile(raw_times, 0.5) * ms, percentile(service_times, 0.5) * ms
    raw90, svc90 = percentile(raw_times, 0.9) * ms, percentile(service_times, 0.9) * ms
    print(f"zero-latency fake model, {calls} calls each, alternating, sequential, pooled keep-alive connection")
    print(f"  raw HTTP POST (baseline)  p50 {raw50:.3f} ms   p90 {raw90:.3f} ms")
    print(f"  ModelService.complete     p50 {svc50:.3f} ms   p90 {svc90:.3f} ms")
    print(f"  service overhead per call p50 {svc50 - raw50:.3f} ms (difference of the p50s); "
          f"median of paired differences {percentile(paired, 0.5) * ms:.3f} ms   (target: under 2 ms at p50)")
    cache_hits = timed(lambda: service.complete(request, [spec], cache_ttl=300), calls)
    print(f"  cache hit                 p50 {percentile(cache_hits, 0.5) * 1e6:.1f} us  "
          f"p99 {percentile(cache_hits, 0.99) * 1e6:.1f} us  "
          f"(hits {service.cache.hits}, misses {service.cache.misses})")
    session.close()
    service.close()
    return {"raw_p50_ms": raw50, "service_p50_ms": svc50, "overhead_p50_ms": svc50 - raw50,
            "paired_p50_ms": percentile(paired, 0.5) * ms, "cache_hit_p50_us": percentile(cache_hits, 0.5) * 1e6,
            "cache_hit_p99_us": percentile(cache_hits, 0.99) * 1e6}


def service_figures(calls: int) -> dict[str, float]:
    """Overhead per call and cache-hit latency against a zero-latency fake in its own process."""
    fast, fast_url = start_fake(0.0)
    try:
        return overhead(fast_url, calls)
    finally:
        fast.terminate()


def concurrency(base_url: str, concurrent: int, delay: float) -> None:
    spec = ProviderSpec(name="slow", kind="openai", base_url=base_url, model="fake-1", max_retries=0,
                        connect_timeout=30.0, read_timeout=delay + 60, total_timeout=delay + 90)
    service = ModelService({}, pool_size=concurrent)
    threading.stack_size(512 * 1024)
    print(f"{concurrent} concurrent calls to a fake model answering after {delay:.1f} s, one process")
    # The first round opens the connections; the second finds them pooled, as a busy node would.
    for label in ("cold pool (a new connection per call)", "warm pool (connections kept alive)"):
        spans, errors, wall = _round(service, spec, concurrent)
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        in_flight = peak = 0
        for _, step in events:
            in_flight += step
            peak = max(peak, in_flight)
        print(f"  {label}: completed {len(spans)}/{concurrent}, failed {len(errors)}"
              + (f" (first: {errors[0]})" if errors else ""))
        if spans:
            durations = [e - s for s, e in spans]
            spread = max(s for s, _ in spans) - min(s for s, _ in spans)
            print(f"    peak in flight at once {peak}; all started within {spread:.2f} s; wall time {wall:.2f} s; "
                  f"per call p50 {percentile(durations, 0.5):.2f} s, max {max(durations):.2f} s")
    print(f"  client process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    service.close()


def _round(service: ModelService, spec: ProviderSpec, concurrent: int) -> tuple[list, list, float]:
    spans: list[tuple[float, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(concurrent + 1)

    def one(i: int) -> None:
        request = ModelRequest([{"role": "user", "content": f"slow question {i}"}], user=f"u{i}")
        gate.wait()
        started = time.monotonic()
        try:
            service.complete(request, [spec])
        except ProviderError as exc:
            with lock:
                errors.append(f"{exc.kind}: {exc.reason}")
            return
        with lock:
            spans.append((started, time.monotonic()))

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(concurrent)]
    for t in threads:
        t.start()
    started = time.monotonic()
    gate.wait()
    for t in threads:
        t.join()
    return spans, errors, time.monotonic() - started


class TimedFakeModel(FakeModel):
    """Notes when each request arrives: with a fixed answer delay, the requests in flight at a
    moment are those that arrived within the last `delay` seconds."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def _record(self, path, headers, request):  # noqa: ANN001 - the base class's signature
        with self._lock:
            self.arrivals.append(time.monotonic())
        return super()._record(path, headers, request)


def node(concurrent: int, delay: float, workers: int = 2) -> None:
    model, platform = TimedFakeModel().start(), FakePlatform().start()
    model.delay = delay
    work = Path(tempfile.mkdtemp(prefix="smartbot-model-bench-"))
    cfg = common.smartbot_config(work, platform.hook_url, {
        "providers": [{"name": "slow", "kind": "openai", "base_url": model.base_url, "model": "fake-1",
                       "max_retries": 0, "read_timeout": delay + 60, "total_timeout": delay + 90}],
        "server": {"workers": workers},
        # Each process gets threads for all of them: a process works the messages it accepted, and
        # gunicorn's workers do not share incoming connections evenly.
        "jobs": {"threads": concurrent + 16},
        "models": {"health_interval": 0}})
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def send(i: int) -> int:
        body, headers = generic_request(common.SECRET, {"event_id": f"slow-{i}", "chat_id": f"chat-{i}",
                                                        "user_id": f"user-{i}", "text": f"slow question {i}"})
        return session.post(bot.url + "/webhooks/generic", data=body, headers=headers, timeout=30).status_code

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(64) as pool:
            statuses = list(pool.map(send, range(concurrent)))
        accepted = time.monotonic() - started
        platform.wait_for(concurrent, timeout=delay + 120)
        done = time.monotonic() - started
        arrivals = sorted(model.arrivals)
        peak = max((bisect.bisect_right(arrivals, t + delay) - i for i, t in enumerate(arrivals)), default=0)
        print(f"the whole node: gunicorn, {workers} workers x {concurrent + 16} job threads (at most), "
              f"{concurrent} messages from {concurrent} users, model answering after {delay:.1f} s")
        print(f"  webhooks accepted {statuses.count(200)}/{concurrent} in {accepted:.2f} s; model calls "
              f"{model.calls()}; replies delivered {len(platform.received)}/{concurrent} after {done:.2f} s")
        print(f"  peak model calls in flight at once {peak}")
    finally:
        bot.stop()
        model.stop()
        platform.stop()
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--skip-node", action="store_true", help="only the in-process figures")
    args = parser.parse_args()
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.concurrent + 256)), hard))
    service_figures(args.calls)
    slow, slow_url = start_fake(args.delay)
    try:
        concurrency(slow_url, args.concurrent, args.delay)
    finally:
        slow.terminate()
    if not args.skip_node:
        node(args.concurrent, args.delay)


if __name__ == "__main__":
    main()
