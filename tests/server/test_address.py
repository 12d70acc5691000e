"""Where `smartbot run` listens, said as a browser address, and the free port it offers when the
one asked for is taken or not ours (binding is tried on this machine only, then let go)."""
from __future__ import annotations

import socket

import pytest

from smartbot.server import address
from smartbot.server.address import Address


@pytest.mark.parametrize("bind, url", [("127.0.0.1:8080", "http://127.0.0.1:8080"),
                                       ("0.0.0.0:9000", "http://127.0.0.1:9000"),
                                       ("[::]:9000", "http://[::1]:9000"),
                                       ("localhost:8081", "http://localhost:8081")])
def test_a_bind_becomes_the_address_a_browser_on_this_machine_opens(bind, url):
    parsed = address.parse(bind)
    assert parsed is not None and parsed.url() == url and parsed.bind_text() == bind


@pytest.mark.parametrize("bind", ["localhost", "::1:80", "127.0.0.1:0", "127.0.0.1:70000", "fd://3"])
def test_what_gunicorn_reads_otherwise_is_left_to_gunicorn(bind):
    assert address.parse(bind) is None


def test_a_unix_socket_is_never_reported_taken():
    where = address.parse("unix:/run/smartbot/gunicorn.sock")
    assert where == Address(unix_path="/run/smartbot/gunicorn.sock") and address.availability(where) == address.FREE


def test_a_port_in_use_is_taken_and_the_next_free_one_is_offered():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        where = Address("127.0.0.1", holder.getsockname()[1])
        assert address.availability(where) == address.TAKEN
        other = address.instead(where, address.TAKEN)
        assert other is not None and other.host == "127.0.0.1" and other.port > where.port
        assert address.availability(other) == address.FREE
    assert address.availability(where) == address.FREE        # the check itself never holds the port


def test_an_address_not_on_this_machine_is_refused_and_loopback_is_offered():
    where = Address("192.0.2.1", 8080)                        # TEST-NET-1: never an address of ours
    assert address.availability(where) == address.REFUSED
    other = address.instead(where, address.REFUSED)
    assert other is not None and other.host == "127.0.0.1" and other.port >= 8080
