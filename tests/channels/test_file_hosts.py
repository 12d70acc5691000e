"""Which file URLs a channel may fetch: https on the platform's own file hosts, or the configured
api_base's origin; never a look-alike host, credentials in the URL, plain http or a backslash trick."""
from __future__ import annotations

import pytest

from smartbot.channels.support.files import on_hosts

SLACK = ("files.slack.com",)
API_BASE = "https://slack.com/api"


@pytest.mark.parametrize("url", [
    "https://files.slack.com/files-pri/T1-F1/x.png",
    "https://FILES.slack.com/files-pri/T1-F1/x.png",
    "http://127.0.0.1:9999/slack/files/F1",       # the api_base of a test's fake platform
])
def test_the_platforms_own_hosts_are_allowed(url):
    base = "http://127.0.0.1:9999/slack/api" if url.startswith("http://127.0.0.1") else API_BASE
    assert on_hosts(url, SLACK, base)


@pytest.mark.parametrize("url", [
    "http://files.slack.com/x.png",                         # not https
    "https://files.slack.com.evil.example/x.png",           # a look-alike
    "https://evilfiles.slack.com.example/x.png",
    "https://user:pw@files.slack.com/x.png",                # credentials in the URL
    "https://evil.example\\@files.slack.com/x.png",         # parsers disagree on backslashes
    "https://169.254.169.254/latest/meta-data",
    "https://127.0.0.1:9998/slack/files/F1",                # another port than api_base's
    "file:///etc/passwd",
    "",
    "not a url",
])
def test_anything_else_is_refused(url):
    assert not on_hosts(url, SLACK, "http://127.0.0.1:9999/slack/api")
