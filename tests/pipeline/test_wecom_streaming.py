"""Streamed replies on WeCom's AI bot (connect mode): stream frames under one id carry the text so far,
throttled, and the last one (`finish`) the final reply, through the whole path to the fake WeCom
long connection on loopback."""
from __future__ import annotations

import os
import signal
from typing import Any, Iterator

import pytest

from smartbot.i18n import t
from tests.support.connect_mode import connect_config, holder_pid
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.platform_clients import quiet_for
from tests.support.recording_link import serving
from tests.support.waiting import wait_until

BOT_ID, BOT_SECRET = "aibot_stream", "aibot-stream-secret"
WORDS = [f"w{i} " for i in range(20)]
WRITTEN = "".join(WORDS).strip()
INTERVAL = 0.3


@pytest.fixture
def wecom() -> Iterator[FakeWeComAiBot]:
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


def _start(live_app: Any, make_config: Any, fake_model: Any, wecom: FakeWeComAiBot) -> Any:
    return live_app(connect_config(make_config, fake_model, "wecom", bot_id=BOT_ID, bot_secret=BOT_SECRET,
                                   aibot_url=wecom.ws_url, stream=True, stream_interval=INTERVAL))


def _say(wecom: FakeWeComAiBot, text: str) -> str:
    return wecom.message({"msgid": "stream-1", "aibotid": BOT_ID, "chattype": "single", "from": {"userid": "lisi"},
                          "msgtype": "text", "text": {"content": text}})


def _finished(wecom: FakeWeComAiBot) -> list[str]:
    return [frames[-1]["content"] for frames in wecom.streams().values() if frames[-1]["finish"]]


def test_one_stream_grows_in_throttled_frames_and_finishes_once_with_all_of_it(live_app, make_config, fake_model,
                                                                              wecom):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    _start(live_app, make_config, fake_model, wecom)
    _say(wecom, "write")
    assert wait_until(lambda: _finished(wecom) == [WRITTEN], 20), wecom.delivered
    quiet_for(1.0)
    [frames] = wecom.streams().values()                 # one message, under one stream id
    growing, final = frames[:-1], frames[-1]
    assert len(growing) >= 3 and not any(f["finish"] for f in growing)
    assert all(WRITTEN.startswith(f["content"]) for f in growing)
    assert final == {**final, "finish": True, "content": WRITTEN}
    gaps = [b["at"] - a["at"] for a, b in zip(growing, growing[1:])]
    assert all(gap >= INTERVAL - 0.05 for gap in gaps), gaps


def test_a_rate_limited_frame_is_waited_out_and_the_stream_still_finishes_once(live_app, make_config, fake_model,
                                                                              wecom):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    _start(live_app, make_config, fake_model, wecom)
    _say(wecom, "write")
    assert wait_until(lambda: wecom.streams(), 10)
    wecom.refuse_next["aibot_respond_msg"] = 45009                      # WeCom's "api freq out of limit"
    assert wait_until(lambda: _finished(wecom) == [WRITTEN], 20), wecom.delivered
    quiet_for(1.0)
    assert _finished(wecom) == [WRITTEN] and len(wecom.streams()) == 1


def test_a_model_error_mid_stream_finishes_the_stream_with_the_friendly_error(live_app, make_config, fake_model,
                                                                             wecom):
    fake_model.script({"tokens": ["half ", "an ", "answer "], "pace": 0.2, "cut": True})
    _start(live_app, make_config, fake_model, wecom)
    _say(wecom, "break")
    friendly = {t("model.unavailable", locale) for locale in ("en", "zh-CN")}
    assert wait_until(lambda: set(_finished(wecom)) & friendly, 20), wecom.delivered
    quiet_for(1.0)
    [frames] = wecom.streams().values()
    assert frames[0]["content"].startswith("half") and frames[-1]["content"] in friendly


def test_the_holder_killed_mid_stream_the_new_holder_finishes_the_same_stream_once(gunicorn_app, make_config,
                                                                                    fake_model, wecom, database_url):
    config = connect_config(make_config, fake_model, "wecom", bot_id=BOT_ID, bot_secret=BOT_SECRET,
                            aibot_url=wecom.ws_url, stream=True, stream_interval=INTERVAL)
    app = gunicorn_app(config, workers=2)
    fake_model.script({"tokens": WORDS, "pace": 0.3})           # the first try is slow; we kill it midway
    _say(wecom, "crash")
    assert wait_until(lambda: wecom.streams(), 20), app.log()
    holder = holder_pid(database_url, "wecom")
    assert holder in app.worker_pids()
    os.kill(holder, signal.SIGKILL)
    assert wait_until(lambda: _finished(wecom) == ["echo: crash"], 60), (wecom.delivered, app.log())
    quiet_for(1.5)
    assert list(wecom.streams()) == [next(iter(wecom.streams()))]      # one stream id, finished once
    assert _finished(wecom) == ["echo: crash"]
