"""Where `smartbot run` will listen, said as a person types it into a browser, and whether that
port is free before gunicorn is started (gunicorn would otherwise retry for seconds and end in a
traceback that names no way out).

The check binds the address the way gunicorn does (SO_REUSEADDR, so a port only waiting out old
connections counts as free) and lets it go at once; it never holds the port.
"""
from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

# What a browser on this machine reaches a wildcard address by.
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
FREE = ""
TAKEN = "taken"
REFUSED = "refused"             # not ours to bind: a privileged port, or an address not on this machine


@dataclass(frozen=True)
class Address:
    """A TCP host and port, or a unix socket path (port 0)."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @property
    def is_tcp(self) -> bool:
        return not self.unix_path and self.port > 0

    def with_port(self, port: int) -> Address:
        return Address(self.host, port)

    def bind_text(self) -> str:
        """The address as `[server] bind` and SMARTBOT_SERVER__BIND write it."""
        if self.unix_path:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self) -> str:
        """The http:// address a browser on this machine opens (a wildcard host becomes loopback)."""
        host = _LOOPBACK_FOR.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def parse(bind: str) -> Address | None:
    """`host:port`, `[v6]:port` or `unix:/path` as gunicorn reads them; None for anything else
    (gunicorn then speaks for itself)."""
    bind = bind.strip()
    if bind.startswith("unix:"):
        return Address(unix_path=bind[len("unix:"):])
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
    else:
        host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or (":" in host and not bind.startswith("[")):
        return None
    return Address(host, int(port))


def availability(address: Address) -> str:
    """FREE, TAKEN or REFUSED for a TCP address (a unix socket is gunicorn's to replace: FREE)."""
    if not address.is_tcp:
        return FREE
    try:
        infos = socket.getaddrinfo(address.host or None, address.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return REFUSED
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return TAKEN if exc.errno == errno.EADDRINUSE else REFUSED
    return FREE


def instead(address: Address, problem: str, tries: int = 50) -> Address | None:
    """A free address to offer in place of a TAKEN or REFUSED one: the next free port on the same
    host; for a refused one, loopback (from 8080 for a port only root may use)."""
    if problem == REFUSED:
        address = Address("127.0.0.1", address.port if address.port >= 1024 else 8080)
        if availability(address) == FREE:
            return address
    for port in range(address.port + 1, min(address.port + 1 + tries, 65536)):
        if availability(address.with_port(port)) == FREE:
            return address.with_port(port)
    return None
