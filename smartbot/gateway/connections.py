"""Hosting the channels in connect mode: one holder per channel in the whole deployment.

Every process that serves (gunicorn workers, `smartbot worker`) runs a `ConnectionHost`, with one
supervisor thread per connect-mode channel. A channel is held by the one process that has both
- the channel's server lock (an flock beside the database, as the monitors use): one process per
  server tries for the lease, the others wait without touching the database, and
- the channel's lease row (`channel_leases`): one process per deployment, across nodes. The row has
  an expiry, renewed well inside `[channels] takeover_seconds`, and a fencing token that grows at
  every change of holder; every write of the holder (renewal, cursor, state) is conditional on its
  token, so a holder that lost the lease cannot write over its successor.

A holder that dies (kill -9) leaves its flock (released by the kernel) and its row: a process on
the same host sees the holder's pid is gone and takes the row at once, a process on another node
when the row expires. A holder stops its connector before its own view of the lease runs out, and
tells the connector how long it may block (`Link.time_left`), so that two holders never overlap.

The holder runs the connector on a thread of its own: `prepare()` once, then `run(link)` again and
again with jittered backoff. What arrives goes through `Ingest.accept`, the webhook path's own store
and hand-off, so the inbox's unique key drops what was delivered twice.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from ..channels.base import connects
from ..channels.connect.base import Connector
from ..channels.connect.registry import connector_class
from ..errors import StorageUnavailable
from ..i18n import t
from ..messages import InboundMessage
from ..storage.db import Database
from ..storage.liveness import owner_is_dead
from ..telemetry import metrics
from .ingest import Ingest

log = logging.getLogger(__name__)

TABLE = "channel_leases"
MAX_CURSOR_BYTES = 16_384
MAX_STATE = 300
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
STEADY_RUN_SECONDS = 30.0        # a run that lasted this long starts the backoff over
_GET = sa.text("SELECT holder, token, expires_at FROM channel_leases WHERE channel = :channel")
_CREATE = sa.text("INSERT INTO channel_leases (channel, holder, token, expires_at, cursor, connected, state, "
                  "changed_at, last_event_at, reconnects) VALUES (:channel, :holder, 1, :expires, '{}', :no, '', "
                  ":now, 0, 0) ON CONFLICT DO NOTHING")
_TAKE = sa.text("UPDATE channel_leases SET holder = :holder, token = token + 1, expires_at = :expires, "
                "connected = :no, state = '', changed_at = :now, reconnects = 0 "
                "WHERE channel = :channel AND token = :token")
_RENEW = sa.text("UPDATE channel_leases SET expires_at = :expires, connected = :connected, state = :state, "
                 "changed_at = :changed, last_event_at = :event, reconnects = :reconnects "
                 "WHERE channel = :channel AND holder = :holder AND token = :token")
_RELEASE = sa.text("UPDATE channel_leases SET expires_at = 0, connected = :no, state = :state, changed_at = :now "
                   "WHERE channel = :channel AND holder = :holder AND token = :token")
_CURSOR = sa.text("SELECT cursor FROM channel_leases WHERE channel = :channel")
_SAVE_CURSOR = sa.text("UPDATE channel_leases SET cursor = :cursor "
                       "WHERE channel = :channel AND holder = :holder AND token = :token")
_ALL = sa.text("SELECT channel, holder, expires_at, connected, state, changed_at, last_event_at, reconnects "
               "FROM channel_leases ORDER BY channel")


@dataclass(frozen=True)
class Timing:
    """Derived from `takeover_seconds`: the row's lifetime, how often the holder renews it and how
    often the others look. A dead holder's row expires within `ttl`; a look follows within `check`."""

    takeover: float

    @property
    def ttl(self) -> float:
        return self.takeover * 0.8

    @property
    def renew(self) -> float:
        return self.takeover / 6

    @property
    def check(self) -> float:
        return max(0.1, self.takeover / 10)

    @property
    def margin(self) -> float:
        """How much earlier than the row's expiry the holder gives up its connection."""
        return self.takeover / 10


