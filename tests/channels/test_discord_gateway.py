"""The Discord Gateway connector against a fake Gateway on loopback, over real sockets.

The connector runs with `RecordingLink` as the gateway's stand-in (what is stored, refused and
saved as the cursor); the parser of MESSAGE_CREATE and the reply to a channel are tested directly
against the fake's REST side. The whole path under gunicorn is in test_discord_gateway_gunicorn.py.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from smartbot.channels.connect.discord import INTENTS, DiscordGateway
from smartbot.channels.discord import DiscordChannel, DiscordConfig
from smartbot.errors import ConfigError, DeliveryError, PayloadError
from smartbot.messages import Reply
from smartbot.settings.schema import build
from tests.support.fake_discord_gateway import BOT_ID, BOT_TOKEN, WANTED_INTENTS, FakeDiscordGateway
from tests.support.recording_link import RecordingLink

GUILD = "1600000000000000001"
ALICE = {"id": "1400000000000000001", "username": "alice", "global_name": "Alice"}


@pytest.fixture
def fake():
    server = FakeDiscordGateway().start()
    yield server
    server.stop()
    assert server.ws.errors == []


def _channel(fake: FakeDiscordGateway, **extra) -> DiscordChannel:
    settings = {"application_id": BOT_ID, "public_key": SigningKey(bytes(32)).verify_key.encode().hex(),
                "bot_token": BOT_TOKEN, "api_base": fake.api_base, **extra}
    return DiscordChannel(build(DiscordConfig, settings, "channels.discord"))


@pytest.fixture
def gateway(fake):
    """Start the connector (the holder's loop) on a link; returns the link."""
    links = []

    def start(link: RecordingLink | None = None, **settings) -> RecordingLink:
        links.append((link or RecordingLink()).start(DiscordGateway(_channel(fake, **settings))))
        return links[-1]

    yield start
    for link in links:
        link.stop()


def test_it_identifies_with_the_message_intents_and_saves_the_session(fake, gateway):
    link = gateway()
    fake.wait_connected()
    assert "Gateway session" in link.wait_state("up")[0]
    assert INTENTS == WANTED_INTENTS
    assert fake.identifies[0]["intents"] == WANTED_INTENTS and fake.identifies[0]["token"] == BOT_TOKEN
    assert fake.queries[0] == {"v": "10", "encoding": "json"}
    cursor = link.cursor()
    assert cursor["bot_user_id"] == BOT_ID and cursor["seq"] == 1 and cursor["session_id"]
    assert cursor["resume_gateway_url"].endswith("/resume")


def test_a_dm_a_mention_and_a_reply_to_the_bot_are_messages_other_talk_is_not(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.message("what is the disk usage?", channel_id="1500000000000000009")                    # a DM
    fake.message(f"<@{BOT_ID}> restart worker", guild_id=GUILD, mentions=[{"id": BOT_ID}])
    fake.message(f"hey <@!{BOT_ID}>   summarise this log", guild_id=GUILD, mentions=[{"id": BOT_ID}])
    fake.message("lunch anyone?", guild_id=GUILD)                                                 # not for us
    fake.message(f"<@{BOT_ID}> I am a bot", guild_id=GUILD, mentions=[{"id": BOT_ID}],
                 author={"id": "1400000000000000007", "username": "otherbot", "bot": True})
    fake.message("my own answer", guild_id=GUILD, author={"id": BOT_ID, "username": "smartbot", "bot": True})
    fake.message("and the second one?", guild_id=GUILD, type=19,
                 referenced_message={"id": "1", "author": {"id": BOT_ID, "bot": True}, "content": "..."})
    stored = link.wait_stored(4)
    fake.message("after everything", channel_id="1500000000000000009")
    stored = link.wait_stored(5)
    assert [(m.chat_type, m.text) for m in stored] == [
        ("direct", "what is the disk usage?"), ("group", "restart worker"), ("group", "hey summarise this log"),
        ("group", "and the second one?"), ("direct", "after everything")]
    first = stored[0]
    assert first.event_id == first.message_id and first.user_id == ALICE["id"] and first.user_name == "Alice"
    assert first.reply_context == {"channel_id": "1500000000000000009", "message_id": first.message_id}
    assert link.cursor()["seq"] == 9                 # READY, then eight messages: saved after the last store


def test_the_same_message_twice_and_replayed_after_a_resume_is_stored_once(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.message("ping", message_id="1300000000000000500")
    fake.message("ping", message_id="1300000000000000500")
    link.wait_stored(1)
    fake.wait_for(lambda: link.cursor().get("seq") == 3)
    fake.drop()
    fake.wait_connected(opens=2)
    fake.message("ping", message_id="1300000000000000500")
    fake.message("pong", message_id="1300000000000000501")
    stored = link.wait_stored(2)
    assert [m.text for m in stored] == ["ping", "pong"] and link.duplicates == 2
    assert len(fake.identifies) == 1 and len(fake.resumes) == 1


def test_a_dropped_connection_resumes_and_what_came_meanwhile_is_replayed(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.drop()
    fake.message("sent while the bot was away")                # kept by the session, replayed on RESUME
    fake.wait_connected(opens=2)
    stored = link.wait_stored(1)
    assert [m.text for m in stored] == ["sent while the bot was away"]
    assert len(fake.identifies) == 1 and fake.resumes[0]["seq"] == 1
    assert link.wait_state("up", 2)[1] == "Gateway session resumed"


def test_a_process_taking_the_connection_over_resumes_from_the_saved_cursor(fake, gateway):
    first = gateway()
    fake.wait_connected()
    fake.message("before the takeover")
    first.wait_stored(1)
    successor = RecordingLink()
    successor.save_cursor(first.cursor())
    fake.drop()
    first._stop.set()                                          # the old holder is gone
    fake.message("during the takeover")
    gateway(successor)
    stored = successor.wait_stored(1)
    assert [m.text for m in stored] == ["during the takeover"]
    assert fake.resumes[-1]["session_id"] == first.cursor()["session_id"] and fake.resumes[-1]["seq"] == 2


def test_reconnect_and_a_resumable_invalid_session_resume(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.reconnect()
    fake.wait_connected(opens=2)
    fake.invalidate(resumable=True)
    fake.wait_connected(opens=3)
    assert len(fake.identifies) == 1 and len(fake.resumes) == 2
    assert any("RECONNECT" in reason for reason in link.wait_state("down"))


def test_an_invalid_session_identifies_anew_after_a_wait(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.invalidate(resumable=False)
    fake.wait_connected(opens=2)
    assert len(fake.identifies) == 2 and fake.resumes == []
    assert link.cursor()["session_id"] != link.saved[0]["session_id"]
    fake.message("in the new session")
    assert [m.text for m in link.wait_stored(1)] == ["in the new session"]


def test_heartbeats_carry_the_sequence_and_a_missing_ack_means_reconnect(fake, gateway):
    fake.heartbeat_ms = 200
    gateway()
    fake.wait_connected()
    fake.message("one")
    assert fake.wait_for(lambda: 2 in fake.heartbeats)
    fake.ack_heartbeats = False
    fake.wait_connected(opens=2)
    assert len(fake.identifies) == 1 and len(fake.resumes) == 1


def test_malformed_frames_are_refused_and_the_connection_kept(fake, gateway):
    link = gateway()
    fake.wait_connected()
    fake.send_raw("{not json")
    fake.dispatch("MESSAGE_CREATE", "not an object")
    fake.dispatch("MESSAGE_CREATE", {"id": "1", "channel_id": "../../users/@me", "type": 0, "content": "x",
                                     "author": {"id": "1400000000000000001"}})
    fake.dispatch("MESSAGE_CREATE", {"id": "2", "content": "no author"})
    fake.message("still here")
    stored = link.wait_stored(1)
    assert [reason for reason, _ in link.wait_refused(4)] == [
        "a frame that is not JSON", "a dispatch without an object", "message.channel_id is not a Discord id",
        "missing field: message.author (an object)"]
    assert [m.text for m in stored] == ["still here"] and fake.ready == 1


def test_without_the_message_content_intent_it_stops_with_the_fix(fake):
    fake.allow_message_content = False
    link = RecordingLink()
    with pytest.raises(ConfigError) as refused:
        DiscordGateway(_channel(fake)).run(link)
    assert "Message Content Intent" in str(refused.value)


def test_a_wrong_bot_token_is_a_config_error_that_does_not_show_it(fake):
    with pytest.raises(ConfigError) as refused:
        DiscordGateway(_channel(fake, bot_token="wrong-token")).run(RecordingLink())
    assert "channels.discord.bot_token" in str(refused.value) and "wrong-token" not in str(refused.value)
    assert fake.identifies == []


def test_no_identify_while_the_daily_session_starts_are_used_up(fake):
    fake.starts_remaining = 0
    link = RecordingLink()
    DiscordGateway(_channel(fake)).run(link)
    assert "session starts are used up" in link.wait_state("down")[0]
    assert fake.identifies == [] and fake.ws.opened == 0


def test_a_reply_is_posted_to_the_channel_as_a_reply_that_pings_nobody(fake):
    channel = _channel(fake)
    channel.send(Reply("discord", "1500000000000000009", "hello @everyone",
                       {"channel_id": "1500000000000000009", "message_id": "1300000000000000042"}))
    sent = fake.wait_replies(1)[0]
    assert sent["channel_id"] == "1500000000000000009" and sent["content"] == "hello @everyone"
    assert sent["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert sent["message_reference"] == {"message_id": "1300000000000000042", "fail_if_not_exists": False}
    with pytest.raises(DeliveryError) as refused:
        _channel(fake, bot_token="wrong").send(Reply("discord", "1", "x", {"channel_id": "1500000000000000009"}))
    assert not refused.value.retryable and "wrong" not in refused.value.reason
    with pytest.raises(DeliveryError):
        channel.send(Reply("discord", "1", "x", {"channel_id": "1/../../users/@me"}))


def test_the_parser_needs_an_author_and_digit_ids(fake):
    channel = _channel(fake)
    with pytest.raises(PayloadError):
        channel.parse_message({"id": "1", "channel_id": "2", "content": "hi"}, BOT_ID)
    with pytest.raises(PayloadError):
        channel.parse_message({"id": "1x", "channel_id": "2", "content": "hi", "author": ALICE}, BOT_ID)
    assert channel.parse_message({"id": "1", "channel_id": "2", "content": "", "author": ALICE}, BOT_ID) == []
    assert channel.parse_message({"id": "1", "channel_id": "2", "content": "joined", "type": 7,
                                  "author": ALICE}, BOT_ID) == []


def test_connect_mode_needs_only_the_bot_token_and_webhook_mode_its_keys(fake):
    config = build(DiscordConfig, {"mode": "connect", "bot_token": BOT_TOKEN}, "channels.discord")
    assert DiscordChannel(config).config.public_key == ""
    with pytest.raises(ConfigError) as missing:
        build(DiscordConfig, {"mode": "connect"}, "channels.discord")
    assert "channels.discord.bot_token" in str(missing.value)
    with pytest.raises(ConfigError) as webhook:
        build(DiscordConfig, {"bot_token": BOT_TOKEN}, "channels.discord")
    assert "channels.discord.application_id" in str(webhook.value) and "webhook mode" in str(webhook.value)


def test_a_store_that_fails_is_not_counted_and_the_message_comes_again_on_resume(fake, gateway):
    link = RecordingLink()
    link.fail_next_store()
    gateway(link)
    fake.wait_connected()
    fake.message("stored on the second try")
    fake.wait_connected(opens=2)                 # the connector dropped the connection, then resumed
    stored = link.wait_stored(1)
    assert [m.text for m in stored] == ["stored on the second try"]
    assert len(fake.identifies) == 1 and fake.resumes[0]["seq"] == 1      # the failed event was not saved


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                     max_leaves=12)
_field = st.sampled_from(["id", "channel_id", "guild_id", "type", "content", "author", "mentions", "attachments",
                          "referenced_message", "member", "webhook_id"])


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(message=st.dictionaries(_field, _json | st.fixed_dictionaries({"id": _json, "bot": _json}), max_size=8))
def test_any_message_create_parses_or_is_refused_with_a_reason(message):
    channel = DiscordChannel(build(DiscordConfig, {"mode": "connect", "bot_token": BOT_TOKEN}, "channels.discord"))
    try:
        parsed = channel.parse_message(message, BOT_ID)
    except PayloadError as exc:
        assert exc.reason
    else:
        assert all(m.chat_id.isdigit() and m.event_id.isdigit() for m in parsed)


def test_a_button_press_over_the_gateway_is_stored_then_acknowledged(fake, gateway):
    link = gateway()
    fake.wait_connected()
    link.wait_state("up")
    press = {"type": 3, "id": "1700000000000000001", "application_id": BOT_ID, "token": "press-token",
             "channel_id": "1500000000000000001", "guild_id": GUILD, "member": {"user": ALICE},
             "message": {"id": "1800000000000000001"}, "data": {"component_type": 2, "custom_id": "a:1:AAAAAAAAAAA"}}
    fake.dispatch("INTERACTION_CREATE", press)
    fake.dispatch("INTERACTION_CREATE", {**press, "id": "1700000000000000002", "data": {"custom_id": "other"}})
    stored = link.wait_stored(1)
    assert [(m.event_id, m.press, m.reply_context["application_id"]) for m in stored] == [
        ("press:1700000000000000001", "a:1:AAAAAAAAAAA", BOT_ID)]
    deadline = time.monotonic() + 10
    while not fake.interaction_callbacks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.interaction_callbacks == [
        {"path": "/api/v10/interactions/1700000000000000001/press-token/callback", "json": {"type": 6}}]
