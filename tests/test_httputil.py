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
