"""The gateway's side of a connector, as small as it can be, for testing a connector on its own.

`RecordingLink` keeps what a `Link` is given: stored messages (a second with the same event id is a
duplicate, as the inbox's unique key makes it), refusals, states and the cursor. `fail_next_store`
makes `store` raise StorageUnavailable, as a full disk would. `ConnectorThread` calls `run` again
and again like the gateway's holder does, until stopped. The end-to-end tests use the real host
(gateway/connections.py) instead.
"""
from __future__ import annotations

import threading
from typing import Any

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
        self.failures: list[str] = []
        self._cursor: dict[str, Any] = {}
        self._failing_stores = 0

    # -- the Link protocol ------------------------------------------------------------------
    def store(self, messages: list[InboundMessage]) -> int:
        with self._cv:
            if self._failing_stores:
                self._failing_stores -= 1
                raise StorageUnavailable("the test's disk is full")
            fresh = 0
            for msg in messages:
                if any(m.event_id == msg.event_id for m in self.stored):
                    self.duplicates += 1
                else:
                    self.stored.append(msg)
                    fresh += 1
            self._cv.notify_all()
            return fresh

    def refuse(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        with self._cv:
            self.refused.append((reason, detail or {}))
            self._cv.notify_all()

    def connected(self, detail: str = "") -> None:
        self._state("up", detail)

    def disconnected(self, reason: str) -> None:
        self._state("down", reason)

    def event_seen(self) -> None:
        pass

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

    # -- what a test does -------------------------------------------------------------------
    def fail_next_store(self, count: int = 1) -> None:
        with self._cv:
            self._failing_stores = count

    def wait_stored(self, count: int, timeout: float = 10.0) -> list[InboundMessage]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.stored) >= count, timeout)
            return list(self.stored)

    def wait_refused(self, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.refused) >= count, timeout)
            return list(self.refused)

    def wait_state(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The details of the first `count` times the connection went `kind` ("up" or "down")."""
        with self._cv:
            self._cv.wait_for(lambda: len([s for s in self.states if s[0] == kind]) >= count, timeout)
            return [detail for state, detail in self.states if state == kind]

    def _state(self, kind: str, detail: str) -> None:
        with self._cv:
            self.states.append((kind, detail))
            self._cv.notify_all()


class ConnectorThread:
    """Runs a connector as the gateway's holder does: `run` again after it returns or raises."""

    def __init__(self, connector: Connector, link: RecordingLink) -> None:
        self.connector, self.link = connector, link
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "ConnectorThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.link._stop.set()
        self.connector.close()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the connector did not return after close()"

    def _loop(self) -> None:
        while not self.link.stopping():
            try:
                self.connector.run(self.link)
            except Exception as exc:
                self.link.failures.append(f"{type(exc).__name__}: {exc}")
            self.link._stop.wait(0.05)
