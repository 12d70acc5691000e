"""Slack end to end: events signed by slack_sdk, replies at a fake Web API on loopback."""
from __future__ import annotations

import time

import pytest

from smartbot.gateway import inbox
from tests.support.fake_chat_apis import SLACK_SIGNING_SECRET, SLACK_TOKEN, channel_config
from tests.support.platform_clients import (SlackSender, audit_rows, inbox_rows, model_answer, quiet_for, sample,
                                            wait_for_audit)

BOT_USER = "U0BOT"


@pytest.fixture
def slack(live_app, make_config, fake_model, fake_chat_apis):
    """Start the app with a Slack channel (extra settings as keywords); returns (app, sender)."""
    def start(**settings):
        app = live_app(make_config(model=fake_model,
                                   channels={"slack": channel_config("slack", fake_chat_apis, **settings)}))
        return app, SlackSender(app.url, SLACK_SIGNING_SECRET)
    return start


def _with_bot(payload):
    """Events carry the installation's bot in `authorizations`."""
    payload["authorizations"] = [{"team_id": "T0TEST", "user_id": BOT_USER, "is_bot": True}]
    return payload


def _channel_message(text, ts="1795550009.000900", event_id="Ev0TEST0009", **extra):
    return _with_bot({"type": "event_callback", "team_id": "T0TEST", "event_id": event_id, "event_time": 1,
                      "event": {"type": "message", "channel": "C0TEST", "channel_type": "channel", "user": "U0TEST",
                                "text": text, "ts": ts, **extra}})


def test_direct_message_gets_exactly_one_reply_in_its_thread(slack, fake_chat_apis):
    app, sender = slack()
    resp = sender.post(sample("slack_im_message.json"))
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    sent = fake_chat_apis.wait_for("slack", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("slack")) == 1
    assert sent[0]["path"] == "/chat.postMessage"
    assert sent[0]["headers"]["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert sent[0]["json"] == {"channel": "D0TEST", "text": "echo: restart worker",
                               "thread_ts": "1795550000.000100", "mrkdwn": True}


def test_plain_replies_are_escaped_and_sent_without_mrkdwn(slack, fake_chat_apis):
    app, sender = slack()
    payload = sample("slack_im_message.json")
    payload["event"]["user_profile"] = {"display_name": "<li> & co"}
    payload["event"]["text"] = "/whoami"
    sender.post(payload)
    sent = fake_chat_apis.wait_for("slack", 1)[0]["json"]
    assert sent["mrkdwn"] is False and sent["text"].splitlines()[0] == "&lt;li&gt; &amp; co (guest)"
    assert "an admin needs this identity: slack:" in sent["text"]


def test_url_verification_is_answered_with_the_challenge(slack):
    app, sender = slack()
    payload = sample("slack_url_verification.json")
    resp = sender.post(payload)
    assert resp.status_code == 200 and resp.json() == {"challenge": payload["challenge"]}
    unsigned = sender.post(payload, signature="v0=" + "0" * 64)
    assert unsigned.status_code == 401 and "challenge" not in unsigned.text


def test_app_mention_is_answered_without_the_mention(slack, fake_chat_apis):
    app, sender = slack()
    sender.post(sample("slack_app_mention.json"))
    sent = fake_chat_apis.wait_for("slack", 1)[0]["json"]
    assert sent["text"] == "echo: summarise the last deploy"
    assert sent["channel"] == "C0TEST" and sent["thread_ts"] == "1795550001.000200"


def test_message_and_app_mention_of_one_message_get_one_reply(slack, fake_chat_apis, fake_model):
    app, sender = slack()
    mention = _with_bot(sample("slack_app_mention.json"))
    as_message = _channel_message(mention["event"]["text"], ts=mention["event"]["ts"], event_id="Ev0OTHER")
    assert sender.post(as_message).json()["status"] == "accepted"
    assert sender.post(mention).json()["status"] == "duplicate"
    assert fake_chat_apis.wait_for("slack", 1)[0]["json"]["text"] == "echo: summarise the last deploy"
    quiet_for()
    assert len(fake_chat_apis.delivered("slack")) == 1 and fake_model.calls() == 1


def test_retries_and_replays_of_one_message_get_one_reply(slack, fake_chat_apis, fake_model):
    app, sender = slack()
    payload = sample("slack_im_message.json")
    assert sender.post(payload).json()["status"] == "accepted"
    assert sender.post(payload, retry_num=1).json()["status"] == "duplicate"
    payload["event_id"] = "Ev0REPLAYED"          # the same message under a new delivery id
    assert sender.post(payload, retry_num=2).json()["status"] == "duplicate"
    fake_chat_apis.wait_for("slack", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("slack")) == 1 and fake_model.calls() == 1


def test_channel_message_without_mention_gets_no_reply_unless_group_trigger_is_always(slack, fake_chat_apis):
    app, sender = slack()
    assert sender.post(_channel_message("the deploy is done")).json()["status"] == "accepted"
    sender.post(_channel_message(f"<@{BOT_USER}> and now?", ts="1795550010.000100", event_id="Ev2"))
    assert [s["json"]["text"] for s in fake_chat_apis.wait_for("slack", 1)] == ["echo: and now?"]
    quiet_for()
    assert len(fake_chat_apis.delivered("slack")) == 1

    app2, sender2 = slack(group_trigger="always")
    sender2.post(_channel_message("the deploy is done", ts="1795550011.000100", event_id="Ev3"))
    assert fake_chat_apis.wait_for("slack", 2)[1]["json"]["text"] == "echo: the deploy is done"


