"""Images a tool produced during the turn reach the user as files of the reply: a command whose output
holds a data URL, run by the model as a tool, ends with the image uploaded to Feishu beside the
answer, and the model read a label, not the bytes. A tool's image items are checked like any file."""
from __future__ import annotations

import base64
import json

from smartbot.pipeline.media import output
from tests.pipeline.test_feishu_cardkit import APP_ID, APP_SECRET, post, section
from tests.pipeline.test_media import pdf_with, png
from tests.support.executor import add_command, add_role, bind, script, set_rule_params, text_answer, tool_call_answer
from tests.support.fake_feishu_cards import FakeFeishuCards
from tests.support.fake_open_platforms import running
from tests.support.waiting import wait_until


def test_an_image_in_a_commands_output_is_sent_with_the_answer(live_app, make_config, fake_model):
    image = png(6, 4)
    encoded = base64.b64encode(image).decode()
    with running(FakeFeishuCards(APP_ID, APP_SECRET)) as feishu:
        app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu, stream=False)},
                                   executor={"tool_rounds": 2}))
        db = app.runtime.db
        set_rule_params(db, "chat", {"tools": True})
        app.runtime.router.invalidate()
        add_command(db, "chart", [script(f"print('disk usage chart: data:image/png;base64,{encoded}')")])
        add_role(db, "charts", ["chat", "command:run:chart"])
        bind(db, "ou_test1", "olga", ["charts"], channel="feishu")
        fake_model.script({"body": tool_call_answer(("chart", {}))}, {"body": text_answer("Here is the chart.")})
        post(app)
        assert wait_until(lambda: len(feishu.delivered) == 2, 20), feishu.requests
        answer, picture = feishu.delivered
        assert feishu.text_of(answer).startswith("Here is the chart.")
        assert picture["json"]["msg_type"] == "image"
        [upload] = feishu.uploads.values()
        assert upload == {"name": "file-1.png", "mime": "image/png", "data": image}
        told = [json.loads(m["content"]) for m in fake_model.requests[-1]["json"]["messages"] if m["role"] == "tool"]
        assert told[0]["output"].strip() == "disk usage chart: [file-1.png]"       # a label, not the bytes


def _item(data: bytes, name: str = "plot", mime: str = "image/png") -> dict:
    return {"name": name, "mime": mime, "data": base64.b64encode(data).decode()}


def test_tool_items_are_checked_by_their_bytes_capped_and_numbered_after_the_files_kept():
    image, document = png(), pdf_with("report")
    found = output.tool_files([_item(image), _item(b"MZ\x90\x00 not an image"), "junk", {"data": 7},
                               _item(document, "report.pdf", "image/png"), _item(image + b"\x00" * 5000)],
                              max_bytes=4096, have=1)
    assert [(f["name"], f["mime"]) for f in found] == [("plot-2.png", "image/png"), ("report-3.pdf", "application/pdf")]
    assert base64.b64decode(found[0]["data"]) == image
    assert output.tool_files([_item(image)] * 9, max_bytes=4096, have=0) == \
        [{"name": f"plot-{n}.png", "mime": "image/png", "data": base64.b64encode(image).decode()} for n in range(1, 5)]
    assert output.tool_files([_item(image)], max_bytes=4096, have=output.MAX_FILES) == []


def test_a_data_url_in_tool_output_past_the_cap_stays_text():
    text = "x data:image/png;base64," + base64.b64encode(png() + b"\x00" * 3000).decode()
    assert output.take_files(text, 1024) == (text, [])


def test_a_tool_runs_image_items_and_output_files_join_the_answers_files_up_to_the_cap():
    from smartbot.llm.base import ModelResponse
    from smartbot.pipeline.handlers.tool_calls import ToolRun
    from smartbot.pipeline.outcome import Outcome

    image = png()
    run = ToolRun(ModelResponse("done", "main", "fake-1"))
    run.keep([_item(image, "screenshot"), _item(b"not an image")], max_bytes=4096)       # e.g. MCP image content
    said = run.take_from("see data:image/png;base64," + base64.b64encode(image).decode(), 4096)
    assert said == "see [file-2.png]"
    answer_files = [{"name": f"answer-{n}.png", "mime": "image/png", "data": "x"} for n in range(1, 4)]
    outcome = run.finish(Outcome(texts=["done"], files=answer_files), "feishu:ou_test1", "ev-1")
    assert [f["name"] for f in outcome.files] == ["screenshot-1.png", "file-2.png", "answer-1.png", "answer-2.png"]
