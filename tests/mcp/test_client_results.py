"""What a tool's result becomes, against the SDK's server over stdio and Streamable HTTP: text for
the model (resources and links summarised, structuredContent as JSON), images as reply files
(checked, counted, capped), and a tool list that changed without a notification picked up once it
is older than refresh_seconds."""
from __future__ import annotations

import base64
import json
import time

import pytest

from smartbot.executor.environment import OwnVariables
from smartbot.executor.runner import Limits
from smartbot.mcp.client_settings import McpServerSettings
from smartbot.mcp.content import MAX_IMAGES, summarise
from smartbot.mcp.registry import McpRegistry, ServerHandle
from tests.support.executor import Chat, add_role, audit_rows, bind, details, set_rule_params, text_answer, tool_call_answer
from tests.support.mcp_servers import McpHttpServer, Record, stdio_command
from tests.support.waiting import wait_until

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _handle(record: Record, **config) -> ServerHandle:
    settings = McpServerSettings(name="files", command=stdio_command(record), **config)
    return ServerHandle(settings, {}, Limits(), lambda: OwnVariables(lambda name: False))


@pytest.fixture
def http_server():
    server = McpHttpServer()
    yield server
    server.stop()


def test_images_become_files_and_everything_else_text_for_the_model():
    handle = _handle(Record())
    try:
        outcome = handle.call("picture", {}, 20)
    finally:
        handle.close()
    lines = outcome.text.splitlines()
    assert lines[0] == "here it is"
    assert lines[1] == "[image picture-1.png: image/png, 70 bytes, sent with the reply]"
    assert lines[2:4] == ["[resource file:///notes/today.md (text/markdown)]", "# Today"]
    assert "[resource file:///bin/blob (application/octet-stream): 30 bytes, not passed on]" in lines
    assert ("[resource link: report https://files.example.com/report.pdf (application/pdf) - the monthly report]"
            in lines)
    assert any(line.startswith("[image: image/png, 2250000 bytes, not passed on: larger than") for line in lines)
    assert "[image of type text/html, not passed on]" in lines
    assert "QUFB" not in outcome.text and "AAAA" not in outcome.text      # no bytes reach the model
    [picture] = outcome.files
    assert picture["name"] == "picture-1.png" and picture["mime"] == "image/png"
    assert base64.b64decode(picture["data"]).startswith(PNG_MAGIC)
    assert outcome.result_bytes == len(outcome.text.encode()) + 70


def test_structured_content_reaches_the_model_as_json_once(http_server):
    settings = McpServerSettings(name="web", url=http_server.url)
    handle = ServerHandle(settings, {}, Limits(), lambda: OwnVariables(lambda name: False))
    try:
        weather = handle.call("weather", {"city": "Oslo"}, 20)
        added = handle.call("add", {"a": 2, "b": 3}, 20)
    finally:
        handle.close()
    assert json.loads(weather.text) == {"city": "Oslo", "celsius": 21.5, "sky": "clear"}   # said once, as JSON
    assert added.text == "5"                       # {"result": 5} says what the text says: not repeated


def test_structured_content_without_text_and_the_image_cap():
    assert summarise({"content": [], "structuredContent": {"rows": [1, 2]}}).text == '{"rows":[1,2]}'
    png = base64.b64encode(PNG_MAGIC + b"\x00" * 8).decode()
    many = summarise({"content": [{"type": "image", "mimeType": "image/png", "data": png}] * (MAX_IMAGES + 2)})
    assert len(many.files) == MAX_IMAGES and many.text.count("not passed on: at most") == 2
    odd = summarise({"content": [{"type": "image", "mimeType": "image/png", "data": "%%%not base64"},
                                 {"type": "audio", "mimeType": "audio/wav", "data": "AAAA"},
                                 {"type": "video"}, "not an object"]})
    assert odd.files == [] and odd.text.splitlines() == [
        "[image: image/png, not valid base64, not passed on]", "[audio: audio/wav, 3 bytes, not passed on]",
        "[video content, not passed on]"]


def test_a_tool_list_changed_without_a_notification_is_picked_up_by_the_timer():
    record = Record()
    quick = McpServerSettings(name="quick", command=stdio_command(record), refresh_seconds=1)
    slow = McpServerSettings(name="slow", command=stdio_command(record), refresh_seconds=300)
    registry = McpRegistry([quick, slow], {}, Limits(), lambda: OwnVariables(lambda name: False))
    try:
        handles = [registry.get("quick"), registry.get("slow")]
        for handle in handles:
            assert "later" not in [t.name for t in handle.tools()]
            assert handle.call("quiet_grow", {}, 20).text == "grown quietly"
        assert not handles[0]._client.tools_changed.is_set()            # the server said nothing
        # nobody uses the servers: the timer lists the quick one again on its own
        assert wait_until(lambda: "later" in [t.name for t in handles[0].cached_tools()], timeout=10)
        assert "later" not in [t.name for t in handles[1].cached_tools()]   # not due yet: nothing else did it
        assert handles[0].call("later", {}, 20).text == "later!"
    finally:
        registry.close()


def test_the_timer_never_starts_an_idle_server():
    record = Record()
    registry = McpRegistry([McpServerSettings(name="idle", command=stdio_command(record), refresh_seconds=1)], {},
                           Limits(), lambda: OwnVariables(lambda name: False))
    try:
        handle = registry.get("idle")
        time.sleep(2.5)
        assert handle._client is None and handle.cached_tools() == []
    finally:
        registry.close()


def test_an_image_in_a_chat_answer_is_labelled_for_the_model_and_audited(live_app, make_config, fake_model,
                                                                         fake_platform):
    record = Record()
    app = live_app(make_config(model=fake_model, mcp_servers=[{"name": "files", "command": stdio_command(record),
                                                                "tools": ["picture"]}]))
    db = app.runtime.db
    set_rule_params(db, "chat", {"tools": True})
    app.runtime.router.invalidate()
    add_role(db, "viewer", ["chat", "mcp:files:picture"])
    bind(db, "vw", "vic", ["viewer"])
    fake_model.script({"body": tool_call_answer(("mcp__files__picture", {}))}, {"body": text_answer("a picture")})
    reply = Chat(app, fake_platform).say("show me", user="vw", timeout=30)
    assert reply.startswith("a picture") and "- called files/picture" in reply
    told = [json.loads(m["content"]) for m in fake_model.requests[-1]["json"]["messages"] if m["role"] == "tool"]
    assert "[image picture-1.png: image/png, 70 bytes, sent with the reply]" in told[0]["output"]
    assert "QUFB" not in json.dumps(told)
    called = details(audit_rows(db, "mcp.called")[0])
    assert called["files"] == 1 and called["result_bytes"] < 10_000
    # the image itself goes out with the reply (the generic webhook names it; others upload it)
    assert wait_until(lambda: any(t.startswith("[picture-1") and t.endswith(".png]") for t in fake_platform.texts()), 15), \
        fake_platform.texts()