def test_reply_goes_to_the_thread_the_message_was_in(slack, fake_chat_apis):
    app, sender = slack()
    payload = _channel_message(f"<@{BOT_USER}> details?", thread_ts="1795550000.000001")
    sender.post(payload)
    assert fake_chat_apis.wait_for("slack", 1)[0]["json"]["thread_ts"] == "1795550000.000001"


def test_forged_stale_and_unsigned_requests_are_refused(slack, fake_chat_apis, fake_model):
    app, sender = slack()
    payload = sample("slack_im_message.json")
    forged = SlackSender(app.url, "not-the-signing-secret").post(payload)
    stale = sender.post(payload, timestamp=int(time.time()) - 600)
    future = sender.post(payload, timestamp=int(time.time()) + 600)
    garbled = sender.post(payload, signature="v0=abc")
    for resp in (forged, stale, future, garbled):
        assert resp.status_code == 401
    assert "does not match" in forged.json()["error"] and "window" in stale.json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []
    assert audit_rows(app, "webhook.refused")


def test_events_that_are_not_messages_from_people_are_ignored(slack, fake_chat_apis):
    app, sender = slack()
    im = sample("slack_im_message.json")["event"]
    events = [
        {**im, "bot_id": "B0OTHER", "text": "a bot talking"},
        {**im, "subtype": "message_changed"},
        {**im, "subtype": "channel_join", "text": "<@U0TEST> has joined"},
        {**im, "user": BOT_USER, "text": "our own reply"},
        {"type": "reaction_added", "user": "U0TEST", "reaction": "+1", "item": {"type": "message"}},
        {"type": "member_joined_channel", "user": "U0TEST", "channel": "C0TEST"},
    ]
    for i, event in enumerate(events):
        payload = _with_bot({"type": "event_callback", "event_id": f"EvIgnored{i}", "event": event})
        resp = sender.post(payload)
        assert (resp.status_code, resp.json()["status"]) == (200, "ignored"), event
    assert sender.post({"type": "app_rate_limited", "minute_rate_limited": 1}).json()["status"] == "ignored"
    quiet_for()
    assert inbox_rows(app) == 0 and fake_chat_apis.requests == []


def test_file_share_notes_the_attachment(slack, fake_chat_apis):
    app, sender = slack()
    payload = sample("slack_im_message.json")
    payload["event"].update(subtype="file_share", text="what is in this log?", files=[
        {"id": "F0LOG", "name": "app.log", "mimetype": "text/plain", "url_private": fake_chat_apis.url + "/x"}])
    sender.post(payload)
    # This fake serves no files: the log cannot be had, the question is still answered.
    assert fake_chat_apis.wait_for("slack", 1)[0]["json"]["text"].startswith("echo: what is in this log?")
    _, stored = inbox.load(app.runtime.db, 1)
    assert [(a.kind, a.name, a.key) for a in stored.attachments] == [("file", "app.log", "F0LOG")]


def test_malformed_bodies_get_400_and_nothing_else_happens(slack, fake_chat_apis, fake_model):
    app, sender = slack()
    bad = [b'{"type": "event_callback", "event": {', b'"just a string"', b"",
           {"type": "event_callback", "event_id": "Ev1", "event": {"type": "message", "user": "U1", "text": "x"}},
           {"type": "url_verification"}]
    for body in bad:
        resp = sender.post(body)
        assert resp.status_code == 400, body
        assert resp.json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []


@pytest.mark.parametrize("answer", [
    (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    (200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    (200, {"ok": False, "error": "internal_error"}, {}),
])
def test_rate_limits_and_slack_side_errors_are_retried(slack, fake_chat_apis, answer):
    app, sender = slack()
    fake_chat_apis.script("slack", answer)
    sender.post(sample("slack_im_message.json"))
    assert len(fake_chat_apis.wait_for("slack", 1, timeout=15)) == 1
    attempts = fake_chat_apis.attempts("slack")
    assert len(attempts) == 2
    if answer[2]:
        assert attempts[1]["at"] - attempts[0]["at"] >= 0.9


def test_invalid_token_fails_for_good_with_a_hint(slack, fake_chat_apis):
    app, sender = slack(bot_token="xoxb-revoked-token")
    sender.post(sample("slack_im_message.json"))
    failed = wait_for_audit(app, "reply.failed")
    assert len(failed) == 1 and "invalid_auth" in failed[0].details and "bot_token" in failed[0].details
    assert "xoxb-revoked-token" not in failed[0].details
    assert len(fake_chat_apis.attempts("slack")) == 1


def test_long_reply_is_split_and_markdown_becomes_mrkdwn(slack, fake_chat_apis, fake_model):
    app, sender = slack()
    words = " ".join(f"word{i}" for i in range(1000))     # ~8,900 characters
    fake_model.script(model_answer("**Load** is high & <rising>\n\n" + words))
    sender.post(sample("slack_im_message.json"))
    sent = fake_chat_apis.wait_for("slack", 3, timeout=15)
    texts = [s["json"]["text"] for s in sent]
    assert len(texts) == 3 and all(len(t) <= 3600 for t in texts)
    assert texts[0].startswith("*Load* is high &amp; &lt;rising&gt;")
    assert {s["json"]["thread_ts"] for s in sent} == {"1795550000.000100"}
