"""How the model providers are doing, for the dashboard and /metrics (never for /readyz: a node
whose model is down still answers /help, commands and approvals, so it stays in the load balancer).

Three witnesses, because each alone misleads: the circuit breaker is this process's and opens only
after repeated failures (a worker that made no call shows "closed" while the model is dead); the
probe is a cheap GET that says whether the server answers at all, not whether completions work;
the audit log's `model.error` rows and the provider alert are the whole cluster's. A provider is
"down" when its probe fails, its circuit is open or its alert fires, "degraded" when calls failed
lately or its circuit is half open, else "up". The alert itself is raised by the monitors
(ops/monitors.py), from the same probe.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..llm.breaker import CLOSED, HALF_OPEN, OPEN
from ..telemetry import metrics

RECENT_ERRORS_SECONDS = 900
CIRCUIT_STATES = (CLOSED, HALF_OPEN, OPEN)
_ERRORS = sa.text("SELECT target, COUNT(*) FROM audit_log WHERE action = 'model.error' AND ts >= :since "
                  "GROUP BY target")


@dataclass(frozen=True)
class ProviderState:
    name: str
    kind: str
    model: str
    circuit: str                    # this process's breaker: closed, half_open or open
    failures: int                   # failed calls the breaker counts now (none succeeded since)
    last_failure: str
    probe_ok: bool | None           # None: not probed yet
    probe_reason: str
    probe_age: float | None         # seconds since the probe was sent
    recent_errors: int              # model.error rows naming it, cluster-wide, in the last 15 minutes
    alert: bool                     # its provider alert is firing (cluster-wide)

    @property
    def verdict(self) -> str:
        if self.alert or self.probe_ok is False or self.circuit == OPEN:
            return "down"
        if self.circuit == HALF_OPEN or self.failures or self.recent_errors:
            return "degraded"
        return "up"


def read(runtime: Any, now: float | None = None) -> list[ProviderState]:
    """Every provider of the active chain, in chain order."""
    now = time.time() if now is None else now
    chain = runtime.providers.chain()
    if not chain:
        return []
    probes = runtime.probe.status()
    breakers = runtime.models.states()
    firing = runtime.alerts.firing()
    with runtime.db.read() as conn:
        errors = dict(conn.execute(_ERRORS, {"since": now - RECENT_ERRORS_SECONDS}).all())
    states = []
    for spec in chain:
        probe, breaker = probes.get(spec.name), breakers.get(spec.name)
        states.append(ProviderState(
            name=spec.name, kind=spec.kind, model=spec.model,
            circuit=breaker.state if breaker else CLOSED, failures=breaker.failures if breaker else 0,
            last_failure=breaker.last_reason if breaker else "",
            probe_ok=probe.ok if probe else None, probe_reason=probe.reason if probe else "",
            probe_age=max(0.0, now - probe.checked_at) if probe else None,
            recent_errors=int(errors.get(spec.name, 0)), alert=f"provider:{spec.name}" in firing))
    return states


def add_gauges(out: metrics.GaugeSet, states: list[ProviderState]) -> None:
    """smartbot_provider_up (the probe: 1 answers, 0 does not) and smartbot_provider_circuit (1 for
    the state this process's breaker is in, 0 for the others), one series per provider."""
    out.add("provider_up", "Whether the provider's server answers its probe (1) or not (0).",
            [({"provider": s.name}, 1 if s.probe_ok else 0) for s in states if s.probe_ok is not None],
            ("provider",))
    out.add("provider_circuit", "The circuit breaker's state per provider in the scraped process (1 = in it).",
            [({"provider": s.name, "state": state}, 1 if s.circuit == state else 0)
             for s in states for state in CIRCUIT_STATES], ("provider", "state"))
