"""Monitors: thresholds on queue age, error rate, provider reachability, CPU, memory and disk, and
busy channels that fell silent.

Each check produces findings (a key, whether there is a problem, a text). A problem becomes an alert
once it has lasted `raise_after` seconds, and the alert is resolved once it has been gone for
`resolve_after` seconds, so a flapping value is one alert, not many. One process per server
checks (the holder of ops/server_lock.py's lock); the alert state in the database makes it one
alert per cluster (ops/alerts.py). Keys of host checks carry the host name, since every node has
its own CPUs and disks.
"""
from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..storage.db import Database, sqlite_file
from ..gateway import inbox, outbox
from ..i18n import t
from . import host
from .alerts import Alerter
from .probe import ProviderProbe
from .settings import AlertsSettings

log = logging.getLogger(__name__)

HOST = socket.gethostname()
_CHANNEL_COUNT = sa.text("SELECT COUNT(*) FROM inbox WHERE channel = :channel AND created_at >= :since "
                         "AND created_at < :until")
_OUTCOMES = sa.text("SELECT action, result, COUNT(*) AS n FROM audit_log WHERE action IN "
                    "('message.handled', 'message.failed') AND ts >= :since GROUP BY action, result")


@dataclass(frozen=True)
class Finding:
    key: str
    problem: bool
    text: str
    observed_at: float | None = None    # when what it says was seen (None: now)


class Monitors:
    def __init__(self, settings: AlertsSettings, locale: str, db: Database, alerter: Alerter,
                 probe: ProviderProbe, channels: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.channels = channels
        self.locale = locale
        self.db = db
        self.alerter = alerter
        self.probe = probe
        self._data_path = sqlite_file(db.url) or "/"
        self._cpu_before = host.host_cpu_times()
        self._since: dict[str, tuple[bool, float]] = {}

    def check(self, now: float | None = None) -> list[Finding]:
        """Run every monitor once and raise or resolve what has lasted long enough."""
        now = time.time() if now is None else now
        findings: list[Finding] = []
        for monitor in (self._queues, self._errors, self._providers, self._host, self._silent_channels):
            try:
                findings.extend(monitor(now))
            except Exception:   # one broken monitor must not silence the others
                log.exception("monitor %s failed", monitor.__name__)
        firing = self.alerter.firing()
        for finding in findings:
            self._apply(finding, finding.key in firing, now)
        return findings

    def _apply(self, finding: Finding, firing: bool, now: float) -> None:
        state, since = self._since.get(finding.key, (None, now))
        if state is not finding.problem:
            self._since[finding.key] = (finding.problem, now)
            since = now
        lasted = now - since
        if finding.problem and not firing and lasted >= self.settings.raise_after:
            self.alerter.raise_alert(finding.key, finding.text, finding.observed_at)
        elif not finding.problem and firing and lasted >= self.settings.resolve_after:
            self.alerter.resolve_alert(finding.key, finding.text, finding.observed_at)

    # -- the monitors ---------------------------------------------------------------------------
    def _queues(self, now: float) -> list[Finding]:
        limit = self.settings.queue_age_seconds
        if not limit:
            return []
        found = []
        for name, module in (("inbox", inbox), ("outbox", outbox)):
            age = module.stats(self.db)["oldest_age"]
            problem = age > limit
            text = (t("alert.queue_age", self.locale, queue=name, age=round(age), limit=_num(limit)) if problem
                    else t("alert.queue_ok", self.locale, queue=name))
            found.append(Finding(f"queue:{name}", problem, text))
        return found

    def _errors(self, now: float) -> list[Finding]:
        limit = self.settings.error_rate
        if not limit:
            return []
        with self.db.read() as conn:
            rows = conn.execute(_OUTCOMES, {"since": now - self.settings.error_window_seconds}).all()
        total = sum(r.n for r in rows if r.action == "message.handled")
        errors = sum(r.n for r in rows if r.action == "message.failed" or r.result == "error")
        if total < self.settings.error_min_messages:
            return [Finding("errors", False, t("alert.error_rate_ok", self.locale))]
        share = errors / total
        if share > limit:
            return [Finding("errors", True, t("alert.error_rate", self.locale, errors=errors, total=total,
                                              share=_pct(share), limit=_pct(limit)))]
        return [Finding("errors", False, t("alert.error_rate_ok", self.locale))]

    def _providers(self, now: float) -> list[Finding]:
        found = []
        for name, result in sorted(self.probe.status().items()):
            text = (t("alert.provider_up", self.locale, name=name) if result.ok
                    else t("alert.provider_down", self.locale, name=name, reason=result.reason))
            found.append(Finding(f"provider:{name}", not result.ok, text, result.checked_at))
        return found

    def _silent_channels(self, now: float) -> list[Finding]:
        """A channel that had real traffic in the day before and nothing since is probably cut off
        (a revoked token, a moved webhook), however green everything else looks."""
        hours = self.settings.silent_after_hours
        if not hours:
            return []
        quiet_since = now - hours * 3600
        found = []
        with self.db.read() as conn:
            for channel in self.channels:
                recent = conn.execute(_CHANNEL_COUNT, {"channel": channel, "since": quiet_since, "until": now + 1})
                before = conn.execute(_CHANNEL_COUNT, {"channel": channel, "since": quiet_since - 86400,
                                                       "until": quiet_since})
                recent_n, before_n = recent.scalar() or 0, before.scalar() or 0
                problem = recent_n == 0 and before_n >= self.settings.silent_min_messages
                text = (t("alert.channel_silent", self.locale, channel=channel, hours=_num(hours), before=before_n)
                        if problem else t("alert.channel_ok", self.locale, channel=channel))
                found.append(Finding(f"silent:{channel}", problem, text))
        return found

    def _host(self, now: float) -> list[Finding]:
        after = host.host_cpu_times()
        readings: list[tuple[str, Any, float]] = [
            ("cpu", host.cpu_busy_share(self._cpu_before, after), self.settings.cpu),
            ("memory", host.host_memory_used_share(), self.settings.memory),
            ("disk", host.disk_used_share(self._data_path), self.settings.disk),
        ]
        self._cpu_before = after
        found = []
        for what, share, limit in readings:
            if not limit or share is None:
                continue
            problem = share > limit
            text = (t(f"alert.{what}", self.locale, host=HOST, share=_pct(share), limit=_pct(limit)) if problem
                    else t("alert.host_ok", self.locale, what=what, host=HOST))
            found.append(Finding(f"{what}:{HOST}", problem, text))
        return found


def _pct(share: float) -> str:
    return f"{share * 100:.0f}"


def _num(value: float) -> str:
    return f"{value:g}"
