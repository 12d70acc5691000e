"""Images, voice notes and files, end to end: a Telegram (or Slack, Discord) message naming a file,
the file fetched by the worker from the fake platform's file API, checked, and given to the fake
model (each API kind) as it reads it; refusals told to the user and audited."""
from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from typing import Any

import pytest
import sqlalchemy as sa

from smartbot.storage.tables import ModelUsage
from tests.support.fake_anthropic import FakeAnthropic
from nacl.signing import SigningKey

from tests.support.fake_chat_apis import (DISCORD_APP_ID, DISCORD_SIGNING_SEED, SLACK_SIGNING_SECRET, TELEGRAM_SECRET,
                                          channel_config)
from tests.support.fake_files import FakeFileApis, FakeTranscriber
from tests.support.fake_model import FakeModel
from tests.support.fake_ollama import FakeOllama
from tests.support.fake_platform import FakePlatform
from tests.support.platform_clients import (DiscordSender, SlackSender, TelegramSender, model_answer, quiet_for,
                                            sample, wait_for_audit)


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"OpusHead" + b"\x01" * 200


def pdf_with(text: str) -> bytes:
    """A minimal one-page PDF whose page draws `text` (what pypdf reads back)."""
    stream = f"BT /F1 12 Tf 10 10 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


@pytest.fixture
def files():
    server = FakeFileApis().start()
    yield server
    server.stop()


@pytest.fixture
def transcriber():
    server = FakeTranscriber().start()
    yield server
    server.stop()


@pytest.fixture
def bot(live_app, make_config, files, transcriber):
    """An app whose Telegram and Slack channels use the fake file APIs, answering with `model`
    (kind, server, vision) and transcribing with the fake transcriber unless `speech=False`."""
    def start(model: Any, kind: str = "openai", vision: bool = True, speech: bool = True, media: dict | None = None,
              quotas: dict | None = None):
        providers = [{"name": "main", "kind": kind, "base_url": model.base_url, "model": "fake-1", "vision": vision,
                      "read_timeout": 5.0, "total_timeout": 8.0, "max_retries": 0},
                     {"name": "speech", "kind": "openai", "base_url": transcriber.base_url, "model": "unused",
                      "api_key_env": "SPEECH_API_KEY", "max_retries": 0}]
        config = make_config(providers=providers, models={"default": "main"},
                             channels={"telegram": channel_config("telegram", files),
                                       "slack": channel_config("slack", files),
                                       "discord": channel_config("discord", files)},
                             speech={"provider": "speech", "model": "whisper-test"} if speech else {},
                             media=media or {}, **({"quotas": quotas} if quotas else {}))
        return live_app(config)
    return start


@pytest.fixture(autouse=True)
def speech_key(monkeypatch):
    monkeypatch.setenv("SPEECH_API_KEY", "sk-speech-test")


def _send_telegram(app, message_id: int, **fields: Any) -> None:
    update = sample("telegram_private_text.json")
    update["update_id"] = 900000 + message_id
    message = update["message"]
    message.pop("text")
    message["from"]["language_code"] = "en"
    message.update(message_id=message_id, date=int(time.time()), **fields)
    assert TelegramSender(app.url, TELEGRAM_SECRET).post(update).json()["status"] == "accepted"


def _replies(files: FakeFileApis, count: int) -> list[str]:
    sent = [r for r in files.wait_for("telegram", count) if r["path"].endswith("/sendMessage")]
    quiet_for(0.3)
    return [r["json"]["text"] for r in files.delivered("telegram") if r["path"].endswith("/sendMessage")]


def _photo(files: FakeFileApis, data: bytes, key: str = "photo-1", caption: str = "what colour is this?",
           **extra: Any) -> dict[str, Any]:
    files.add("telegram", key, data, **extra)
    return {"photo": [{"file_id": key, "width": 2, "height": 2}], **({"caption": caption} if caption else {})}


def _details(row: Any) -> dict[str, Any]:
    return row.details if isinstance(row.details, dict) else json.loads(row.details)


