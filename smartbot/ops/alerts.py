"""Alerts to the admins' chats: one message when a problem starts, one when it is over, per cluster.

`raise_alert(key, text)` and `resolve_alert(key, text)` may be called by every process as often as
it likes: the state lives in the `alert_state` table and a change is a conditional UPDATE, so only
the one caller that flips the state queues the message (through the outbox, delivered and retried
like any reply, in the same transaction as the state change and its audit row). Nothing here
sends directly or raises into its caller: an alert that cannot be stored is logged.
`provider_down(name, reason)` / `provider_up(name)` fit the model service's callbacks.

Two sources may speak for one alert (a provider: its circuit breaker in any worker, and the
monitors' probe): a caller passes when it observed what it reports (`observed_at`, default now),
and an observation older than the alert's last change does not flip it back. Without that, a probe
answer cached while a provider was down re-raised the alert just after the breaker saw it recover.
"""
from __future__ import annotations

import logging
import time
from typing import Collection

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit
from ..settings.sections import Settings
from ..storage.db import Database
from ..errors import ConfigError
from ..gateway import outbox
from ..i18n import t
from ..messages import Reply

log = logging.getLogger(__name__)

MAX_KEY = 200
_FLIP = sa.text("UPDATE alert_state SET firing = :firing, seq = seq + 1, text = :text, changed_at = :now "
                "WHERE key = :key AND firing = :was AND changed_at <= :observed RETURNING seq")
_FIRST = sa.text("INSERT INTO alert_state (key, firing, seq, text, changed_at) VALUES (:key, :firing, 1, :text, :now) "
                 "ON CONFLICT DO NOTHING RETURNING seq")
_FIRING = sa.text("SELECT key, text FROM alert_state WHERE firing = :yes ORDER BY key")


class Alerter:
    def __init__(self, db: Database, settings: Settings, channels: Collection[str]) -> None:
        self.db = db
        self.locale = settings.default_locale
        self.bot_name = settings.bot_name
        self.chats: list[tuple[str, str]] = []
        for i, chat in enumerate(settings.alerts.chats):
            channel, _, chat_id = chat.partition(":")
            if channel not in channels:
                raise ConfigError(f"alerts.chats[{i}]", f"channel {channel!r} is not configured on this server",
                                  f"add [channels.{channel}] or use one of: {', '.join(sorted(channels)) or '(none)'}")
            self.chats.append((channel, chat_id))

    def raise_alert(self, key: str, text: str, observed_at: float | None = None) -> bool:
        """Mark `key` firing; True when this call started the alert (and queued the message)."""
        return self._flip(key[:MAX_KEY], True, text, observed_at)

    def resolve_alert(self, key: str, text: str = "", observed_at: float | None = None) -> bool:
        """Mark `key` resolved; True when this call ended it (and queued the recovery notice)."""
        return self._flip(key[:MAX_KEY], False, text, observed_at)

    def provider_down(self, name: str, reason: str = "") -> bool:
        return self.raise_alert(f"provider:{name}", t("alert.provider_down", self.locale, name=name,
                                                      reason=reason or "?"))

    def provider_up(self, name: str) -> bool:
        return self.resolve_alert(f"provider:{name}", t("alert.provider_up", self.locale, name=name))

    def firing(self) -> dict[str, str]:
        with self.db.read() as conn:
            return {r.key: r.text for r in conn.execute(_FIRING, {"yes": True})}

    def _flip(self, key: str, firing: bool, text: str, observed_at: float | None = None) -> bool:
        try:
            with self.db.write() as conn:
                return self._flip_in(conn, key, firing, text, observed_at)
        except Exception:
            log.exception("could not record the %s of alert %s", "start" if firing else "end", key)
            return False

    def _flip_in(self, conn: Connection, key: str, firing: bool, text: str, observed_at: float | None = None) -> bool:
        now = time.time()
        params = {"key": key, "firing": firing, "was": not firing, "text": text, "now": now,
                  "observed": now if observed_at is None else observed_at}
        seq = conn.execute(_FLIP, params).scalar()
        if seq is None and firing:
            seq = conn.execute(_FIRST, params).scalar()
        if seq is None:
            return False            # already in that state (another process got there first)
        message = t("alert.raised" if firing else "alert.resolved", self.locale, bot_name=self.bot_name,
                    text=text or key)
        for channel, chat_id in self.chats:
            reply = Reply(channel=channel, chat_id=chat_id, text=message)
            outbox.add(conn, [reply], f"alert:{key}:{seq}:{chat_id}"[:300], f"{channel}:{chat_id}")
        audit.record(conn, "alert.raised" if firing else "alert.resolved", "system", key,
                     "firing" if firing else "resolved", {"text": text, "seq": seq, "chats": len(self.chats)})
        log.warning("alert %s %s: %s", key, "raised" if firing else "resolved", text)
        return True