class Leases:
    """The `channel_leases` rows: take, renew, release, the cursor, and the states for ops."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def take(self, channel: str, holder: str, ttl: float) -> int | None:
        """The new fencing token when `holder` now holds `channel`; None while someone else does."""
        now = time.time()
        params = {"channel": channel, "holder": holder, "expires": now + ttl, "now": now, "no": False}
        with self.db.write() as conn:
            row = conn.execute(_GET, params).first()
            if row is None:
                return 1 if conn.execute(_CREATE, params).rowcount == 1 else None
            if row.holder != holder and row.expires_at > now and not owner_is_dead(row.holder):
                return None
            taken = conn.execute(_TAKE, {**params, "token": row.token}).rowcount == 1
        if taken and row.holder and row.holder != holder:
            log.info("took over the %s connection from %s", channel, row.holder)
        return row.token + 1 if taken else None

    def renew(self, channel: str, holder: str, token: int, ttl: float, state: dict[str, Any]) -> bool:
        params = {"channel": channel, "holder": holder, "token": token, "expires": time.time() + ttl, **state}
        with self.db.write() as conn:
            return conn.execute(_RENEW, params).rowcount == 1

    def release(self, channel: str, holder: str, token: int, why: str) -> None:
        """Let another process take the channel at once (a clean stop)."""
        try:
            with self.db.write() as conn:
                conn.execute(_RELEASE, {"channel": channel, "holder": holder, "token": token, "no": False,
                                        "state": why[:MAX_STATE], "now": time.time()})
        except Exception as exc:
            log.warning("could not release the %s connection (%s); it expires instead", channel, type(exc).__name__)

    def cursor(self, channel: str) -> dict[str, Any]:
        with self.db.read() as conn:
            text = conn.execute(_CURSOR, {"channel": channel}).scalar()
        try:
            value = json.loads(text or "{}")
        except ValueError:
            log.error("the saved %s cursor is not JSON; starting from the platform's own position", channel)
            return {}
        return value if isinstance(value, dict) else {}

    def save_cursor(self, channel: str, holder: str, token: int, cursor: dict[str, Any]) -> bool:
        text = json.dumps(cursor, separators=(",", ":"), sort_keys=True)
        if len(text) > MAX_CURSOR_BYTES:
            raise ValueError(f"a cursor of {len(text)} bytes is more than the {MAX_CURSOR_BYTES} kept")
        with self.db.write() as conn:
            return conn.execute(_SAVE_CURSOR, {"channel": channel, "holder": holder, "token": token,
                                               "cursor": text}).rowcount == 1


def states(db: Database) -> dict[str, dict[str, Any]]:
    """Each channel's connection as its row says, for /readyz, the dashboard and /metrics. `held`:
    a live holder renews it; `up`: held and connected."""
    now = time.time()
    with db.read() as conn:
        rows = conn.execute(_ALL).all()
    out = {}
    for row in rows:
        held = bool(row.holder) and row.expires_at > now
        out[row.channel] = {"held": held, "up": held and bool(row.connected), "holder": row.holder if held else "",
                            "state": row.state, "since_seconds": max(0.0, now - row.changed_at),
                            "last_event_seconds": max(0.0, now - row.last_event_at) if row.last_event_at else None,
                            "reconnects": row.reconnects}
    return out


class _Link:
    """What one holding of one channel offers its connector (channels/connect/base.py's `Link`)."""

    def __init__(self, holding: "_Holding") -> None:
        self._holding = holding

    def store(self, messages: list[InboundMessage]) -> int:
        fresh = 0
        for msg in messages:
            if not self._holding.host.ingest.accept(msg).duplicate:
                fresh += 1
        if messages:
            metrics.count("connection_messages_total", len(messages), channel=self._holding.channel)
        return fresh

    def refuse(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        channel = self._holding.channel
        reason = str(reason)[:80] or "refused"
        metrics.count("connection_refused_total", channel=channel, reason=reason)
        details = {"reason": reason, **{str(k)[:40]: str(v)[:200] for k, v in (detail or {}).items()}}
        log.info("%s connection: dropped a frame (%s)", channel, details)
        self._holding.host.ingest.refusals.record("connection.refused", f"connect:{channel}",
                                                  f"channel:{channel}", reason, details)

    def connected(self, detail: str = "") -> None:
        self._holding.set_state(True, detail or "connected")

    def disconnected(self, reason: str) -> None:
        self._holding.set_state(False, reason)

    def event_seen(self) -> None:
        self._holding.last_event_at = time.time()

    def cursor(self) -> dict[str, Any]:
        return self._holding.host.leases.cursor(self._holding.channel)

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        h = self._holding
        if not h.host.leases.save_cursor(h.channel, h.host.owner, h.token, cursor):
            h.lose("the lease went to another process before the cursor was saved")
            raise StorageUnavailable("this process no longer holds the connection")

    def stopping(self) -> bool:
        return self._holding.stopping()

    def wait(self, seconds: float) -> bool:
        """Sleeping holds no connection, so it may outlast the hold (a rate limit's wait); losing the
        hold wakes it."""
        self._holding.stop.wait(max(0.0, seconds))
        return self.stopping()

    def time_left(self) -> float:
        return self._holding.time_left()


class _Holding:
    """One process's holding of one channel: from taking the lease to losing or releasing it."""

    def __init__(self, host: "ConnectionHost", channel: str, connector: Connector, token: int) -> None:
        self.host = host
        self.channel = channel
        self.connector = connector
        self.token = token
        self.stop = threading.Event()
        self.deadline = time.monotonic() + host.timing.ttl - host.timing.margin
        self.up = False
        self.state = "connecting"
        self.changed_at = time.time()
        self.last_event_at = 0.0
        self.reconnects = 0
        self.alerted: bool | None = None      # None: unknown (a previous holder may have raised it)
        self.changed = threading.Event()
        self.thread = threading.Thread(target=self._serve, name=f"smartbot-connect-{channel}", daemon=True)

    def stopping(self) -> bool:
        return self.stop.is_set() or time.monotonic() >= self.deadline

    def time_left(self) -> float:
        return 0.0 if self.stop.is_set() else max(0.0, self.deadline - time.monotonic())

    def set_state(self, up: bool, detail: str) -> None:
        if up != self.up:
            self.changed_at = time.time()
            metrics.gauge("connection_up_here", 1.0 if up else 0.0, mode="livesum", channel=self.channel)
            log.info("%s connection %s%s", self.channel, "up" if up else "down", f": {detail}" if detail else "")
        self.up, self.state = up, detail[:MAX_STATE]
        self.changed.set()

    def lose(self, why: str) -> None:
        if not self.stop.is_set():
            log.warning("%s connection: stopping (%s)", self.channel, why)
        self.stop.set()
        try:
            self.connector.close()
        except Exception:
            log.exception("closing the %s connector failed", self.channel)

    def renewed_at(self, started: float) -> None:
        self.deadline = started + self.host.timing.ttl - self.host.timing.margin

    def row_state(self) -> dict[str, Any]:
        return {"connected": self.up, "state": self.state, "changed": self.changed_at, "event": self.last_event_at,
                "reconnects": self.reconnects}

    def _serve(self) -> None:
        """prepare() once, then run() until the holding ends, reconnecting with jittered backoff."""
        link, failures, prepared = _Link(self), 0, False
        while not self.stopping():
            started = time.monotonic()
            try:
                if not prepared:
                    self.connector.prepare()
                    prepared = True
                self.connector.run(link)
                reason = "the connection ended"
            except StorageUnavailable as exc:
                reason = f"could not store: {exc.reason}"
            except Exception as exc:
                reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("%s connection failed: %s", self.channel, reason, exc_info=log.isEnabledFor(logging.DEBUG))
            if self.stopping():
                break
            self.set_state(False, reason)
            self.reconnects += 1
            metrics.count("connection_reconnects_total", channel=self.channel)
            failures = 0 if time.monotonic() - started > STEADY_RUN_SECONDS else failures + 1
            link.wait(backoff(failures))
        self.set_state(False, "stopped")


def backoff(failures: int) -> float:
    """Seconds before the next attempt: doubling from BACKOFF_FIRST up to BACKOFF_MAX, with jitter
    (half to all of it), so that many processes reconnecting after one outage spread out."""
    if failures <= 0:
        return BACKOFF_FIRST * random.uniform(0.5, 1.0)
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)


class ConnectionHost:
    """The connect-mode channels of this process's settings, each tried for and, when held, served.

    `lock_for(channel)` gives the channel's server lock (an object with `held()` and `release()`);
    `alerts` has `raise_alert(key, text)` and `resolve_alert(key, text)`; a connection down for
    `down_after` seconds raises one, and coming back resolves it.
    """

    def __init__(self, db: Database, channels: dict[str, Any], ingest: Ingest, owner: str, takeover_seconds: float,
                 lock_for: Callable[[str], Any], alerts: Any, down_after: float, locale: str) -> None:
        self.db = db
        self.ingest = ingest
        self.owner = owner
        self.timing = Timing(takeover_seconds)
        self.leases = Leases(db)
        self.alerts = alerts
        self.down_after = down_after
        self.locale = locale
        self.channels = {name: channel for name, channel in channels.items() if connects(channel.config)}
        # Webhook-mode channels whose settings give the webhook's URL (Telegram): registered at start.
        self._webhook_urls = {name: channel for name, channel in channels.items()
                              if name not in self.channels and getattr(channel.config, "webhook_url", "")}
        self._lock_for = lock_for
        self._locks: dict[str, Any] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.holdings: dict[str, _Holding] = {}

    def webhook_refusal(self, channel: str) -> str:
        """Why the webhook of `channel` is refused here ("" when it is not): connect mode."""
        if channel in self.channels:
            return (f"channel {channel} is in connect mode: its events arrive over the connection SmartBot "
                    f"opens, not this webhook (set [channels.{channel}] mode = \"webhook\" to use it)")
        return ""

    def start(self) -> None:
        if self._threads:
            return
        self._stop = threading.Event()
        for name in sorted(self._webhook_urls):
            thread = threading.Thread(target=self._register_webhook, args=(name,), name=f"smartbot-webhook-{name}",
                                      daemon=True)
            thread.start()
        for name in sorted(self.channels):
            thread = threading.Thread(target=self._supervise, args=(name,), name=f"smartbot-hold-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every connector this process runs and release its leases, so another takes over now."""
        self._stop.set()
        for holding in list(self.holdings.values()):
            holding.lose("shutting down")
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = []
        for lock in self._locks.values():
            lock.release()

    def _register_webhook(self, channel: str) -> None:
        """Switching back from connect mode needs only a restart: one process per server tells the
        platform the webhook's URL again."""
        lock = self._lock_for(channel)
        try:
            if lock.held():
                connector = connector_class(channel)(self._webhook_urls[channel])
                try:
                    connector.register_webhook()
                finally:
                    connector.close()
        except Exception as exc:
            log.warning("could not register the %s webhook (%s); register it by hand", channel,
                        getattr(exc, "reason", type(exc).__name__))
        finally:
            lock.release()

    def _supervise(self, channel: str) -> None:
        lock = self._locks.setdefault(channel, self._lock_for(channel))
        while not self._stop.is_set():
            holding = self.holdings.get(channel)
            try:
                if holding is None:
                    if lock.held():
                        self._try_take(channel)
                    self._stop.wait(self.timing.check)
                else:
                    self._keep(holding)
            except Exception:
                log.exception("the %s connection's supervisor failed; trying again", channel)
                self._stop.wait(self.timing.check)
        holding = self.holdings.pop(channel, None)
        if holding is not None:
            holding.lose("shutting down")
            holding.thread.join(5.0)
            self.leases.release(channel, self.owner, holding.token, "released at shutdown")

    def _try_take(self, channel: str) -> None:
        started = time.monotonic()
        token = self.leases.take(channel, self.owner, self.timing.ttl)
        if token is None:
            return
        connector = connector_class(channel)(self.channels[channel])
        holding = _Holding(self, channel, connector, token)
        holding.renewed_at(started)
        self.holdings[channel] = holding
        log.info("this process holds the %s connection (token %d)", channel, token)
        holding.thread.start()

    def _keep(self, holding: _Holding) -> None:
        """Renew the lease (ending the holding when that fails past its deadline), raise or resolve the
        connection's alert, and wait for the next renewal or a change of state."""
        holding.changed.clear()
        started = time.monotonic()
        try:
            renewed = self.leases.renew(holding.channel, self.owner, holding.token, self.timing.ttl,
                                        holding.row_state())
        except Exception as exc:
            log.warning("could not renew the %s lease (%s)", holding.channel, type(exc).__name__)
            renewed = None
        if renewed:
            holding.renewed_at(started)
        if renewed is False or holding.stopping() or not holding.thread.is_alive():
            self._end(holding, "the lease went to another process" if renewed is False else "the lease ran out")
            return
        self._alert(holding)
        holding.changed.wait(self.timing.renew)

    def _end(self, holding: _Holding, why: str) -> None:
        holding.lose(why)
        holding.thread.join(max(1.0, self.timing.renew))
        self.holdings.pop(holding.channel, None)
        metrics.gauge("connection_up_here", 0.0, mode="livesum", channel=holding.channel)

    def _alert(self, holding: _Holding) -> None:
        key = f"connection:{holding.channel}"
        if holding.up and holding.alerted is not False:
            self.alerts.resolve_alert(key, t("alert.connection_up", self.locale, channel=holding.channel))
            holding.alerted = False
        elif not holding.up and holding.alerted is not True and time.time() - holding.changed_at >= self.down_after:
            self.alerts.raise_alert(key, t("alert.connection_down", self.locale, channel=holding.channel,
                                           reason=holding.state))
            holding.alerted = True
