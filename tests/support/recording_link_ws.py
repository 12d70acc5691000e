"""A stand-in for the gateway's side of a connector (`channels.connect.base.Link`), for testing a
connector alone against a fake platform: it keeps what `store` got (a duplicate event id is a no-op,
as the inbox's unique key makes it), what was refused, the state calls, and runs the connector the
way the gateway does, calling `run` again after it ends until the test stops it. The whole path
(inbox, worker, outbox) is tested under gunicorn in the end-to-end tests."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import pytest

from smartbot.channels.connect.base import Connector
from smartbot.errors import StorageUnavailable
from smartbot.messages import InboundMessage


class RecordingLink:
    def __init__(self) -> None:
        self.stored: list[InboundMessage] = []
        self.refused: list[tuple[str, dict[str, Any] | None]] = []
        self.states: list[tuple[str, str]] = []
        self.events_seen = 0
        self.runs = 0
        self.ended: list[str] = []           # why each run ended
        self.fail_stores = 0                 # the next n stores raise StorageUnavailable
        self.before_store: Callable[[list[InboundMessage]], None] = lambda messages: None
        self._cursor: dict[str, Any] = {}
        self._keys: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- the Link protocol ------------------------------------------------------------------
    def store(self, messages: list[InboundMessage]) -> int:
        self.before_store(messages)
        with self._cv:
            if self.fail_stores:
                self.fail_stores -= 1
                raise StorageUnavailable("the test's database is down")
            new = [m for m in messages if (m.channel, m.event_id) not in self._keys]
            self._keys.update((m.channel, m.event_id) for m in new)
            self.stored.extend(new)
            self._cv.notify_all()
            return len(new)

    def refuse(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        with self._cv:
            self.refused.append((reason, detail))
            self._cv.notify_all()

    def connected(self, detail: str = "") -> None:
        with self._cv:
            self.states.append(("connected", detail))
            self._cv.notify_all()

    def disconnected(self, reason: str) -> None:
        with self._cv:
            self.states.append(("disconnected", reason))

    def event_seen(self) -> None:
        self.events_seen += 1

    def cursor(self) -> dict[str, Any]:
        return dict(self._cursor)

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        self._cursor = dict(cursor)

    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        return self._stop.wait(seconds)

    def time_left(self) -> float:
        return 3600.0

    # -- running a connector as the gateway does --------------------------------------------
    def start(self, connector: Connector) -> RecordingLink:
        def loop() -> None:
            connector.prepare()
            while not self._stop.is_set():
                self.runs += 1
                try:
                    connector.run(self)
                    reason = "returned"
                except Exception as exc:      # the gateway logs it and reconnects after a backoff
                    reason = f"{type(exc).__name__}: {exc}"
                self.ended.append(reason)
                self.disconnected(reason)
                self._stop.wait(0.05)

        self._connector = connector
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._connector.close()
        if self._thread is not None:
            self._thread.join(10)
            assert not self._thread.is_alive(), "the connector did not return after close()"

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.1))
            return True

    def wait_stored(self, count: int, timeout: float = 10.0) -> list[InboundMessage]:
        assert self.wait_for(lambda: len(self.stored) >= count, timeout), f"stored {len(self.stored)} of {count}"
        return list(self.stored)


@pytest.fixture
def link() -> Iterator[RecordingLink]:
    """A RecordingLink, its connector stopped after the test (import the fixture into a test module)."""
    recording = RecordingLink()
    yield recording
    if recording._thread is not None:
        recording.stop()


def serving(fake: Any) -> Iterator[Any]:
    """A fake platform started for a fixture's test and stopped after it."""
    fake.start()
    yield fake
    fake.stop()
