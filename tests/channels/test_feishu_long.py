"""Feishu's long connection, the connector alone: against a fake Feishu on loopback that speaks pbbp2
over a real websocket with lark-oapi's own protobuf class (and is checked below with lark-oapi's
websocket client), with a recording stand-in for the gateway. The frame codec is checked against
lark-oapi's encoder byte for byte."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from smartbot.channels.connect.feishu import FeishuLongConnection
from smartbot.channels.connect.pbbp2 import Frame, FrameError
from smartbot.channels.feishu import FeishuChannel, FeishuConfig
from smartbot.errors import ConfigError
from smartbot.settings.schema import build
from tests.support.fake_feishu_ws import ENDPOINT_PATH, SERVICE_ID, FakeFeishuWs, lark_frame
from tests.support.platform_requests import feishu_event
from tests.support.recording_link import RecordingLink, link, serving  # noqa: F401 - link is a fixture

APP_ID, APP_SECRET = "cli_test", "feishu-long-connection-secret"


@pytest.fixture
def platform():
    yield from serving(FakeFeishuWs(APP_ID, APP_SECRET))


def _connector(platform: FakeFeishuWs, **section) -> FeishuLongConnection:
    config = build(FeishuConfig, {"app_id": APP_ID, "app_secret": APP_SECRET, "api_base": platform.url,
                                  "mode": "connect", **section}, "channels.feishu")
    return FeishuLongConnection(FeishuChannel(config))


# -- the frame codec ---------------------------------------------------------------------------
headers = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5)


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 2**64 - 1), log=st.integers(0, 2**64 - 1), service=st.integers(-2**31, 2**31 - 1),
       method=st.integers(-2**31, 2**31 - 1), headers=headers, payload=st.binary(max_size=200),
       text=st.text(max_size=20))
def test_frames_encode_as_lark_oapi_does_and_read_back(seq, log, service, method, headers, payload, text):
    ours = Frame(seq_id=seq, log_id=log, service=service, method=method, headers=headers, payload=payload,
                 payload_type=text, log_id_new=text)
    theirs = lark_frame(SeqID=seq, LogID=log, service=service, method=method, payload=payload, payload_type=text,
                        LogIDNew=text)
    for key, value in headers:
        header = theirs.headers.add()
        header.key, header.value = key, value
    assert ours.encode() == theirs.SerializeToString()
    assert Frame.decode(theirs.SerializeToString()) == ours


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_frame_or_a_frame_error(data):
    try:
        Frame.decode(data)
    except FrameError:
        pass


def test_a_frame_missing_a_required_field_is_refused():
    with pytest.raises(FrameError, match="required"):
        Frame.decode(b"\x08\x01")


# -- the connection ----------------------------------------------------------------------------
def test_an_event_is_stored_then_answered_with_code_200(platform, link):
    answered_before_store = []
    link.before_store = lambda messages: answered_before_store.append(bool(platform.answers("f-1")))
    link.start(_connector(platform))
    platform.event(feishu_event("feishu_p2p_text.json", message_id="om_long_1"), message_id="f-1")
    answer = platform.wait_answer("f-1")
    assert answered_before_store == [False]
    assert [(m.event_id, m.chat_type) for m in link.stored] == [("om_long_1", "direct")]
    assert json.loads(answer["payload"]) == {"code": 200} and answer["service"] == SERVICE_ID
    assert answer["headers"]["type"] == "event" and "biz_rt" in answer["headers"]
    assert platform.calls(ENDPOINT_PATH)[0]["json"] == {"AppID": APP_ID, "AppSecret": APP_SECRET}


def test_pings_name_the_service_and_follow_the_interval_feishu_sets(platform, link):
    platform.ping_interval = 5
    link.start(_connector(platform))
    assert platform.wait(lambda: len(platform.pings()) >= 1)
    assert platform.pings()[0]["service"] == SERVICE_ID


def test_an_event_split_into_parts_is_put_together(platform, link):
    link.start(_connector(platform))
    event = feishu_event("feishu_p2p_text.json", message_id="om_split", content=json.dumps({"text": "长" * 3000}))
    platform.event(event, message_id="f-split", parts=3)
    assert json.loads(platform.wait_answer("f-split")["payload"]) == {"code": 200}
    assert [m.text for m in link.wait_stored(1)] == ["长" * 3000]
    assert len(platform.answers("f-split")) == 1


def test_nothing_is_answered_when_the_store_fails_and_the_push_again_is_stored(platform, link):
    link.fail_next_store(1)
    link.start(_connector(platform))
    event = feishu_event("feishu_p2p_text.json", message_id="om_retry")
    platform.event(event, message_id="f-r")
    assert platform.wait_connections(2)
    assert platform.answers("f-r") == []
    platform.event(event, message_id="f-r")
    assert json.loads(platform.wait_answer("f-r")["payload"]) == {"code": 200}
    assert [m.event_id for m in link.stored] == ["om_retry"]
    platform.assert_one_at_a_time()


def test_a_dropped_connection_is_reopened(platform, link):
    link.start(_connector(platform))
    assert platform.wait_connections(1)
    platform.drop()
    assert platform.wait_connections(2)
    platform.event(feishu_event("feishu_p2p_text.json", message_id="om_after"))
    assert [m.event_id for m in link.wait_stored(1)] == ["om_after"]


@pytest.mark.parametrize("frame", ["text, not binary", b"\x0a\xff\xff", b"\x08\x01"])
def test_a_malformed_frame_is_refused_and_the_connection_kept(platform, link, frame):
    link.start(_connector(platform))
    platform.push(frame)
    assert link.wait_for(lambda: link.refused)
    platform.event(feishu_event("feishu_p2p_text.json", message_id="om_kept"))
    assert [m.event_id for m in link.wait_stored(1)] == ["om_kept"]
    assert platform.opened == 1 and len(link.refused) == 1


@pytest.mark.parametrize("event", [b"not json", b"[]", "another app"])
def test_an_event_that_does_not_parse_is_refused_and_answered_400(platform, link, event):
    if event == "another app":
        event = feishu_event("feishu_p2p_text.json")
        event["header"]["app_id"] = "cli_someone_else"
    link.start(_connector(platform))
    answer = platform.wait_answer(platform.event(event))
    assert json.loads(answer["payload"]) == {"code": 400}
    assert link.refused[0][0] == "malformed_frame" and "does not parse" in link.refused[0][1]["reason"]
    assert link.stored == []


def test_refused_credentials_are_reported_without_the_secret(platform, link):
    link.start(_connector(platform, app_secret="not-the-secret"))
    assert link.wait_for(lambda: link.ended)
    assert "code 514" in link.ended[0] and "not-the-secret" not in link.ended[0] and platform.opened == 0


def test_webhook_mode_still_needs_the_verification_token():
    with pytest.raises(ConfigError, match="verification_token"):
        build(FeishuConfig, {"app_id": APP_ID, "app_secret": APP_SECRET}, "channels.feishu")


def test_the_fake_speaks_to_lark_oapis_own_client_as_to_our_connector(platform, tmp_path):
    """lark-oapi's websocket client, in its own process, connects to the fake, gets the event
    through its dispatcher and answers the frame as our connector does."""
    script = tmp_path / "lark_client.py"
    script.write_text(textwrap.dedent(f"""
        import lark_oapi as lark
        def on_message(data):
            print("received", data.event.message.message_id, flush=True)
        handler = lark.EventDispatcherHandler.builder("", "").register_p2_im_message_receive_v1(on_message).build()
        lark.ws.Client({APP_ID!r}, {APP_SECRET!r}, event_handler=handler, domain={platform.url!r},
                       log_level=lark.LogLevel.ERROR).start()
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert platform.wait_connections(1, timeout=30)
        assert platform.wait(lambda: platform.pings())
        sdk_answer = platform.wait_answer(platform.event(feishu_event("feishu_p2p_text.json", message_id="om_sdk")))
        assert proc.stdout.readline().split() == ["received", "om_sdk"]
    finally:
        proc.kill()
        proc.wait(10)
    assert json.loads(sdk_answer["payload"]) == {"code": 200}
    assert platform.pings()[0]["service"] == SERVICE_ID

    link = RecordingLink().start(_connector(platform))
    try:
        ours = platform.wait_answer(platform.event(feishu_event("feishu_p2p_text.json", message_id="om_ours")))
    finally:
        link.stop()
    assert set(ours["headers"]) == set(sdk_answer["headers"]) and ours["method"] == sdk_answer["method"] == 1