def test_image_reaches_an_openai_compatible_vision_provider_as_an_image_url_part(bot, files, fake_model):
    app = bot(fake_model)
    image = png()
    _send_telegram(app, 1, **_photo(files, image))
    [reply] = _replies(files, 1)
    user = fake_model.requests[-1]["json"]["messages"][-1]
    text_part, image_part = user["content"]
    assert text_part["type"] == "text" and text_part["text"].startswith("what colour is this?")
    assert image_part == {"type": "image_url",
                          "image_url": {"url": "data:image/png;base64," + base64.b64encode(image).decode()}}
    assert "cannot read images" not in reply
    assert files.downloads == ["photo-1"]


@pytest.mark.parametrize("kind", ["anthropic", "ollama"])
def test_image_reaches_anthropic_and_ollama_in_their_own_shapes(bot, files, kind):
    server = (FakeAnthropic() if kind == "anthropic" else FakeOllama()).start()
    try:
        app = bot(server, kind=kind)
        image = png()
        _send_telegram(app, 2, **_photo(files, image))
        _replies(files, 1)
        user = server.requests[-1]["json"]["messages"][-1]
        encoded = base64.b64encode(image).decode()
        if kind == "anthropic":
            assert user["content"][0] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                      "data": encoded}}
            assert user["content"][1]["text"].startswith("what colour is this?")
        else:
            assert user["images"] == [encoded] and user["content"].startswith("what colour is this?")
    finally:
        server.stop()


def test_a_provider_that_cannot_see_gets_a_note_and_the_user_is_told(bot, files, fake_model):
    app = bot(fake_model, vision=False)
    _send_telegram(app, 3, **_photo(files, png()))
    [reply] = _replies(files, 1)
    user = fake_model.requests[-1]["json"]["messages"][-1]
    assert isinstance(user["content"], str) and "this model cannot see images" in user["content"]
    assert "base64" not in str(fake_model.requests[-1]["json"])
    assert "this model cannot read images" in reply


def test_voice_note_is_transcribed_and_answered_as_the_users_text(bot, files, fake_model, transcriber):
    app = bot(fake_model)
    files.add("telegram", "voice-1", OGG)
    _send_telegram(app, 4, voice={"file_id": "voice-1", "duration": 2, "mime_type": "audio/ogg"})
    [reply] = _replies(files, 1)
    [call] = transcriber.calls
    assert call["model"] == "whisper-test" and call["file"] == OGG
    assert call["authorization"] == "Bearer sk-speech-test"
    assert "what is the disk usage on web-1" in fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert "what is the disk usage on web-1" in reply
    [row] = wait_for_audit(app, "media.transcribed")
    assert _details(row)["provider"] == "speech" and _details(row)["model"] == "whisper-test"


def test_voice_note_without_a_speech_provider_gets_a_clear_answer_and_no_model_call(bot, files, fake_model,
                                                                                     transcriber):
    app = bot(fake_model, speech=False)
    files.add("telegram", "voice-2", OGG)
    _send_telegram(app, 5, voice={"file_id": "voice-2", "duration": 2, "mime_type": "audio/ogg"})
    [reply] = _replies(files, 1)
    assert "no speech-to-text service is set up" in reply
    assert fake_model.calls() == 0 and transcriber.calls == [] and files.downloads == []


def test_a_text_file_is_read_and_given_to_the_model_with_its_name(bot, files, fake_model):
    app = bot(fake_model)
    files.add("telegram", "doc-1", b"host,disk\nweb-1,91%\n")
    _send_telegram(app, 6, document={"file_id": "doc-1", "file_name": "disks.csv", "mime_type": "text/csv"},
                   caption="which host is fullest?")
    _replies(files, 1)
    content = fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert content.startswith("which host is fullest?")
    assert "[file: disks.csv]\nhost,disk\nweb-1,91%" in content


def test_a_pdfs_text_is_read(bot, files, fake_model):
    pytest.importorskip("pypdf", reason="the pdf extra (pypdf) is in requirements-dev.txt")
    app = bot(fake_model)
    files.add("telegram", "doc-2", pdf_with("Quarterly disk report"))
    _send_telegram(app, 7, document={"file_id": "doc-2", "file_name": "report.pdf", "mime_type": "application/pdf"})
    _replies(files, 1)
    assert "Quarterly disk report" in fake_model.requests[-1]["json"]["messages"][-1]["content"]


