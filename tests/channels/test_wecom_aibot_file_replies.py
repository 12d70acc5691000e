"""An image or PDF in the model's answer on WeCom's AI bot: uploaded over the long connection
(aibot_upload_media_init, _chunk per 512 KiB from index 0, _finish for a media id), then pushed to
the chat as an image or file message (aibot_send_msg); the text keeps the file's label. A refused
upload is given up and audited; a refused push is retried without uploading or showing it twice."""
from __future__ import annotations

import base64
import os
from typing import Any, Iterator

import pytest

from tests.pipeline.test_media import pdf_with, png
from tests.support.connect_mode import connect_config
from tests.support.fake_wecom_aibot import CHUNK_LIMIT, FakeWeComAiBot
from tests.support.platform_clients import model_answer, quiet_for, wait_for_audit
from tests.support.recording_link import serving

BOT_ID, BOT_SECRET = "aibot_files_up", "aibot-files-up-secret"


@pytest.fixture
def aibot() -> Iterator[FakeWeComAiBot]:
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


def _ask(live_app, make_config, fake_model, aibot, answer: str, chat: dict[str, Any] | None = None,
         max_tokens: int = 1024) -> Any:
    config = connect_config(make_config, fake_model, "wecom", bot_id=BOT_ID, bot_secret=BOT_SECRET,
                            aibot_url=aibot.ws_url)
    config["providers"][0]["max_tokens"] = max_tokens       # also what bounds the answer's size on the wire
    app = live_app(config)
    fake_model.script(model_answer(answer))
    aibot.message({"msgid": f"aibot-up-{os.urandom(4).hex()}", "aibotid": BOT_ID, "msgtype": "text",
                   "from": {"userid": "lisi"}, "text": {"content": "send it"},
                   **(chat or {"chattype": "single"})})
    return app


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _finals(aibot: FakeWeComAiBot) -> list[str]:
    return [s[-1]["content"] for s in aibot.streams().values() if s[-1]["finish"]]


def _commands(aibot: FakeWeComAiBot) -> list[str]:
    return [f["cmd"] for f in aibot.frames(lambda f: isinstance(f, dict)) if f.get("cmd", "").startswith("aibot_")
            and f["cmd"] not in ("aibot_subscribe", "aibot_respond_msg")]


def _wait_media(aibot: FakeWeComAiBot, count: int) -> list[dict[str, Any]]:
    aibot.wait(lambda: len(aibot.media_messages()) >= count, 15)
    return aibot.media_messages()


@pytest.mark.parametrize("mime, data, kind", [("image/png", png(4, 4), "image"),
                                               ("application/pdf", pdf_with("q3"), "file")])
def test_the_file_is_uploaded_over_the_connection_and_pushed_by_media_id(live_app, make_config, fake_model,
                                                                         aibot, mime, data, kind):
    _ask(live_app, make_config, fake_model, aibot, f"Here it is: {_data_url(mime, data)}",
         {"chattype": "group", "chatid": "wr-group-7"})
    [sent] = _wait_media(aibot, 1)
    quiet_for(0.5)
    assert sent == {"chatid": "wr-group-7", "msgtype": kind, kind: {"media_id": sent[kind]["media_id"]}}
    assert aibot.media() == {sent[kind]["media_id"]: data}
    [upload] = aibot.uploads.values()
    assert upload["init"]["type"] == kind and upload["init"]["filename"].startswith("file-1.")
    assert upload["init"]["total_size"] == len(data) and upload["init"]["total_chunks"] == 1
    assert _commands(aibot) == ["aibot_upload_media_init", "aibot_upload_media_chunk",
                                "aibot_upload_media_finish", "aibot_send_msg"]
    assert [t.split(": [")[0] for t in _finals(aibot)] == ["Here it is"]     # the label stays in the text
    assert len(aibot.media_messages()) == 1 and "base64" not in str(aibot.streams())


