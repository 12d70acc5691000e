"""The web chat's upload endpoint: the same caps and checks as a platform's file, files only for
the chat that uploaded them, and an uploaded image reaching a vision model as an image part."""
from __future__ import annotations

import base64

import sqlalchemy as sa

from smartbot.storage.tables import ChatUpload
from tests.pipeline.test_media import OGG, png
from tests.support.platform_clients import audit_rows
from tests.webchat.visitors import HEADERS, Visitor


def _app(live_app, make_config, fake_model, **media):
    config = make_config(model=fake_model, media={"max_bytes": 8192, **media},
                         webchat={"messages_per_minute_per_address": 1000, "messages_per_minute_per_chat": 1000})
    config["providers"][0]["vision"] = True
    return live_app(config)


def _upload(visitor: Visitor, name: str, data: bytes, mime: str = "application/octet-stream", headers=HEADERS):
    return visitor.s.post(visitor.url + "/chat/api/files", files={"file": (name, data, mime)}, headers=headers,
                          timeout=10)


def _send(visitor: Visitor, text: str, files: list[str], client_id: str = "client-files-0001"):
    return visitor.s.post(visitor.url + "/chat/api/messages", json={"text": text, "client_id": client_id,
                                                                   "files": files}, headers=HEADERS, timeout=10)


def test_an_uploaded_image_reaches_the_vision_model_with_the_message(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    visitor = Visitor(app.url)
    image = png()
    uploaded = _upload(visitor, "chart.png", image, "image/png")
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["kind"] == "image" and uploaded.json()["size"] == len(image)
    assert _send(visitor, "what is this?", [uploaded.json()["file_id"]]).status_code == 202
    reply = visitor.replies(1)[0]
    assert reply["text"].startswith("echo:")
    parts = fake_model.requests[-1]["json"]["messages"][-1]["content"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(image).decode()


def test_uploads_are_refused_with_a_reason_and_audited(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    visitor = Visitor(app.url)
    too_big = _upload(visitor, "big.png", png() + b"\x00" * 9000, "image/png")
    assert too_big.status_code == 413 and "larger than 8192 bytes" in too_big.json()["error"]
    mislabelled = _upload(visitor, "photo.png", b"MZ\x90\x00 an executable", "image/png")
    assert mislabelled.status_code == 415 and "sent as image" in mislabelled.json()["error"]
    unread = _upload(visitor, "tool.exe", b"MZ\x90\x00 an executable")
    assert unread.status_code == 415 and "only images, voice recordings, PDFs and text files" in unread.json()["error"]
    assert _upload(visitor, "a.png", png(), headers={}).status_code == 403      # no CSRF header
    assert visitor.s.post(visitor.url + "/chat/api/files", headers=HEADERS, timeout=10).status_code == 400
    assert [r.result for r in audit_rows(app, "media.refused")] == ["denied"] * 3
    with app.runtime.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ChatUpload.__table__)).scalar() == 0


def test_a_body_past_the_cap_is_cut_off_before_it_is_read(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    visitor = Visitor(app.url)
    huge = _upload(visitor, "huge.png", png() + b"\x00" * 200_000, "image/png")
    assert huge.status_code == 413


def test_another_chats_upload_cannot_be_named(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    owner, stranger = Visitor(app.url), Visitor(app.url)
    key = _upload(owner, "voice.ogg", OGG, "audio/ogg").json()["file_id"]
    refused = _send(stranger, "play it", [key])
    assert refused.status_code == 400 and "does not have" in refused.json()["error"]
    assert _send(owner, "", ["../../etc/passwd"]).status_code == 400
    assert fake_model.calls() == 0


def test_a_text_file_upload_is_read_for_the_model(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    visitor = Visitor(app.url)
    key = _upload(visitor, "notes.md", "# 待办\n- 重启 web-1\n".encode(), "text/markdown").json()["file_id"]
    assert _send(visitor, "", [key]).status_code == 202
    visitor.replies(1)
    assert "[file: notes.md]\n# 待办\n- 重启 web-1" in fake_model.requests[-1]["json"]["messages"][-1]["content"]
