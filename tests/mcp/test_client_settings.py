"""[[mcp_servers]] in smartbot.toml: what is refused at start, naming the key and the fix (an
attacker's config included: NaN and huge timeouts, odd URL schemes, credentials in the URL, a
header or variable pointing at SmartBot's own secrets), and what check-config says."""
from __future__ import annotations

import math

import pytest

from smartbot.errors import ConfigError
from smartbot.settings.loading import load
from tests.settings.test_cli import _conf, _run

KEY = "k" * 40
GOOD = {"name": "files", "command": ["/usr/bin/python3", "/opt/mcp/files.py"]}


def _load(server: dict, **env: str):
    return load({"mcp_servers": [server], "providers": [{"name": "main", "base_url": "https://api.example.com/v1",
                                                          "model": "m", "api_key_env": "MAIN_API_KEY"}]},
                env={"SMARTBOT_SECRET_KEY": KEY, **env})


def test_a_good_entry_loads_with_its_defaults():
    server = _load({**GOOD, "env": ["FILES_ROOT"]}).mcp_servers[0]
    assert (server.timeout, server.tools, server.needs_approval, server.url) == (30.0, [], [], "")
    web = _load({"name": "web", "url": "https://mcp.example.com/mcp", "headers_env": {"Authorization": "WEB_TOKEN"},
                 "tools": ["search"], "needs_approval": ["search"], "timeout": 600}).mcp_servers[0]
    assert web.headers_env == {"Authorization": "WEB_TOKEN"} and web.offers("search") and not web.offers("other")


@pytest.mark.parametrize("change,key,words", [
    ({"name": "Files"}, "mcp_servers[0].name", "not a server name"),
    ({"name": "a:b"}, "mcp_servers[0].name", "not a server name"),
    ({"url": "https://x.example.com/mcp"}, "mcp_servers[0]", "exactly one of command"),
    ({"command": []}, "mcp_servers[0]", "exactly one of command"),
    ({"timeout": math.nan}, "mcp_servers[0].timeout", "from 1 to 600"),
    ({"timeout": math.inf}, "mcp_servers[0].timeout", "from 1 to 600"),
    ({"timeout": 1e9}, "mcp_servers[0].timeout", "from 1 to 600"),
    ({"timeout": 0}, "mcp_servers[0].timeout", "at least 1"),
    ({"refresh_seconds": math.nan}, "mcp_servers[0].refresh_seconds", "finite"),
    ({"env": ["LD_PRELOAD"]}, "mcp_servers[0].env[0]", "LD_PRELOAD"),
    ({"env": ["PATH"]}, "mcp_servers[0].env[0]", "PATH"),
    ({"env": ["A B"]}, "mcp_servers[0].env[0]", "not a variable name"),
    ({"env": ["SMARTBOT_SECRET_KEY"]}, "mcp_servers[0].env[0]", "belongs to SmartBot"),
    ({"env": ["MAIN_API_KEY"]}, "mcp_servers[0].env[0]", "belongs to SmartBot"),
    ({"tools": ["a b"]}, "mcp_servers[0].tools[0]", "not a tool name"),
    ({"tools": ["echo"], "needs_approval": ["rm"]}, "mcp_servers[0].needs_approval", "not in tools"),
    ({"workdir": "tmp"}, "mcp_servers[0].workdir", "absolute"),
    ({"headers_env": {"Authorization": "T"}}, "mcp_servers[0].headers_env", "only an HTTP server"),
])
def test_bad_stdio_entries_are_refused_naming_the_key(change, key, words):
    with pytest.raises(ConfigError) as err:
        _load({**GOOD, **change})
    assert err.value.key == key and words in str(err.value)


@pytest.mark.parametrize("url,words", [
    ("ftp://mcp.example.com/mcp", "not an http(s) URL"),
    ("file:///etc/passwd", "not an http(s) URL"),
    ("javascript:alert(1)", "not an http(s) URL"),
    ("https://user:pw@mcp.example.com/mcp", "without credentials"),
    ("http://mcp.example.com/mcp", "in the clear"),
    ("https://mcp.example.com:99999/mcp", "not a URL"),
])
def test_bad_urls_are_refused(url, words):
    with pytest.raises(ConfigError) as err:
        _load({"name": "web", "url": url})
    assert err.value.key == "mcp_servers[0].url" and words in str(err.value)


@pytest.mark.parametrize("headers,words", [
    ({"Authorization": "SMARTBOT_SECRET_KEY"}, "belongs to SmartBot"),
    ({"Authorization": "SMARTBOT_CHANNELS__GENERIC__SECRET"}, "belongs to SmartBot"),
    ({"X-Key": "MAIN_API_KEY"}, "belongs to SmartBot"),
    ({"Authorization": "DATABASE_URL"}, "belongs to SmartBot"),
    ({"Mcp-Session-Id": "T"}, "not a header SmartBot may set"),
    ({"Host": "T"}, "not a header SmartBot may set"),
    ({"Bad Header": "T"}, "not a header SmartBot may set"),
])
def test_headers_never_carry_smartbots_own_secrets(headers, words):
    with pytest.raises(ConfigError) as err:
        _load({"name": "web", "url": "https://mcp.example.com/mcp", "headers_env": headers})
    assert err.value.key.startswith("mcp_servers[0].headers_env") and words in str(err.value)


def test_two_servers_with_one_name_are_refused():
    with pytest.raises(ConfigError, match="two entries are named 'files'"):
        load({"mcp_servers": [GOOD, GOOD]}, env={"SMARTBOT_SECRET_KEY": KEY})


def test_check_config_names_a_missing_program_and_an_unset_variable(tmp_path):
    conf = _conf(tmp_path, mcp_servers=[{"name": "gone", "command": ["/no/such/mcp-server"]},
                                        {"name": "web", "url": "https://mcp.example.com/mcp",
                                         "headers_env": {"Authorization": "SURELY_UNSET_MCP_TOKEN"}}])
    _run(["db", "upgrade"], conf)
    res = _run(["check-config"], conf)
    assert res.returncode != 0
    assert "[FAIL] MCP server gone: /no/such/mcp-server is not installed" in res.stdout
    assert "[FAIL] MCP server web: the variable SURELY_UNSET_MCP_TOKEN is not set" in res.stdout
    bad = _run(["check-config"], _conf(tmp_path, mcp_servers=[{"name": "x", "url": "file:///etc/passwd"}]))
    assert bad.returncode == 2 and "mcp_servers[0].url" in bad.stderr
