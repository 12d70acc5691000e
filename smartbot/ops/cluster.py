"""What the database says about the whole cluster, for /metrics and /readyz: queue depth and age,
failed replies, firing alerts, and per channel how long ago a message came in and a reply went out
(a channel that looks connected while nothing arrives shows up here).

Read-only queries off the message path; ages are seconds, None when a channel has no record.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..storage.db import Database
from ..gateway import connections, inbox, outbox
from ..telemetry import metrics

RECENT_ROWS = 2000
# Ids grow with time, so the newest rows answer for every busy channel with a short primary-key
# range scan; only a channel missing there (a quiet one) is looked up on its own.
_RECENT_RECEIVED = sa.text(f"SELECT channel, MAX(created_at) FROM inbox WHERE id > "
                           f"(SELECT COALESCE(MAX(id), 0) FROM inbox) - {RECENT_ROWS} GROUP BY channel")
_RECENT_DELIVERED = sa.text(f"SELECT channel, MAX(finished_at) FROM outbox WHERE status = 'done' AND id > "
                            f"(SELECT COALESCE(MAX(id), 0) FROM outbox) - {RECENT_ROWS} GROUP BY channel")
_ONE_RECEIVED = sa.text("SELECT MAX(created_at) FROM inbox WHERE channel = :channel")
_ONE_DELIVERED = sa.text("SELECT MAX(finished_at) FROM outbox WHERE channel = :channel AND status = 'done'")
_FIRING = sa.text("SELECT COUNT(*) FROM alert_state WHERE firing = :yes")


@dataclass
class ClusterView:
    inbox: dict[str, Any]
    outbox: dict[str, Any]
    received_age: dict[str, float] = field(default_factory=dict)
    delivered_age: dict[str, float] = field(default_factory=dict)
    alerts_firing: int = 0
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)    # gateway/connections.states


def read(db: Database, channels: list[str]) -> ClusterView:
    now = time.time()
    view = ClusterView(inbox=inbox.stats(db), outbox=outbox.stats(db))
    with db.read() as conn:
        received = dict(conn.execute(_RECENT_RECEIVED).all())
        delivered = dict(conn.execute(_RECENT_DELIVERED).all())
        for name in channels:
            if name not in received:
                received[name] = conn.execute(_ONE_RECEIVED, {"channel": name}).scalar()
            if name not in delivered:
                delivered[name] = conn.execute(_ONE_DELIVERED, {"channel": name}).scalar()
        view.alerts_firing = int(conn.execute(_FIRING, {"yes": True}).scalar() or 0)
    view.connections = connections.states(db)
    for name in sorted(set(channels) | set(received) | set(delivered)):
        if received.get(name):
            view.received_age[name] = max(0.0, now - received[name])
        if delivered.get(name):
            view.delivered_age[name] = max(0.0, now - delivered[name])
    return view


def gauges(view: ClusterView) -> metrics.GaugeSet:
    out = metrics.GaugeSet()
    for name, stats in (("inbox", view.inbox), ("outbox", view.outbox)):
        depth = stats["depth"]
        out.add(f"{name}_depth", f"Unfinished rows in the {name}, by status.",
                [({"status": s}, depth.get(s, 0)) for s in ("queued", "leased")], ("status",))
        out.add(f"{name}_oldest_age_seconds", f"Age of the oldest unfinished row in the {name}.",
                [({}, stats["oldest_age"])])
    out.add("outbox_failed", "Replies given up on (kept until purged).", [({}, view.outbox.get("failed", 0))])
    out.add("channel_last_received_age_seconds", "Seconds since the channel's last inbound message.",
            [({"channel": c}, age) for c, age in view.received_age.items()], ("channel",))
    out.add("channel_last_delivered_age_seconds", "Seconds since the channel's last delivered reply.",
            [({"channel": c}, age) for c, age in view.delivered_age.items()], ("channel",))
    out.add("alerts_firing", metrics.HELP["alerts_firing"], [({}, view.alerts_firing)])
    out.add("connection_up", metrics.HELP["connection_up"],
            [({"channel": c}, 1.0 if state["up"] else 0.0) for c, state in view.connections.items()], ("channel",))
    out.add("connection_last_event_age_seconds", metrics.HELP["connection_last_event_age_seconds"],
            [({"channel": c}, state["last_event_seconds"]) for c, state in view.connections.items()
             if state["last_event_seconds"] is not None], ("channel",))
    return out
