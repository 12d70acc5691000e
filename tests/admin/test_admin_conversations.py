"""The conversations page over HTTP: every turn (model answers, builtins, commands, later
messages), newlines kept, users by name, times, paging and search, and a 400 for every query
value that is not what it should be."""
from __future__ import annotations

import html
import re

import pytest

from tests.support.admin_page import admin_of
from tests.support.chat import say
from tests.support.executor import bind



@pytest.fixture
def site(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    return app, admin_of(app)


def _turns(page_html: str) -> list[tuple[str, str, str]]:
    """(side, who, text) of each turn on a conversation page, in order."""
    found = re.findall(r'<li class="turn (in|out)"[^>]*>\s*<div class="meta"><strong>(.*?)</strong>.*?'
                       r'<div class="text"[^>]*>(.*?)</div>', page_html, re.S)
    return [(side, html.unescape(who), html.unescape(text)) for side, who, text in found]


def _conversation_links(page_html: str) -> list[str]:
    return [html.unescape(k) for k in re.findall(r'<a href="/admin/conversations\?key=([^"]+)">', page_html)]


def test_every_turn_is_shown_with_the_users_name_times_and_newlines(site, fake_platform):
    app, page = site
    bind(app.runtime.db, "u-1", "alice", ["user"])
    say(app, fake_platform, "/help", "t1")
    say(app, fake_platform, "hello\nsecond line", "t2")
    say(app, fake_platform, "/whoami", "t3")
    listing = page.get("/admin/conversations").text
    row = listing[listing.index('class="conversation"'):]
    row = row[:row.index("</tr>")]
    assert ">alice</a>" in row and "generic:u-1" in row and "<time datetime=" in row and "<td>3</td>" in row
    detail = page.get("/admin/conversations", params={"key": "generic:chat-1:u-1"}).text
    turns = _turns(detail)
    assert [(side, who) for side, who, _ in turns] == [("in", "alice"), ("out", "SmartBot")] * 3
    texts = [text for _, _, text in turns]
    assert texts[0] == "/help" and texts[1].startswith("SmartBot can help with:\n/help - this list")
    assert texts[2] == "hello\nsecond line" and texts[3] == "echo: hello\nsecond line"
    assert texts[4:] == ["/whoami", "alice (user)"]
    assert detail.count("<time datetime=") == 6


def test_a_sender_bound_to_nobody_shows_the_platforms_name(site, fake_platform):
    app, page = site
    say(app, fake_platform, "/whoami", "t1", user="u-7")          # user_name "Alice", as the platform says
    listing = page.get("/admin/conversations").text
    assert ">Alice</a><br><small class=\"muted\">generic:u-7</small>" in listing


def test_a_message_sent_later_to_the_chat_is_in_the_conversation(site, fake_platform):
    app, page = site
    say(app, fake_platform, "/whoami", "t1")
    page.post("/admin/workflows", {"yaml": "name: note\nsteps:\n  - {name: tell, kind: message, text: later news}\n"})
    shown = page.post("/admin/workflows/note/run", {"args": "", "chat": "generic:chat-1"}).text
    assert "Run #1 of note started." in shown
    fake_platform.wait_for(3, 10)                       # the answer, the message, the run's notice
    detail = page.get("/admin/conversations", params={"key": "generic:chat-1:u-1"}).text
    assert [text for _, _, text in _turns(detail)][2] == "later news"


def test_conversations_are_paged(site, fake_platform):
    app, page = site
    for i in range(32):
        say(app, fake_platform, "/whoami", f"p{i}", user=f"user-{i:02}")
    first = page.get("/admin/conversations").text
    assert len(_conversation_links(first)) == 30 and 'id="older"' in first and 'id="newer"' not in first
    assert _conversation_links(first)[0] == "generic:chat-1:user-31"           # the latest first
    second = page.get("/admin/conversations?page=2").text
    assert _conversation_links(second) == ["generic:chat-1:user-01", "generic:chat-1:user-00"]
    assert 'id="newer"' in second and 'id="older"' not in second


def test_a_long_conversation_is_paged_back_to_its_start(site, fake_platform):
    app, page = site
    for i in range(52):
        say(app, fake_platform, f"/whoami {i}", f"m{i}")
    latest = page.get("/admin/conversations", params={"key": "generic:chat-1:u-1"}).text
    wrote = [text for side, _, text in _turns(latest) if side == "in"]
    assert len(wrote) == 50 and wrote[0] == "/whoami 2" and wrote[-1] == "/whoami 51"
    older = re.search(r'id="older" href="([^"]+)"', latest).group(1)
    earlier = page.get(html.unescape(older)).text
    assert [text for side, _, text in _turns(earlier) if side == "in"] == ["/whoami 0", "/whoami 1"]
    assert len(_turns(earlier)) == 4 and 'id="latest"' in earlier


def test_search_finds_text_literally_wildcards_and_quotes_included(site, fake_platform):
    app, page = site
    say(app, fake_platform, "/whoami 50%_off now", "a", user="u-a")
    say(app, fake_platform, "/whoami 50% off", "b", user="u-b")
    say(app, fake_platform, "/whoami 5000 off", "c", user="u-c")
    say(app, fake_platform, "/whoami it's \"quoted\" \\ here", "d", user="u-d")

    def found(**params) -> list[str]:
        return _conversation_links(page.get("/admin/conversations", params=params).text)

    assert found(q="50%_off") == ["generic:chat-1:u-a"]
    assert found(q="50%") == ["generic:chat-1:u-b", "generic:chat-1:u-a"]
    assert found(q="_") == ["generic:chat-1:u-a"]
    assert found(q='"quoted" \\') == ["generic:chat-1:u-d"]
    assert found(q="it's") == ["generic:chat-1:u-d"]
    assert found(q="' OR 1=1 --") == []
    assert found(q="user_id") == []                     # a field's name is not the message's text
    assert found(q="ALICE (GUEST)") == ["generic:chat-1:u-d", "generic:chat-1:u-c", "generic:chat-1:u-b",
                                        "generic:chat-1:u-a"]      # the answers too, whatever the case


def test_search_by_user_name_platform_name_or_id(site, fake_platform):
    app, page = site
    bind(app.runtime.db, "u-1", "wang", ["user"])
    say(app, fake_platform, "/whoami", "a", user="u-1")
    say(app, fake_platform, "/whoami", "b", user="u-2")                  # the platform calls u-2 "Alice"
    say(app, fake_platform, "/whoami", "c", user="u-2", chat="room-2")

    def found(**params) -> list[str]:
        return _conversation_links(page.get("/admin/conversations", params=params).text)

    assert found(user="WANG") == ["generic:chat-1:u-1"]
    assert found(user="alice") == ["generic:room-2:u-2", "generic:chat-1:u-2"]
    assert found(user="u-1") == ["generic:chat-1:u-1"]
    assert found(user="u-2", q="/whoami") == ["generic:room-2:u-2", "generic:chat-1:u-2"]
    assert found(user="%") == [] and found(user="nobody") == []


@pytest.mark.parametrize("query", ["page=nan", "page=-1", "page=0", "page=1e23", "page=" + "1" + "0" * 23,
                                   "page=abc", "page=1.5", "page=10001", "key=generic:chat-1:u-1&before=nan",
                                   "key=generic:chat-1:u-1&before=-5", "key=generic:chat-1:u-1&before=1e23",
                                   "q=" + "x" * 201, "user=" + "x" * 201])
def test_paging_and_search_values_that_are_not_what_they_should_be_are_a_400(site, fake_platform, query):
    app, page = site
    say(app, fake_platform, "/whoami", "a")
    resp = page.get("/admin/conversations?" + query)
    assert resp.status_code == 400, resp.text
    assert 'class="bad"' in resp.text and query.split("=")[-2].split("&")[-1] in resp.text


def test_an_unknown_conversation_is_a_404(site):
    app, page = site
    assert page.get("/admin/conversations", params={"key": "generic:nowhere:nobody"}).status_code == 404
