"""The gateway's side of a connector (`channels.connect.base.Link`), as small as it can be, for
testing a connector alone against a fake platform.

`RecordingLink` keeps what a `Link` is given: stored messages (a second with the same channel and
event id is a duplicate, as the inbox's unique key makes it), refusals, states ("up" / "down") and
the cursor; `fail_next_store` makes `store` raise StorageUnavailable, as a database that is down
would. `start` runs a connector as the gateway's holder does, calling `run` again after it returns or
raises (each ending recorded in `ended`), until `stop`. The whole path (inbox, worker, outbox) is
tested under gunicorn in the end-to-end tests.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest

from smartbot.channels.connect.base import Connector
from smartbot.errors import StorageUnavailable
from smartbot.messages import InboundMessage


class RecordingLink:
    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self.stored: list[InboundMessage] = []
        self.duplicates = 0
        self.refused: list[tuple[str, dict[str, Any]]] = []
        self.states: list[tuple[str, str]] = []
        self.saved: list[dict[str, Any]] = []
        self.events_seen = 0
        self.runs = 0
        self.ended: list[str] = []           # why each run ended: "returned", or the exception
        self.before_store: Callable[[list[InboundMessage]], None] = lambda messages: None
        self._keys: set[tuple[str, str]] = set()
        self._cursor: dict[str, Any] = {}
        self._failing_stores = 0
        self._connector: Connector | None = None
        self._thread: threading.Thread | None = None

    # -- the Link protocol ------------------------------------------------------------------
    def store(self, messages: list[InboundMessage]) -> int:
        self.before_store(messages)
        with self._cv:
            if self._failing_stores:
                self._failing_stores -= 1
                raise StorageUnavailable("the test's database is down")
            new = [m for m in messages if (m.channel, m.event_id) not in self._keys]
            self._keys.update((m.channel, m.event_id) for m in new)
            self.duplicates += len(messages) - len(new)
            self.stored.extend(new)
            self._cv.notify_all()
            return len(new)

    def refuse(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        with self._cv:
            self.refused.append((reason, detail or {}))
            self._cv.notify_all()

    def connected(self, detail: str = "") -> None:
        self._state("up", detail)

    def disconnected(self, reason: str) -> None:
        self._state("down", reason)

    def event_seen(self) -> None:
        self.events_seen += 1

    def cursor(self) -> dict[str, Any]:
        with self._cv:
            return dict(self._cursor)

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        with self._cv:
            self._cursor = dict(cursor)
            self.saved.append(dict(cursor))

    def stopping(self) -> bool:
        return self._stop.is_set()

    def time_left(self) -> float:
        return 0.0 if self.stopping() else 3600.0

    def wait(self, seconds: float) -> bool:
        self._stop.wait(min(seconds, 0.2))      # a test's waits are short; the reason is recorded
        return self.stopping()

    # -- running a connector as the gateway does --------------------------------------------
    def start(self, connector: Connector) -> "RecordingLink":
        def loop() -> None:
            connector.prepare()
            while not self._stop.is_set():
                self.runs += 1
                try:
                    connector.run(self)
                    reason = "returned"
                except Exception as exc:      # the gateway logs it and reconnects after a backoff
                    reason = f"{type(exc).__name__}: {exc}"
                with self._cv:
                    self.ended.append(reason)
                    self._cv.notify_all()
                self._stop.wait(0.05)

        self._connector = connector
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._connector is not None:
            self._connector.close()
        if self._thread is not None:
            self._thread.join(10)
            assert not self._thread.is_alive(), "the connector did not return after close()"

    # -- what a test does -------------------------------------------------------------------
    def fail_next_store(self, count: int = 1) -> None:
        with self._cv:
            self._failing_stores = count

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        with self._cv:
            return bool(self._cv.wait_for(predicate, timeout))

    def wait_stored(self, count: int, timeout: float = 10.0) -> list[InboundMessage]:
        assert self.wait_for(lambda: len(self.stored) >= count, timeout), f"stored {len(self.stored)} of {count}"
        return list(self.stored)

    def wait_refused(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        self.wait_for(lambda: len(self.refused) >= count, timeout)
        return list(self.refused)

    def wait_state(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The details of the first `count` times the connection went `kind` ("up" or "down")."""
        self.wait_for(lambda: len([s for s in self.states if s[0] == kind]) >= count, timeout)
        return [detail for state, detail in self.states if state == kind]

    def _state(self, kind: str, detail: str) -> None:
        with self._cv:
            self.states.append((kind, detail))
            self._cv.notify_all()


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