def test_a_large_file_goes_in_several_chunks_in_order(live_app, make_config, fake_model, aibot):
    data = pdf_with("big") + b"%" + os.urandom(CHUNK_LIMIT * 2 + 1000)
    _ask(live_app, make_config, fake_model, aibot, f"Report: {_data_url('application/pdf', data)}",
         max_tokens=4000)       # the model's answer carries the file's 1.4 MB of base64
    [sent] = _wait_media(aibot, 1)
    assert sent["msgtype"] == "file" and sent["chatid"] == "lisi"
    assert aibot.media()[sent["file"]["media_id"]] == data
    [upload] = aibot.uploads.values()
    assert upload["init"]["total_chunks"] == 3 and sorted(upload["chunks"]) == [0, 1, 2]
    assert upload["chunk_sizes"] == [CHUNK_LIMIT, CHUNK_LIMIT, len(data) - 2 * CHUNK_LIMIT]
    chunks = [f["body"]["chunk_index"] for f in aibot.frames(lambda f: isinstance(f, dict)
                                                             and f.get("cmd") == "aibot_upload_media_chunk")]
    assert chunks == [0, 1, 2]


@pytest.mark.parametrize("step", ["init", "chunk", "finish"])
def test_a_refused_upload_is_given_up_and_audited_and_the_label_still_arrives(live_app, make_config, fake_model,
                                                                             aibot, step):
    aibot.refuse_next[f"aibot_upload_media_{step}"] = 40058
    app = _ask(live_app, make_config, fake_model, aibot, f"Chart: ![disk]({_data_url('image/png', png())})")
    failed = str([row.details for row in wait_for_audit(app, "reply.failed")])
    assert f"refused the file upload at {step} (errcode 40058" in failed and BOT_SECRET not in failed
    aibot.wait(lambda: bool(_finals(aibot)), 10)
    quiet_for(1.0)
    assert _finals(aibot) == ["Chart: [disk-1.png]"] and aibot.media_messages() == []
    assert _commands(aibot).count("aibot_upload_media_init") == 1       # given up, not retried


def test_a_refused_push_is_retried_without_a_second_upload_or_a_second_image(live_app, make_config, fake_model,
                                                                             aibot):
    aibot.refuse_next["aibot_send_msg"] = 45009          # busy: retryable, nothing shown
    _ask(live_app, make_config, fake_model, aibot, _data_url("image/gif", b"GIF89a" + b"\x00" * 40))
    [sent] = _wait_media(aibot, 1)
    quiet_for(2.5)
    assert sent["msgtype"] == "image" and len(aibot.media_messages()) == 1
    assert _commands(aibot) == ["aibot_upload_media_init", "aibot_upload_media_chunk",
                                "aibot_upload_media_finish", "aibot_send_msg", "aibot_send_msg"]
    assert len(aibot.uploads) == 1


def test_a_push_sent_but_unanswered_is_given_up_not_shown_twice(live_app, make_config, fake_model, aibot):
    aibot.unanswered_next.add("aibot_send_msg")     # it may have arrived: WeCom never said
    app = _ask(live_app, make_config, fake_model, aibot, _data_url("image/png", png()))
    failed = str([row.details for row in wait_for_audit(app, "reply.failed", timeout=20)])
    assert "may or may not have arrived" in failed
    quiet_for(2.5)
    assert len(aibot.media_messages()) == 1 and len(aibot.uploads) == 1
    assert _commands(aibot).count("aibot_send_msg") == 1


def test_a_file_too_small_for_wecom_is_refused_before_any_upload():
    from smartbot.channels.support import wecom_aibot_media
    from smartbot.errors import DeliveryError
    from smartbot.messages import Reply

    calls: list[dict[str, Any]] = []
    reply = Reply(channel="wecom", chat_id="lisi", text="[x.png]",
                  file={"name": "x.png", "mime": "image/png", "data": base64.b64encode(b"\x89P").decode()})
    with pytest.raises(DeliveryError) as refused:
        wecom_aibot_media.send_file(lambda f: calls.append(f) or {"errcode": 0}, "lisi", reply, lambda p: p, set())
    assert not refused.value.retryable and calls == []
