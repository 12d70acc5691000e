"""llm/keys.py: a provider's base_url read as the HTTP client reads it, which variables a provider
may take its key from, and where a key may go."""
from __future__ import annotations

import pytest
import requests

from smartbot.llm.base import ProviderSpec
from smartbot.llm.keys import KeyRules, base_url_problem, origin, sharing_problem, withheld_reason


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "http://127.0.0.1:11434", "https://api.anthropic.com",
                                 "http://[::1]:8000/v1", "HTTPS://API.Example.com/v1/"])
def test_ordinary_base_urls_pass(url):
    assert base_url_problem(url) == ""


@pytest.mark.parametrize("url, words", [
    ("http://x/v1?api=", "query"), ("http://x/v1#", "fragment"), ("http://user@x/v1", "user name"),
    ("http://u:p@x/v1", "user name"), ("http://evil\\@x/v1", "backslash"), ("http://x/v1\t", "whitespace"),
    ("http://x /v1", "whitespace"), ("ftp://x/v1", "http"), ("http:///v1", "host"), ("x/v1", "http"),
    ("http://x:99999/v1", "URL"), ("http://x%2f/v1", "host"), ("javascript:alert(1)", "http"),
])
def test_base_urls_that_could_reach_another_host_or_path_are_refused(url, words):
    assert words in base_url_problem(url)


def test_the_origin_is_the_one_requests_connects_to():
    for url in ("https://api.example.com/v1", "HTTPS://API.EXAMPLE.COM:443/v1/x", "https://api.example.com:443"):
        assert origin(url) == "https://api.example.com:443"
    assert origin("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    prepared = requests.Request("POST", "http://127.0.0.1:8080/v1/chat/completions").prepare()
    assert origin(prepared.url) == origin("http://127.0.0.1:8080/v1")
    assert origin("ftp://x") == "" and origin("http://x:99999") == ""


def test_a_run_time_provider_takes_only_a_provider_key_of_its_own():
    named = {"SLACK_SIGNING_SECRET", "MAIN_API_KEY", "GITHUB_API_KEY"}       # *_env keys of the config
    rules = KeyRules(patterns=("*_API_KEY", "DEEPSEEK_*"),
                     is_server_secret=lambda n: n.startswith("SMARTBOT_") or n in named,
                     file_variables=frozenset({"MAIN_API_KEY"}))
    assert rules.variable_problem("OPENAI_API_KEY") == "" and rules.variable_problem("DEEPSEEK_TOKEN") == ""
    assert rules.variable_problem("MAIN_API_KEY") == "", "a file provider's key: sharing is checked by origin"
    for name in ("SLACK_SIGNING_SECRET", "SMARTBOT_SECRET_KEY", "SMARTBOT_API_KEY", "GITHUB_API_KEY"):
        assert "SmartBot" in rules.variable_problem(name), name
    for name in ("HOME", "AWS_SECRET_ACCESS_KEY", "OPENAI_API_KEY_OLD"):
        assert "not a provider key variable" in rules.variable_problem(name), name


def test_another_providers_key_is_shared_only_at_its_origin():
    others = [("main", "MAIN_API_KEY", "https://api.openai.com/v1"), ("local", "", "http://127.0.0.1:11434")]
    assert sharing_problem("MAIN_API_KEY", "https://api.openai.com/v1/", others) == ""
    assert sharing_problem("OWN_API_KEY", "http://evil.example", others) == ""
    problem = sharing_problem("MAIN_API_KEY", "https://api.openai.com.evil.example/v1", others)
    assert "'main'" in problem and "https://api.openai.com:443" in problem
    assert sharing_problem("MAIN_API_KEY", "http://api.openai.com/v1", others) != ""


def test_a_key_is_withheld_until_confirmed_for_the_base_urls_origin():
    rules = KeyRules()
    spec = ProviderSpec(name="p", kind="openai", base_url="https://api.example.com/v1", model="m",
                        api_key_env="P_API_KEY", key_origin="https://api.example.com:443")
    assert withheld_reason(spec, rules) == ""
    moved = ProviderSpec(name="p", kind="openai", base_url="http://10.0.0.5/v1", model="m", api_key_env="P_API_KEY",
                         key_origin="https://api.example.com:443")
    reason = withheld_reason(moved, rules)
    assert "confirm" in reason and "http://10.0.0.5:80" in reason
    keyless = ProviderSpec(name="p", kind="ollama", base_url="http://10.0.0.5", model="m")
    assert withheld_reason(keyless, rules) == ""