def test_other_files_are_named_not_read(bot, files, fake_model):
    app = bot(fake_model)
    files.add("telegram", "doc-3", b"PK\x03\x04" + b"\x00" * 100)
    _send_telegram(app, 8, document={"file_id": "doc-3", "file_name": "bundle.zip", "mime_type": "application/zip"},
                   caption="keep this")
    _replies(files, 1)
    content = fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert "[file: bundle.zip, not read]" in content and "PK" not in content


def test_a_file_declared_too_large_is_refused_without_a_download(bot, files, fake_model):
    app = bot(fake_model, media={"max_bytes": 4096})
    _send_telegram(app, 9, **_photo(files, png() + b"\x00" * 8000, caption=""))
    [reply] = _replies(files, 1)
    assert "larger than 4 KB" in reply
    assert files.downloads == [] and fake_model.calls() == 0
    [row] = wait_for_audit(app, "media.refused")
    assert _details(row)["code"] == "too_large" and row.result == "denied"


def test_a_download_is_stopped_at_the_cap_when_the_size_was_not_declared(bot, files, fake_model):
    app = bot(fake_model, media={"max_bytes": 4096})
    _send_telegram(app, 10, **_photo(files, png() + b"\x00" * 500_000, caption="", sized=False))
    [reply] = _replies(files, 1)
    assert "larger than 4 KB" in reply and fake_model.calls() == 0
    assert _details(wait_for_audit(app, "media.refused")[0])["code"] == "too_large"


def test_a_mislabelled_image_is_refused_with_a_reason_and_audited(bot, files, fake_model):
    app = bot(fake_model)
    _send_telegram(app, 11, **_photo(files, b"#!/bin/sh\nrm -rf /\n", caption=""))
    [reply] = _replies(files, 1)
    assert "its contents are not what its type says" in reply and fake_model.calls() == 0
    [row] = wait_for_audit(app, "media.refused")
    assert _details(row)["code"] == "mislabelled" and "sent as image" in _details(row)["reason"]


def test_a_file_with_a_question_still_answers_the_question_when_the_file_is_refused(bot, files, fake_model):
    app = bot(fake_model)
    _send_telegram(app, 12, **_photo(files, b"not an image at all"))
    [reply] = _replies(files, 1)
    assert reply.startswith("echo: what colour is this?")
    assert "its contents are not what its type says" in reply


def test_media_counts_against_the_senders_quota(bot, files, fake_model):
    app = bot(fake_model, media={"tokens_per_image": 700})
    _send_telegram(app, 13, **_photo(files, png()))
    _replies(files, 1)
    quiet_for(0.3)
    table = ModelUsage.__table__
    with app.runtime.db.read() as conn:
        rows = conn.execute(sa.select(table.c.provider, table.c.prompt_tokens)).all()
    assert ("media", 700) in [(r.provider, r.prompt_tokens) for r in rows]


def test_a_url_a_slack_message_names_off_slacks_file_host_is_never_fetched(bot, files, fake_model):
    elsewhere = FakePlatform().start()
    try:
        app = bot(fake_model)
        event = sample("slack_im_message.json")
        event["event"].update(subtype="file_share", text="look https://evil.example/x.png", files=[
            {"id": "F9", "name": "x.png", "mimetype": "image/png", "url_private": elsewhere.url + "/x.png"}])
        assert SlackSender(app.url, SLACK_SIGNING_SECRET).post(event).status_code == 200
        [sent] = files.wait_for("slack", 1)
        quiet_for(0.3)
        assert "could not download x.png" in sent["json"]["text"]
        assert elsewhere.attempts == 0 and elsewhere.received == []
        assert _details(wait_for_audit(app, "media.refused")[0])["code"] == "unavailable"
    finally:
        elsewhere.stop()


