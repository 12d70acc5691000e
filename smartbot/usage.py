"""Token and cost accounting per user, provider and UTC day, and the daily token quotas.

Every answered model call adds one upsert to `model_usage` (calls, prompt and completion tokens,
cost from the provider's optional prices per 1,000 tokens). For a chat message it is written by the
message's own transaction (see `deferred`); a process killed between the model's answer and that
write leaves that one call uncounted (the message is handled again, and that call is counted).
Quotas are checked before a call: a user at or over their limit gets no model call at all; the
call that crosses the limit is allowed to finish, since its size is only known afterwards. Never
stores message text.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .auth.rbac import Principal
from .config import QuotaSettings
from .llm.base import ProviderSpec, Usage
from .models import ModelUsage

_usage = ModelUsage.__table__
_UPSERT = sa.text(
    "INSERT INTO model_usage (day, user_key, provider, calls, prompt_tokens, completion_tokens, cost, updated_at) "
    "VALUES (:day, :user_key, :provider, 1, :prompt, :completion, :cost, :now) "
    "ON CONFLICT (day, user_key, provider) DO UPDATE SET calls = model_usage.calls + 1, "
    "prompt_tokens = model_usage.prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = model_usage.completion_tokens + excluded.completion_tokens, "
    "cost = model_usage.cost + excluded.cost, updated_at = excluded.updated_at")
_TOKENS_ON = sa.text("SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM model_usage "
                     "WHERE user_key = :user_key AND day = :day")
UNKNOWN_USER = "(unknown)"


def day_of(ts: float | None = None) -> str:
    """The UTC day of `ts` (now), as usage rows are keyed."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


def user_key(principal: Principal) -> str:
    """Whose tokens these are: a bound user by name (across platforms), else the platform sender."""
    return principal.name if principal.user_id is not None else principal.identity


def cost_of(spec: ProviderSpec, usage: Usage) -> float:
    return (usage.prompt_tokens * spec.prompt_price_per_1k + usage.completion_tokens * spec.completion_price_per_1k) \
        / 1000.0


def record(conn: Connection, user: str, spec: ProviderSpec, usage: Usage, now: float | None = None) -> None:
    now = time.time() if now is None else now
    conn.execute(_UPSERT, {"day": day_of(now), "user_key": (user or UNKNOWN_USER)[:200], "provider": spec.name,
                           "prompt": usage.prompt_tokens, "completion": usage.completion_tokens,
                           "cost": cost_of(spec, usage), "now": now})


@dataclass
class Spent:
    """One answered model call's usage, not yet written."""

    user: str
    spec: ProviderSpec
    usage: Usage
    at: float


_deferral = threading.local()


@contextlib.contextmanager
def deferred(into: list[Spent]) -> Iterator[None]:
    """While handling one message: this thread's model calls add their usage to `into` instead of
    writing it, and the message's own transaction stores it (one write per chat turn, not two).
    The caller writes `into` itself when that transaction does not happen."""
    _deferral.rows = into
    try:
        yield
    finally:
        _deferral.rows = None


def defer(spent: Spent) -> bool:
    """Keep `spent` for the message being handled on this thread; False when none is."""
    rows = getattr(_deferral, "rows", None)
    if rows is None:
        return False
    rows.append(spent)
    return True


def record_all(conn: Connection, rows: list[Spent]) -> None:
    for row in rows:
        record(conn, row.user, row.spec, row.usage, row.at)


def tokens_on(conn: Connection, user: str, day: str | None = None) -> int:
    return int(conn.execute(_TOKENS_ON, {"user_key": user, "day": day or day_of()}).scalar() or 0)


def daily_limit(quotas: QuotaSettings, user: str, roles: tuple[str, ...]) -> int | None:
    """The user's token allowance today; None = unlimited."""
    return _limit(quotas.per_user, quotas.per_role, user, roles)


def _limit(per_user: dict[str, int], per_role: dict[str, int], user: str, roles: tuple[str, ...]) -> int | None:
    """A user's own entry wins; else their most generous role's; a role without one is unlimited."""
    if user in per_user:
        return per_user[user]
    if not roles or any(role not in per_role for role in roles):
        return None
    return max(per_role[role] for role in roles)


def over_rate(store: Any, quotas: QuotaSettings, principal: Principal, now: float) -> tuple[int, int] | None:
    """(limit, count) when this message is past the user's messages-per-minute limit, else None.
    Counted in the shared store, so the limit holds across processes and, with Redis, nodes."""
    key = user_key(principal)
    limit = _limit(quotas.messages_per_minute_per_user, quotas.messages_per_minute_per_role, key, principal.roles)
    if limit is None:
        return None
    count = store.incr(f"chat-rate:{key}:{int(now // 60)}", 60)
    return (limit, count) if count > limit else None


@dataclass(frozen=True)
class QuotaState:
    used: int
    limit: int

    @property
    def exceeded(self) -> bool:
        return self.used >= self.limit


def quota_state(conn: Connection, quotas: QuotaSettings, principal: Principal) -> QuotaState | None:
    """None when the principal has no limit (nothing is read then)."""
    key = user_key(principal)
    limit = daily_limit(quotas, key, principal.roles)
    if limit is None:
        return None
    return QuotaState(tokens_on(conn, key), limit)


def report(conn: Connection, first_day: str, last_day: str, user: str = "", provider: str = "",
           limit: int = 1000) -> dict[str, Any]:
    """Usage rows between two days (inclusive), newest first, with their totals."""
    query = sa.select(_usage).where(_usage.c.day >= first_day, _usage.c.day <= last_day)
    if user:
        query = query.where(_usage.c.user_key == user)
    if provider:
        query = query.where(_usage.c.provider == provider)
    rows = conn.execute(query.order_by(_usage.c.day.desc(), _usage.c.user_key, _usage.c.provider)
                        .limit(limit)).all()
    items = [{"day": r.day, "user": r.user_key, "provider": r.provider, "calls": r.calls,
              "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
              "tokens": r.prompt_tokens + r.completion_tokens, "cost": round(r.cost, 6)} for r in rows]
    totals = {key: sum(item[key] for item in items) for key in ("calls", "prompt_tokens", "completion_tokens",
                                                                "tokens")}
    totals["cost"] = round(sum(item["cost"] for item in items), 6)
    return {"from": first_day, "to": last_day, "items": items, "totals": totals, "truncated": len(items) == limit}
