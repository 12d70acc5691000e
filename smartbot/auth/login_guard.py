"""Slowing password guessing down without letting anyone lock the real admin out.

Failed logins are counted per address, and per name at an address, in the `login_failures` table:
every gunicorn worker and every node sees the same count, with or without Redis, and a restart
forgets nothing. After `pair_limit` failures of one name at one address, or `address_limit`
failures of any names at one address, that address is refused (429 with Retry-After) for that
name, or for every name, for `base_lock` seconds; each further failure after a lock ran out
doubles it, up to `max_lock`. Attempts during a lock are refused without a look at the password
and do not count. Failures are forgotten `forget_after` seconds after the last one; a successful
login clears that name at that address.

IPv6 addresses count per /64, the prefix one subscriber gets: a host can take any address in it.

Never a lock on the name alone: that let anyone who knew the admin's name lock the admin out
from everywhere (the lock is the attacker's address, never the account).
"""
from __future__ import annotations

import ipaddress
import math
import time
from typing import Any

import sqlalchemy as sa

from ..storage.tables import LoginFailure

_failures = LoginFailure.__table__


def address_group(remote: str) -> str:
    """The unit an address is counted in: the IPv4 address, or the IPv6 /64 around it."""
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote[:60]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginGuard:
    def __init__(self, pair_limit: int = 5, address_limit: int = 10, base_lock: float = 30.0,
                 max_lock: float = 900.0, forget_after: float = 3600.0) -> None:
        self.pair_limit, self.address_limit = pair_limit, address_limit
        self.base_lock, self.max_lock, self.forget_after = base_lock, max_lock, forget_after

    def wait(self, conn: Any, name: str, remote: str) -> int:
        """Seconds before `name` may try again from `remote` (0: it may try now)."""
        now = time.time()
        until = conn.execute(sa.select(sa.func.max(_failures.c.locked_until))
                             .where(_failures.c.key.in_(_keys(name, remote)))).scalar() or 0.0
        return math.ceil(until - now) if until > now else 0

    def record(self, conn: Any, db: Any, name: str, remote: str, ok: bool) -> int:
        """Count a checked attempt, inside the write transaction that audits it. Returns the seconds
        the failure that reached a limit locks this address for (0: no lock), so that very answer
        can already say how long to wait."""
        pair, address = _keys(name, remote)
        if ok:
            conn.execute(sa.delete(_failures).where(_failures.c.key == pair))
            return 0
        now = time.time()
        locked = 0.0
        for key, limit in ((pair, self.pair_limit), (address, self.address_limit)):
            failures = self._count(conn, db, key, now)
            if failures >= limit:
                lock = min(self.max_lock, self.base_lock * 2 ** min(failures - limit, 16))
                conn.execute(sa.update(_failures).where(_failures.c.key == key).values(locked_until=now + lock))
                locked = max(locked, lock)
        conn.execute(sa.delete(_failures).where(_failures.c.last_at < now - self.forget_after,
                                                _failures.c.locked_until < now))
        return math.ceil(locked)

    def _count(self, conn: Any, db: Any, key: str, now: float) -> int:
        """One more failure for `key` (starting again from 1 when the last one is forgotten); an
        atomic increment, so concurrent failures in other processes all count."""
        conn.execute(db.insert_ignore(_failures).values(key=key, failures=0, last_at=now, locked_until=0.0))
        forgotten = _failures.c.last_at < now - self.forget_after
        return int(conn.execute(
            sa.update(_failures).where(_failures.c.key == key)
            .values(failures=sa.case((forgotten, 1), else_=_failures.c.failures + 1), last_at=now)
            .returning(_failures.c.failures)).scalar_one())


def _keys(name: str, remote: str) -> tuple[str, str]:
    group = address_group(remote)
    return f"pair:{group}:{name[:100]}", f"addr:{group}"
