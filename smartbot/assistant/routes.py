"""Model routing: which provider chain answers a chat message, chosen from its context.

A model route matches like a routing rule (channel, chat_id, role, command, keywords, regex,
min_length / max_length, ...: the router's own matcher, so both mean the same) and names a
provider, its own fallback chain, an optional `cache_ttl` and an optional system prompt. Routes
are tried by position; the first match wins; no match means the default chain ([models]).
Plain data: loading from the database is live_config's job, calling the model the service's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..auth.rbac import Principal
from ..llm.base import ProviderSpec
from ..messages import InboundMessage
from ..router.engine import matches, parse_command, validate_match

CACHE_TTL_MAX = 7 * 86400.0


def match_problems(match: Any) -> list[str]:
    return validate_match(match)


@dataclass(frozen=True)
class RouteSpec:
    name: str
    provider: str
    match: dict[str, Any] = field(default_factory=dict)
    fallback: tuple[str, ...] = ()
    position: int = 100
    cache_ttl: float = 0.0
    system_prompt: str = ""
    compiled_regex: re.Pattern[str] | None = None

    @classmethod
    def build(cls, name: str, provider: str, match: dict[str, Any] | None, fallback: Sequence[str] = (),
              position: int = 100, cache_ttl: float | None = 0.0, system_prompt: str | None = "") -> RouteSpec:
        match = dict(match or {})
        problems = validate_match(match)
        if problems:
            raise ValueError(f"model route {name!r}: {'; '.join(problems)}")
        regex = re.compile(match["regex"], re.I) if match.get("regex") else None
        return cls(name, provider, match, tuple(fallback or ()), position, float(cache_ttl or 0.0),
                   system_prompt or "", regex)


@dataclass(frozen=True)
class ModelChoice:
    """What the chat handler needs from routing: the chain to call and how."""

    chain: list[ProviderSpec]
    route: str = ""                 # "" = the default chain
    cache_ttl: float = 0.0
    system_prompt: str = ""


def pick(routes: Sequence[RouteSpec], msg: InboundMessage, principal: Principal) -> RouteSpec | None:
    command = parse_command(msg.text)
    for route in routes:
        if matches(route, msg, principal, command):  # type: ignore[arg-type] - same match/compiled_regex shape
            return route
    return None


def chain_for(route: RouteSpec, specs: dict[str, ProviderSpec], default: list[ProviderSpec]) -> list[ProviderSpec]:
    """The route's provider, then its fallbacks, then the default chain as the last resort; each
    enabled provider once. A route naming only disabled or deleted providers gets the default."""
    chain: list[ProviderSpec] = []
    for name in (route.provider, *route.fallback):
        spec = specs.get(name)
        if spec is not None and spec not in chain:
            chain.append(spec)
    chain += [spec for spec in default if spec not in chain]
    return chain
