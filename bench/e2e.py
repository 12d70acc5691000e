"""End to end: signed webhook in -> reply received at the fake platform, zero-latency fake model.

    python bench/e2e.py [--rate 100] [--seconds 10]

Open-loop load (a message every 1/rate seconds, whatever the answers do) from an asyncio client
in this process over keep-alive connections; the fake model and the fake platform answer from
their own process (bench/loopback_fakes.py), so neither the client nor the fakes queue behind
each other's GIL. The latency of a message is the time from sending its webhook to its reply
arriving at the platform (both wall clock, one machine).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from loopback_fakes import LoopbackFakes  # noqa: E402
from tests.support.signing import generic_request  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _raw_request(host: str, path: str, i: int) -> tuple[str, bytes]:
    event = f"e2e-{i}"
    body, headers = generic_request(common.SECRET, {"event_id": event, "chat_id": f"chat-{i % 50}",
                                                    "user_id": f"user-{i % 50}", "text": f"hi {i}"})
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return event, f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def _read_status(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def open_loop(host: str, port: int, rate: float, total: int) -> tuple[dict[str, float], int]:
    """Send `total` webhooks at `rate`/s; returns {event id: send time} and the count of non-200 acks."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    sent: dict[str, float] = {}
    failed = 0

    async def one(i: int) -> None:
        nonlocal failed
        event, raw = _raw_request(f"{host}:{port}", "/webhooks/generic", i)
        sent[event] = time.time()
        # a kept-alive connection the server has closed meanwhile (gunicorn's keep-alive is 5 s)
        # fails before any answer: the request is sent again on a new one, as HTTP clients do
        for reused in (bool(idle), False):
            conn = idle.pop() if reused else await asyncio.open_connection(host, port)
            conn[1].write(raw)
            try:
                status = await _read_status(conn[0])
            except (asyncio.IncompleteReadError, ConnectionError):
                conn[1].close()
                if reused:
                    continue
                failed += 1
                return
            failed += status != 200
            idle.append(conn)
            return

    tasks = []
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return sent, failed


def measure(rate: float, seconds: float) -> dict[str, float]:
    """Open-loop load at `rate` messages/s for `seconds`; latency percentiles in ms and counts."""
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    work = Path(tempfile.mkdtemp(prefix="smartbot-e2e-"))
    fakes = LoopbackFakes()
    cfg = common.smartbot_config(work, fakes.hook_url, {**common.EXTRA, "providers": [
        {"name": "fake", "kind": "openai", "base_url": fakes.model_base_url, "model": "fake"}]})
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
    total = int(rate * seconds)
    try:
        host, port = bot.url.removeprefix("http://").rsplit(":", 1)
        sent, failed = asyncio.run(open_loop(host, int(port), rate, total))
        deadline = time.monotonic() + 30
        received = fakes.received()
        while len(received) < total and time.monotonic() < deadline:
            time.sleep(0.1)
            received = fakes.received()
        calls = fakes.calls()
    finally:
        bot.stop()
        fakes.stop()
    arrivals = dict(received)
    latencies = [(arrivals[event] - t0) * 1000 for event, t0 in sent.items() if event in arrivals]
    return {"messages": total, "replied": len(latencies), "model_calls": calls, "refused": failed,
            "p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9), "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=float("nan")),
            "mean": statistics.mean(latencies) if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    r = measure(args.rate, args.seconds)
    if args.json:
        print(json.dumps(r))
        return
    print(f"messages {r['messages']}, replied {r['replied']}, model calls {r['model_calls']}, "
          f"webhooks refused {r['refused']}")
    print(f"end-to-end ms: p50 {r['p50']:.1f}  p90 {r['p90']:.1f}  p99 {r['p99']:.1f}  max {r['max']:.1f}  "
          f"mean {r['mean']:.1f}")


if __name__ == "__main__":
    main()
