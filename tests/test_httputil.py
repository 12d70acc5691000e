"""The shared HTTP helpers: the session keeps honouring the proxy environment while reading it only
once, and `load_json` parses request bodies without letting the parser recurse or a number be
anything but finite."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smartbot.errors import PayloadError
from smartbot.httputil import MAX_JSON_DEPTH, EnvironmentOnceSession, load_json, nested_deeper_than


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


# -- load_json: the one parser for request bodies ---------------------------------------------
def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_json_as_deep_as_the_limit_parses_and_one_level_more_is_refused() -> None:
    assert load_json(_nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(PayloadError, match="JSON nested deeper than 64 levels") as refused:
        load_json(_nested(MAX_JSON_DEPTH + 1))
    assert refused.value.status == 400
    mixed = b'{"a": ' * 40 + b"[" * 30 + b"1" + b"]" * 30 + b"}" * 40
    with pytest.raises(PayloadError, match="nested deeper"):
        load_json(mixed)


def test_brackets_inside_strings_do_not_count_but_escaped_quotes_do_not_end_a_string() -> None:
    value = 'a backslash \\, a quote " and ' + "[" * 5000 + "{" * 5000
    assert load_json(json.dumps([value]).encode()) == [value]
    tricky = b'["\\\\"' + b", [" * 100 + b"]" * 100 + b"]"     # the string ends after an escaped backslash
    assert nested_deeper_than(tricky, 64)


@pytest.mark.parametrize("body", [b"[" * 200_000, b'"' + b"\\" * 400_001, b'\\"' * 200_000, b'"[' * 200_000,
                                  b"[" + b'"a", ' * 100_000])
def test_the_depth_scan_is_linear_on_hostile_bodies(body: bytes) -> None:
    started = time.perf_counter()
    try:
        load_json(body)
    except PayloadError:
        pass
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("body", [b"[NaN]", b'{"a": Infinity}', b"-Infinity", b"[1e400]", b"[-1e999]"])
def test_numbers_that_are_not_finite_are_refused(body: bytes) -> None:
    with pytest.raises(PayloadError, match="malformed JSON"):
        load_json(body)


def test_size_encodings_and_surrogates() -> None:
    with pytest.raises(PayloadError, match="larger than 10 bytes") as too_big:
        load_json(b'{"text": "0123456789"}', max_bytes=10)
    assert too_big.value.status == 413
    assert load_json('{"a": [1, 2.5, "ü"]}'.encode("utf-16")) == {"a": [1, 2.5, "ü"]}
    with pytest.raises(PayloadError, match="nested deeper"):
        load_json(_nested(100).decode().encode("utf-32"))
    with pytest.raises(PayloadError, match="unpaired UTF-16 surrogate"):
        load_json(b'{"text": "\\ud800"}')
    assert load_json(b'{"text": "\\ud83d\\ude00"}') == {"text": "\U0001F600"}
    with pytest.raises(PayloadError, match="malformed JSON"):
        load_json(b"\xff\xfe\xfd")


def _depth_by_hand(raw: bytes, limit: int) -> tuple[bool, int]:
    """A byte-at-a-time tokenizer: (deeper than `limit`, how many bytes a parser reads to know),
    stopping at a backslash outside a string, where any parser stops."""
    depth, in_string, escaped = 0, False, False
    for at, byte in enumerate(raw):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte == 0x5C:
            return False, at
        elif byte in b"[{":
            depth += 1
            if depth > limit:
                return True, at + 1
        elif byte in b"]}":
            depth -= 1
    return False, len(raw)


@settings(max_examples=1000, deadline=None, database=None)
@example(b'"\\"[', 0)           # an escaped quote does not end the string
@example(b'"\\\\"[', 0)         # an escaped backslash does not escape the quote after it
@example(b'"\\\\\\"[', 0)
@given(st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b","]), max_size=200).map(b"".join),
       st.integers(0, 8))
def test_the_depth_scan_agrees_with_a_tokenizer(raw: bytes, limit: int) -> None:
    deeper, read = _depth_by_hand(raw, limit)
    assert nested_deeper_than(raw[:read], limit) == deeper
