"""Images and files in the bot's replies on the web chat: the feed and the history name them (never
their bytes), and the file is served to the chat it was written to and to no other, as the type
its bytes show: an image inline, a PDF as a download."""
from __future__ import annotations

import base64

from tests.pipeline.test_media import pdf_with, png
from tests.webchat.visitors import Visitor, model_says


def _app(live_app, make_config, fake_model):
    return live_app(make_config(model=fake_model, webchat={"messages_per_minute_per_address": 1000,
                                                           "messages_per_minute_per_chat": 1000}))


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_an_image_in_the_answer_is_shown_to_its_chat_only(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    image = png(4, 4)
    fake_model.script(model_says(f"Here is the chart: ![disk chart]({_data_url('image/png', image)})"))
    owner = Visitor(app.url)
    assert owner.send("draw the disk chart").status_code == 202
    text, picture = owner.replies(2)
    assert text["text"] == "Here is the chart: [disk-chart-1.png]"
    assert picture["file"] == {"name": "disk-chart-1.png", "mime": "image/png",
                               "url": f"/chat/api/replies/{picture['id'][1:]}/file"}
    assert "base64" not in str(picture) and len(str(picture)) < 500
    served = owner.s.get(app.url + picture["file"]["url"], timeout=10)
    assert served.status_code == 200 and served.content == image
    assert served.headers["Content-Type"] == "image/png" and served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline;")
    history = owner.history().json()["messages"]
    assert history[-1]["file"] == picture["file"] and "base64" not in str(history)

    stranger = Visitor(app.url)
    refused = stranger.s.get(app.url + picture["file"]["url"], timeout=10)
    assert refused.status_code == 404 and refused.content != image
    assert stranger.s.get(app.url + "/chat/api/replies/abc/file", timeout=10).status_code == 400
    assert stranger.s.get(app.url + "/chat/api/replies/99999999999999999999/file", timeout=10).status_code == 400
    assert owner.s.get(app.url + f"/chat/api/replies/{text['id'][1:]}/file", timeout=10).status_code == 404


def test_a_pdf_is_offered_as_a_download(live_app, make_config, fake_model):
    app = _app(live_app, make_config, fake_model)
    document = pdf_with("weekly report")
    fake_model.script(model_says(f"The report: {_data_url('application/pdf', document)}"))
    visitor = Visitor(app.url)
    assert visitor.send("the weekly report please").status_code == 202
    _, attached = visitor.replies(2)
    assert attached["file"]["mime"] == "application/pdf"
    served = visitor.s.get(app.url + attached["file"]["url"], timeout=10)
    assert served.content == document and served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("attachment;")
