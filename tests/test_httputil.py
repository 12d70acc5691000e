"""The shared HTTP session keeps honouring the proxy environment while reading it only once."""
from __future__ import annotations

import pytest

from smartbot.httputil import EnvironmentOnceSession


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_proxy_from_the_environment_applies_and_no_proxy_hosts_bypass_it(proxy_env: None) -> None:
    session = EnvironmentOnceSession()
    remote = session.merge_environment_settings("https://api.example.com/v1/chat", {}, None, None, None)
    local = session.merge_environment_settings("http://127.0.0.1:8080/v1/chat", {}, None, None, None)
    assert remote["proxies"].get("https") == "http://proxy.internal:3128"
    assert "http" not in local["proxies"] and "https" not in local["proxies"]


def test_the_environment_is_read_once_per_host(proxy_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    session = EnvironmentOnceSession()
    first = session.merge_environment_settings("https://api.example.com/a", {}, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://other.internal:3128")
    again = session.merge_environment_settings("https://api.example.com/b", {}, None, None, None)
    assert again == first
    first["proxies"]["https"] = "changed by a caller"
    assert session.merge_environment_settings("https://api.example.com/c", {}, None, None, None)["proxies"]["https"] \
        == "http://proxy.internal:3128"


def test_proxies_given_per_call_win(proxy_env: None) -> None:
    session = EnvironmentOnceSession()
    merged = session.merge_environment_settings("https://api.example.com/a", {"https": "http://mine:1"}, None,
                                                None, None)
    assert merged["proxies"]["https"] == "http://mine:1"


@pytest.fixture
def echo_server():
    """A loopback HTTP server that answers each request with its Authorization header."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = (self.headers.get("Authorization") or "none").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _netrc(tmp_path, monkeypatch: pytest.MonkeyPatch, line: str):
    """A netrc file with one machine line, the one requests reads (NETRC)."""
    netrc = tmp_path / "netrc"
    netrc.write_text(line + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_netrc_credentials_apply_and_the_file_is_read_once_per_host(echo_server: str, tmp_path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = _netrc(tmp_path, monkeypatch, "machine 127.0.0.1 login bot password s3cret")
    session = EnvironmentOnceSession()
    first = session.get(echo_server + "/a", timeout=5).text
    netrc.write_text("machine 127.0.0.1 login other password changed\n")
    again = session.get(echo_server + "/b", timeout=5).text
    explicit = session.get(echo_server + "/c", auth=("given", "pw"), timeout=5).text
    assert first.startswith("Basic ") and first == again
    assert explicit != first and explicit.startswith("Basic ")
    assert EnvironmentOnceSession().get(echo_server + "/d", timeout=5).text != first   # a new session reads it


def test_a_host_without_netrc_credentials_sends_none(echo_server: str, tmp_path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _netrc(tmp_path, monkeypatch, "machine elsewhere.example login bot password s3cret")
    session = EnvironmentOnceSession()
    assert [session.get(echo_server + f"/{i}", timeout=5).text for i in range(2)] == ["none", "none"]
