"""A burst of generic webhooks sent the way a platform sends them, and the tally of what came back.

A platform retries a delivery until it gets a 2xx, so `Burst` does the same: each message is posted
until it is acknowledged, through connection resets, 5xx and a server that is down for a while.
What the server answered on the way (status codes, connection errors) is counted, so a test can
say "no 500s". `tally()` reads the fake platform afterwards: which messages got a reply, and how
many distinct replies each one got (a retransmission carries the same delivery id and counts once).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import requests

from .signing import generic_request


def message(i: int, chats: int = 20, prefix: str = "burst") -> dict[str, str]:
    """Message number `i` of a burst, spread over `chats` conversations."""
    return {"event_id": f"{prefix}-{i}", "chat_id": f"chat-{i % chats}", "user_id": f"user-{i % chats}",
            "text": f"m{i}"}


@dataclass
class Burst:
    url: str                          # the app's base URL
    secret: str
    messages: list[dict[str, Any]]
    threads: int = 8
    give_up_after: float = 120.0      # a platform stops retrying at some point; so do we
    pace: float = 0.0                 # seconds each sender waits between messages (a burst that lasts)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    acked: list[str] = field(default_factory=list)
    acked_at: dict[str, float] = field(default_factory=dict)    # event_id -> time.time() of its ack
    ack_seconds: list[float] = field(default_factory=list)      # how long each acknowledged POST took
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Burst":
        todo = list(reversed(self.messages))

        def run() -> None:
            session = requests.Session()
            while True:
                with self._lock:
                    if not todo:
                        return
                    payload = todo.pop()
                self._deliver(session, payload)
                time.sleep(self.pace)

        self._workers = [threading.Thread(target=run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def _deliver(self, session: requests.Session, payload: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            body, headers = generic_request(self.secret, payload)
            sent_at = time.perf_counter()
            try:
                status = session.post(self.url + "/webhooks/generic", data=body, headers=headers,
                                      timeout=10).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
                session.close()
            with self._lock:
                self.statuses[status] += 1
                if status == 200:
                    self.acked.append(payload["event_id"])
                    self.acked_at[payload["event_id"]] = time.time()
                    self.ack_seconds.append(time.perf_counter() - sent_at)
                    return
            time.sleep(0.05)

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_acked(self, count: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.acked_count() < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.acked_count() >= count

    def join(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def ack_latency(self) -> str:
        """p50 / p99 / max of the acknowledged POSTs, in milliseconds."""
        with self._lock:
            ordered = sorted(self.ack_seconds)
        if not ordered:
            return "no acks"
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
        return f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"

    def server_errors(self) -> dict[Any, int]:
        """Answers that were neither an ack nor the server being away (a 5xx other than 503, a 4xx)."""
        with self._lock:
            return {s: n for s, n in self.statuses.items()
                    if isinstance(s, int) and s != 200 and s != 503}


@dataclass
class Tally:
    sent: set[str]
    replies: collections.Counter        # reply_to -> deliveries received (retransmissions included)
    delivery_ids: dict[str, set[str]]   # reply_to -> distinct delivery ids

    @property
    def unanswered(self) -> list[str]:
        return sorted(self.sent - set(self.replies))

    @property
    def answered_twice(self) -> dict[str, set[str]]:
        """Messages that got two different replies (not a retransmission of one)."""
        return {e: ids for e, ids in self.delivery_ids.items() if len(ids) > 1}

    @property
    def retransmitted(self) -> int:
        return sum(n - 1 for n in self.replies.values())

    @property
    def unexpected(self) -> list[str]:
        return sorted(set(self.replies) - self.sent)


def tally(received: Iterable[dict[str, Any]], sent: Iterable[str]) -> Tally:
    replies: collections.Counter = collections.Counter()
    ids: dict[str, set[str]] = collections.defaultdict(set)
    for r in received:
        data = r.get("json") or {}
        if data.get("reply_to"):          # alerts and notices answer no message
            replies[data["reply_to"]] += 1
            ids[data["reply_to"]].add(data["event_id"])
    return Tally(set(sent), replies, dict(ids))


def wait_answered(received: Callable[[], list[dict[str, Any]]], sent: Iterable[str], timeout: float) -> Tally:
    """Wait until every message in `sent` has a reply (or the timeout passed); the tally then."""
    sent = set(sent)
    deadline = time.monotonic() + timeout
    while True:
        result = tally(received(), sent)
        if not result.unanswered or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def final_tally(app: Any, platform: Any, sent: Iterable[str]) -> Tally:
    """Stop the app, then count what the platform got. A stop lets every send under way finish (or
    dies with it), so a second reply or alert cannot arrive after the count: waiting for that moment
    instead of a pause that merely hopes to outlast it."""
    app.stop()
    return tally(platform.wait_for(0, 0), sent)