def test_a_slack_file_comes_from_url_private_with_the_bot_token(bot, files, fake_model):
    app = bot(fake_model)
    url = files.add("slack", "F1", b"uptime 41 days\n")
    event = sample("slack_im_message.json")
    event["event"].update(subtype="file_share", text="summarise", files=[
        {"id": "F1", "name": "uptime.log", "mimetype": "text/plain", "url_private": url}])
    SlackSender(app.url, SLACK_SIGNING_SECRET).post(event)
    files.wait_for("slack", 1)
    assert files.downloads == ["F1"]
    assert "[file: uptime.log]\nuptime 41 days" in fake_model.requests[-1]["json"]["messages"][-1]["content"]


def _answer_with_image(fake_model: FakeModel, image: bytes) -> None:
    encoded = base64.b64encode(image).decode()
    fake_model.script(model_answer(f"Here is the chart: ![disk chart](data:image/png;base64,{encoded})"))


def _wait_uploads(files: FakeFileApis, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(files.uploads) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    quiet_for(0.3)
    return files.uploads


def test_an_image_in_the_models_answer_is_sent_with_telegrams_sendphoto(bot, files, fake_model):
    app = bot(fake_model)
    image = png(3, 3)
    _answer_with_image(fake_model, image)
    _send_telegram(app, 20, text="draw the disk chart")
    [upload] = _wait_uploads(files, 1)
    [text] = _replies(files, 1)
    assert text == "Here is the chart: [disk-chart-1.png]" and "base64" not in text
    assert upload["method"] == "sendPhoto"
    assert upload["fields"]["photo"] == ("disk-chart-1.png", image)
    assert upload["fields"]["chat_id"] == "5550001"


def test_an_image_in_the_models_answer_is_uploaded_to_slack_with_files_upload_v2(bot, files, fake_model):
    app = bot(fake_model)
    image = png(4, 4)
    _answer_with_image(fake_model, image)
    event = sample("slack_im_message.json")
    event["event"]["text"] = "draw the disk chart"
    SlackSender(app.url, SLACK_SIGNING_SECRET).post(event)
    upload, complete = _wait_uploads(files, 2)
    assert upload == {"platform": "slack", "step": "upload", "bytes": image}
    assert complete["json"]["files"] == [{"id": "F77", "title": "disk-chart-1.png"}]
    assert complete["json"]["channel_id"] == event["event"]["channel"]


def test_a_data_url_that_is_not_an_image_stays_text(bot, files, fake_model):
    app = bot(fake_model)
    fake_model.script(model_answer("raw: data:image/png;base64," + base64.b64encode(b"#!/bin/sh echo hi").decode()))
    _send_telegram(app, 21, text="show me")
    [text] = _replies(files, 1)
    assert text.startswith("raw: data:image/png;base64,") and files.uploads == []


def test_an_image_in_the_models_answer_is_a_discord_attachment(bot, files, fake_model):
    app = bot(fake_model)
    image = png(5, 5)
    _answer_with_image(fake_model, image)
    command = sample("discord_slash_ask.json")
    command["data"]["options"] = [{"type": 3, "name": "text", "value": "draw the disk chart"}]
    assert DiscordSender(app.url, SigningKey(DISCORD_SIGNING_SEED)).post(command).status_code == 200
    uploads = [u for u in _wait_uploads(files, 1) if u["platform"] == "discord"]
    [upload] = uploads
    assert upload["path"].startswith(f"/discord/api/v10/webhooks/{DISCORD_APP_ID}/")
    assert upload["fields"]["files[0]"] == ("disk-chart-1.png", image)
    assert json.loads(upload["fields"]["payload_json"])["attachments"] == [{"id": 0, "filename": "disk-chart-1.png"}]


def test_an_image_sent_as_a_document_reaches_the_model_as_an_image(bot, files, fake_model):
    app = bot(fake_model)
    image = png()
    files.add("telegram", "doc-png", image)
    _send_telegram(app, 22, document={"file_id": "doc-png", "file_name": "screen.png", "mime_type": "image/png"})
    _replies(files, 1)
    parts = fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert parts[-1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(image).decode()
