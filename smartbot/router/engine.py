"""Matching messages against rules. Rules are data (see models.Rule); the first match wins.

A rule's `match` is a dict of conditions, all of which must hold:
  channel, chat_id, role, command (str or list), chat_type ("direct"|"group"), mentioned (bool),
  prefix (str), regex (str), keywords (list, any, case-insensitive), min_length / max_length.
An empty match matches everything (the catch-all chat rule).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..messages import InboundMessage

log = logging.getLogger(__name__)

ACTIONS = ("chat", "command", "workflow", "builtin", "ignore", "handoff")
MATCH_KEYS = ("channel", "chat_id", "role", "command", "chat_type", "mentioned", "prefix", "regex",
              "keywords", "min_length", "max_length")
_COMMAND = re.compile(r"^/([A-Za-z0-9_\-]{1,64})(?:@(\S+))?(?:\s+(.*))?$", re.S)


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    args: str
    addressed_to: str = ""


def parse_command(text: str) -> ParsedCommand | None:
    """`/name@bot args` -> ParsedCommand('name', 'args', 'bot'); None for text that is no command."""
    m = _COMMAND.match(text.strip())
    if not m:
        return None
    return ParsedCommand(m.group(1).lower(), (m.group(3) or "").strip(), m.group(2) or "")


@dataclass(frozen=True)
class RuleView:
    name: str
    position: int
    match: dict[str, Any]
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    compiled_regex: re.Pattern[str] | None = None

    @classmethod
    def build(cls, name: str, position: int, match: dict[str, Any], action: str,
              params: dict[str, Any]) -> RuleView:
        problems = validate_rule(match, action)
        if problems:
            raise ValueError(f"rule {name!r}: {'; '.join(problems)}")
        regex = re.compile(match["regex"], re.I) if match.get("regex") else None
        return cls(name, position, dict(match), action, dict(params or {}), regex)


def validate_rule(match: Any, action: str) -> list[str]:
    """Reasons a rule is invalid ([] when it is fine); used by the admin API and at load."""
    problems = []
    if action not in ACTIONS:
        problems.append(reason("reason.rule.action", choices=", ".join(ACTIONS)))
    return problems + validate_match(match)


def validate_match(match: Any) -> list[str]:
    """Reasons a match dict is invalid; shared by rules and model routes, which match alike."""
    problems: list[str] = []
    if not isinstance(match, dict):
        return [reason("reason.rule.match_object")]
    for key in match:
        if key not in MATCH_KEYS:
            problems.append(reason("reason.rule.match_key", name=repr(key)))
    if "regex" in match:
        try:
            re.compile(str(match["regex"]))
        except re.error as exc:
            problems.append(reason("reason.rule.regex", problem=str(exc)))
    if "mentioned" in match and not isinstance(match["mentioned"], bool):
        problems.append(reason("reason.rule.mentioned"))
    keywords = match.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) and k for k in keywords):
        problems.append(reason("reason.rule.keywords"))
    for key in ("min_length", "max_length"):
        if key in match and (isinstance(match[key], bool) or not isinstance(match[key], int) or match[key] < 0):
            problems.append(reason("reason.rule.length", name=key))
    return problems


@dataclass(frozen=True)
class Route:
    action: str
    rule: str
    params: dict[str, Any]
    command: ParsedCommand | None = None


def _one_of(value: Any, actual: str) -> bool:
    if isinstance(value, (list, tuple)):
        return actual in [str(v) for v in value]
    return actual == str(value)


def matches(rule: RuleView, msg: InboundMessage, principal: Principal, command: ParsedCommand | None) -> bool:
    m = rule.match
    text = msg.text
    if "channel" in m and not _one_of(m["channel"], msg.channel):
        return False
    if "chat_id" in m and not _one_of(m["chat_id"], msg.chat_id):
        return False
    if "chat_type" in m and m["chat_type"] != msg.chat_type:
        return False
    if "mentioned" in m and bool(m["mentioned"]) != msg.mentioned:
        return False
    if "role" in m:
        wanted = m["role"] if isinstance(m["role"], (list, tuple)) else [m["role"]]
        if not set(wanted) & set(principal.roles):
            return False
    if "command" in m and (command is None or not _one_of(m["command"], command.name)):
        return False
    if "prefix" in m and not text.lstrip().lower().startswith(str(m["prefix"]).lower()):
        return False
    if rule.compiled_regex is not None and not rule.compiled_regex.search(text):
        return False
    if "keywords" in m:
        lowered = text.lower()
        if not any(str(k).lower() in lowered for k in m["keywords"]):
            return False
    if "min_length" in m and len(text) < int(m["min_length"]):
        return False
    if "max_length" in m and len(text) > int(m["max_length"]):
        return False
    return True


class Router:
    """Routes with the current rules; reloads them when their version changes (checked each second)."""

    def __init__(self, load_rules: Callable[[], tuple[int, list[RuleView]]],
                 current_version: Callable[[], int], check_every: float = 1.0) -> None:
        self._load = load_rules
        self._current_version = current_version
        self._check_every = check_every
        self._version = -1
        self._rules: list[RuleView] = []
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def rules(self) -> list[RuleView]:
        """The current rules; one thread reloads them while the others wait for the result."""
        if time.monotonic() - self._checked_at >= self._check_every:
            with self._lock:
                now = time.monotonic()
                if now - self._checked_at >= self._check_every:
                    if self._current_version() != self._version:
                        self._version, self._rules = self._load()
                    self._checked_at = now
        return self._rules

    def invalidate(self) -> None:
        self._checked_at = 0.0
        self._version = -1

    def route(self, msg: InboundMessage, principal: Principal) -> Route:
        command = parse_command(msg.text)
        for rule in self.rules():
            if matches(rule, msg, principal, command):
                return Route(rule.action, rule.name, rule.params, command)
        log.warning("no routing rule matched a message on %s; it is ignored (is the catch-all rule gone?)",
                    msg.channel)
        return Route("ignore", "(no rule matched)", {}, command)
