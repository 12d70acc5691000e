"""Who may read /metrics and the details of /readyz (queue depths, channel and provider names, probe
errors): a client at an address in `[ops] metrics_allow` (loopback by default), one that sends
`[ops] metrics_token` as its bearer token (compared in constant time), or an admin API token whose
user holds `admin:metrics` (checked by the caller, with the API's own check).

The address is the WSGI environ's: the peer's, or with `[security] trusted_proxies` the client's as
the trusted proxy reported it (ProxyFix). Nothing here reads X-Forwarded-For, and a presented token
is never logged, audited or echoed.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Callable

from .settings import OpsSettings


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: int = 200          # 401: a token that is not good; 403: no token, address not allowed
    reason: str = ""
    reason_key: str = ""       # short and fixed, for the rate-limited audit


ALLOWED = Verdict(True)


class OpsAccess:
    def __init__(self, settings: OpsSettings) -> None:
        self._networks = tuple(ip_network(entry, strict=False) for entry in settings.metrics_allow)
        self._token = settings.metrics_token.encode()

    def decide(self, address: str | None, authorization: str,
               admin_token: Callable[[], Verdict | None]) -> Verdict:
        """`admin_token()` judges the bearer token as an admin API token: ALLOWED, a refusal, or
        None when it is not one."""
        if self.address_allowed(address):
            return ALLOWED
        presented = bearer(authorization)
        if not presented:
            return Verdict(False, 403, f"{address or 'this address'} is not allowed to read this: send the metrics "
                                       "token as a bearer token, or add the address to [ops] metrics_allow",
                           "address")
        if self._token and hmac.compare_digest(presented.encode(), self._token):
            return ALLOWED
        judged = admin_token() if presented.count(".") == 2 else None
        return judged or Verdict(False, 401, "the bearer token is neither the metrics token nor an admin token "
                                             "with admin:metrics", "token")

    def address_allowed(self, address: str | None) -> bool:
        try:
            ip = ip_address((address or "").split("%", 1)[0])
        except ValueError:              # a unix socket's peer without a trusted proxy: unknown, not allowed
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)


def bearer(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
