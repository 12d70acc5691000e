"""Each platform's file messages, from the shared samples given the platform's media fields, become
attachment references (kind, key or URL, name, declared type and size): parse records them and
never downloads (the platform waits for the ack)."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from smartbot.channels import registry
from smartbot.channels.base import Headers, WebRequest
from smartbot.messages import Attachment
from smartbot.settings import loading
from tests.support.fake_chat_apis import TELEGRAM_USERNAME, channel_config
from tests.support.platform_clients import sample

OPEN_PLATFORMS = {
    "feishu": {"app_id": "cli_x", "app_secret": "s" * 20, "verification_token": "v" * 20},
    "dingtalk": {"app_key": "ding_x", "app_secret": "d" * 20},
    "wecom": {"corp_id": "ww_x", "agent_id": 1000002, "secret": "w" * 20, "token": "t" * 10,
              "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
}


@pytest.fixture
def channel(fake_chat_apis):
    """A channel built from settings; its api_base is a server that records any call (there must be none)."""
    def build(platform: str):
        section = channel_config(platform, fake_chat_apis, **({"bot_username": TELEGRAM_USERNAME}
                                                             if platform == "telegram" else {})) \
            if platform in ("telegram", "slack", "discord") else {**OPEN_PLATFORMS[platform],
                                                                    "api_base": fake_chat_apis.url}
        settings = loading.load({"channels": {platform: section}}, env={"SMARTBOT_SECRET_KEY": "k" * 40})
        return registry.spec(platform).channel_class(settings.channels[platform])
    return build


def _request(body: Any = None, decoded: Any = None) -> WebRequest:
    raw = json.dumps(body).encode() if body is not None else b""
    return WebRequest("POST", "/webhooks/x", Headers({"Content-Type": "application/json"}), raw, decoded=decoded)


def _telegram(**fields: Any) -> dict[str, Any]:
    update = sample("telegram_private_text.json")
    message = update["message"]
    del message["text"]
    message.update(date=int(time.time()), **fields)
    return update


def test_telegram_photo_voice_and_document_are_references_with_their_declared_type_and_size(channel, fake_chat_apis):
    telegram = channel("telegram")
    photo = _telegram(photo=[{"file_id": "small", "file_size": 900, "width": 90, "height": 90},
                             {"file_id": "big", "file_size": 90000, "width": 900, "height": 900}], caption="what is this?")
    voice = _telegram(voice={"file_id": "v1", "duration": 3, "mime_type": "audio/ogg", "file_size": 5000})
    document = _telegram(document={"file_id": "d1", "file_name": "notes.md", "mime_type": "text/markdown",
                                   "file_size": 120})
    [m_photo] = telegram.parse(_request(photo))
    assert m_photo.text == "what is this?"
    assert m_photo.attachments == [Attachment("image", key="big", size=90000)]     # the largest size
    [m_voice] = telegram.parse(_request(voice))
    assert m_voice.attachments == [Attachment("voice", key="v1", mime="audio/ogg", size=5000)]
    [m_doc] = telegram.parse(_request(document))
    assert m_doc.attachments == [Attachment("file", name="notes.md", key="d1", mime="text/markdown", size=120)]
    assert fake_chat_apis.requests == []


def test_slack_files_keep_url_private_and_a_voice_clip_is_voice(channel, fake_chat_apis):
    event = sample("slack_im_message.json")
    event["event"].update(subtype="file_share", text="", files=[
        {"id": "F1", "name": "chart.png", "mimetype": "image/png", "size": 2048,
         "url_private": "https://files.slack.com/files-pri/T1-F1/chart.png"},
        {"id": "F2", "name": "audio_message.webm", "mimetype": "audio/webm", "subtype": "slack_audio", "size": 999,
         "url_private": "https://files.slack.com/files-pri/T1-F2/audio_message.webm"}])
    [msg] = channel("slack").parse(_request(event))
    assert msg.attachments == [
        Attachment("image", "chart.png", "https://files.slack.com/files-pri/T1-F1/chart.png", "F1", "image/png", 2048),
        Attachment("voice", "audio_message.webm", "https://files.slack.com/files-pri/T1-F2/audio_message.webm", "F2",
                   "audio/webm", 999)]
    assert fake_chat_apis.requests == []


def test_discord_message_attachments_and_a_voice_message(channel):
    discord = channel("discord")
    message = {"id": "1200000000000000001", "channel_id": "1200000000000000002", "type": 0, "content": "",
               "author": {"id": "1200000000000000003", "username": "ann"},
               "attachments": [
                   {"id": "1300", "filename": "shot.jpg", "content_type": "image/jpeg", "size": 4000,
                    "url": "https://cdn.discordapp.com/attachments/1/1300/shot.jpg?ex=1"},
                   {"id": "1301", "filename": "voice-message.ogg", "content_type": "audio/ogg", "size": 3000,
                    "waveform": "AAAA", "duration_secs": 2.0,
                    "url": "https://cdn.discordapp.com/attachments/1/1301/voice-message.ogg?ex=1"}]}
    [msg] = discord.parse_message(message, "1200000000000000009")
    assert [(a.kind, a.name, a.key, a.mime, a.size) for a in msg.attachments] == [
        ("image", "shot.jpg", "1300", "image/jpeg", 4000), ("voice", "voice-message.ogg", "1301", "audio/ogg", 3000)]


def test_feishu_image_and_audio_are_resource_keys(channel):
    feishu = channel("feishu")
    for kind, content, expected in (
            ("image", {"image_key": "img_v2_1"}, Attachment("image", key="img_v2_1")),
            ("audio", {"file_key": "file_v2_2", "duration": 2000}, Attachment("voice", key="file_v2_2")),
            ("file", {"file_key": "file_v2_3", "file_name": "log.txt"}, Attachment("file", "log.txt", key="file_v2_3"))):
        payload = sample("feishu_p2p_text.json")
        payload["event"]["message"].update(message_type=kind, content=json.dumps(content))
        [msg] = feishu.parse(_request(decoded=payload))
        assert msg.attachments == [expected]
        assert msg.message_id == payload["event"]["message"]["message_id"]     # the resource API needs it


def test_dingtalk_picture_and_file_are_download_codes(channel):
    dingtalk = channel("dingtalk")
    for kind, content, expected in (
            ("picture", {"downloadCode": "dc-1"}, Attachment("image", key="dc-1")),
            ("file", {"downloadCode": "dc-2", "fileName": "data.csv"}, Attachment("file", "data.csv", key="dc-2"))):
        payload = sample("dingtalk_group_at.json")
        payload.pop("text", None)
        payload.update(msgtype=kind, content=content)
        [msg] = dingtalk.parse(_request(payload))
        assert msg.attachments == [expected]


def test_wecom_image_is_a_media_id_and_its_picurl_is_not_kept(channel):
    wecom = channel("wecom")
    xml = ("<xml><ToUserName>ww_x</ToUserName><FromUserName>zhangsan</FromUserName><CreateTime>1700000000</CreateTime>"
           "<MsgType>image</MsgType><PicUrl>http://169.254.169.254/latest/meta-data</PicUrl><MediaId>media-1</MediaId>"
           "<MsgId>1234567890</MsgId><AgentID>1000002</AgentID></xml>")
    [msg] = wecom.parse(_request(decoded=xml))
    assert msg.attachments == [Attachment("image", key="media-1")]


def test_wecom_voice_with_wecoms_own_transcript_is_text(channel):
    xml = ("<xml><ToUserName>ww_x</ToUserName><FromUserName>zhangsan</FromUserName><CreateTime>1700000000</CreateTime>"
           "<MsgType>voice</MsgType><MediaId>media-2</MediaId><Format>amr</Format><Recognition>disk usage</Recognition>"
           "<MsgId>1234567891</MsgId><AgentID>1000002</AgentID></xml>")
    [msg] = channel("wecom").parse(_request(decoded=xml))
    assert msg.text == "disk usage" and msg.attachments == []
