"""The [alerts] section of smartbot.toml (who is told, and the thresholds the monitors watch) and the
[ops] section (who may read /metrics and /readyz's details).

Only data and its validation; the monitors live in ops/monitors.py, the sender in ops/alerts.py, the
access check in ops/access.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network

from ..errors import ConfigError
from ..settings.schema import setting

MIN_TOKEN_LENGTH = 24


@dataclass
class AlertsSettings:
    chats: list[str] = setting([], help='admins\' chats that get alerts, each "<channel>:<chat_id>"')
    check_seconds: float = setting(15.0, minimum=0.1, help="how often each process runs the monitors")
    raise_after: float = setting(60.0, minimum=0, help="a problem must last this long before it is an alert")
    resolve_after: float = setting(120.0, minimum=0, help="a problem must be gone this long before the recovery")
    queue_age_seconds: float = setting(300.0, minimum=0, help="oldest unfinished message or reply; 0 = off")
    error_rate: float = setting(0.25, minimum=0, help="share of messages that end in an error; 0 = off")
    error_window_seconds: float = setting(300.0, minimum=1)
    error_min_messages: int = setting(10, minimum=1, help="fewer messages in the window never alert")
    cpu: float = setting(0.9, minimum=0, help="busy share of the host's CPUs; 0 = off")
    memory: float = setting(0.9, minimum=0, help="used share of the host's memory; 0 = off")
    disk: float = setting(0.9, minimum=0, help="used share of the disk holding the data; 0 = off")
    silent_after_hours: float = setting(6.0, minimum=0, help="a busy channel silent this long alerts; 0 = off")
    silent_min_messages: int = setting(20, minimum=1, help="messages in the day before that make a channel busy")
    probe_seconds: float = setting(30.0, minimum=0.1, help="how often model providers are probed (no model call)")
    probe_timeout: float = setting(3.0, minimum=0.1)

    def validate(self, path: str) -> None:
        for i, chat in enumerate(self.chats):
            channel, _, chat_id = chat.partition(":")
            if not channel or not chat_id:
                raise ConfigError(f"{path}.chats[{i}]", f"{chat!r} is not \"<channel>:<chat_id>\"",
                                  'write it like "telegram:123456" or "generic:ops-room"')
        for key in ("cpu", "memory", "disk"):
            if getattr(self, key) > 1:
                raise ConfigError(f"{path}.{key}", f"is a share between 0 and 1, got {getattr(self, key)}",
                                  "e.g. 0.9 for 90 %")


@dataclass
class OpsSettings:
    """Who may read /metrics and the details of /readyz (ops/access.py); /healthz is for everyone."""

    metrics_token: str = setting("", secret=True, help="bearer token that may read /metrics from anywhere; "
                                                       "give it as metrics_token_env (at least 24 characters)")
    metrics_allow: list[str] = setting(["127.0.0.1", "::1"], help="addresses or CIDRs that need no token "
                                                                 "(behind nginx: the client's, via trusted_proxies)")

    def validate(self, path: str) -> None:
        if self.metrics_token and len(self.metrics_token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"{path}.metrics_token", f"is shorter than {MIN_TOKEN_LENGTH} characters",
                              "use a random value, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        for i, entry in enumerate(self.metrics_allow):
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"{path}.metrics_allow[{i}]", f"{entry!r} is not an address or CIDR",
                                  'write it like "127.0.0.1", "10.0.0.0/8" or "::1"') from None
