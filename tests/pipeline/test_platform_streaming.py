"""Streamed replies on the chat platforms, through the whole path to fake platform APIs on loopback
that record every call: typing first, then a preview that grows by throttled edits, then exactly
one final reply with the whole text, whatever happens to the stream, the platform or the worker."""
from __future__ import annotations

import itertools
import time

import pytest
from nacl.signing import SigningKey

from smartbot.i18n import t
from tests.support.fake_chat_apis import (DISCORD_SIGNING_SEED, SLACK_SIGNING_SECRET, TELEGRAM_SECRET,
                                          TELEGRAM_USERNAME, channel_config)
from tests.support.fake_model import sse
from tests.support.platform_clients import DiscordSender, SlackSender, TelegramSender, quiet_for, sample
from tests.support.waiting import wait_until

WORDS = [f"w{i} " for i in range(20)]
WRITTEN = "".join(WORDS).strip()
INTERVAL = 0.3
FIELD = {"telegram": "text", "slack": "text", "discord": "content"}
EDIT = {"telegram": "editMessageText", "slack": "chat.update", "discord": "discord-edit"}
CASES = ("telegram-group", "telegram-private", "slack", "discord")


def streaming(fake_chat_apis, platform: str, **extra) -> dict:
    return channel_config(platform, fake_chat_apis, **{"stream": True, "typing": True, "stream_interval": INTERVAL,
                                                       **extra})


def post(app, case: str) -> None:
    """The message of one case, as its platform sends it."""
    if case.startswith("telegram"):
        update = sample("telegram_private_text.json" if case == "telegram-private" else "telegram_group_mention.json")
        update["message"]["date"] = int(time.time())
        assert TelegramSender(app.url, TELEGRAM_SECRET).post(update).status_code == 200
    elif case == "slack":
        assert SlackSender(app.url, SLACK_SIGNING_SECRET).post(sample("slack_im_message.json")).status_code == 200
    else:
        assert DiscordSender(app.url, SigningKey(DISCORD_SIGNING_SEED)).post(sample("discord_slash_ask.json")) \
            .json() == {"type": 5}


def edits(fake_chat_apis, platform: str) -> list[dict]:
    if platform == "discord":
        return [r for r in fake_chat_apis.requests if r["platform"] == "discord" and r["method"] == "PATCH"]
    return fake_chat_apis.calls(platform, EDIT[platform])


def final_texts(fake_chat_apis, platform: str) -> list[str]:
    """What a person sees: each message created, as its last edit left it."""
    return [m["json"][FIELD[platform]] for m in fake_chat_apis.delivered(platform)]


def shown(fake_chat_apis, platform: str, text: str, timeout: float = 20.0) -> bool:
    return wait_until(lambda: final_texts(fake_chat_apis, platform) == [text], timeout)


@pytest.fixture
def platforms(live_app, make_config, fake_model, fake_chat_apis):
    """An app with Telegram, Slack and Discord streaming (a third of a second between edits)."""
    def start(**extra):
        channels = {name: streaming(fake_chat_apis, name, **extra) for name in FIELD}
        return live_app(make_config(model=fake_model, channels=channels))
    return start


@pytest.mark.parametrize("case", CASES)
def test_a_reply_grows_in_throttled_edits_then_one_final_holds_all_of_it(platforms, fake_model, fake_chat_apis,
                                                                         case):
    platform = case.split("-")[0]
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = platforms()
    post(app, case)
    assert shown(fake_chat_apis, platform, WRITTEN), (fake_chat_apis.requests, app.log() if hasattr(app, "log") else "")
    quiet_for(1.0)
    assert final_texts(fake_chat_apis, platform) == [WRITTEN]            # one message, the whole text
    if case == "telegram-private":          # a draft grows; the final message replaces it
        drafts = [r["json"]["text"] for r in fake_chat_apis.calls("telegram", "sendMessageDraft")]
        assert len(drafts) >= 3 and all(WRITTEN.startswith(d) for d in drafts), drafts
        assert edits(fake_chat_apis, platform) == []
        previews = fake_chat_apis.calls("telegram", "sendMessageDraft")
    else:
        previews = edits(fake_chat_apis, platform)
        texts = [r["json"][FIELD[platform]] for r in previews]
        assert len(texts) >= 2 and texts[-1] == WRITTEN, texts
        assert all(WRITTEN.startswith(text) for text in texts), texts
    throttled = previews[:-1] if case != "telegram-private" else previews        # the final edit is the outbox's
    gaps = [b["at"] - a["at"] for a, b in zip(throttled, throttled[1:])]
    assert all(gap >= INTERVAL - 0.05 for gap in gaps), gaps
    assert len(throttled) <= 2.0 / INTERVAL + 2


@pytest.mark.parametrize("platform,call", [("telegram", "sendChatAction"), ("slack", "assistant.threads.setStatus")])
def test_typing_shows_before_the_first_text_and_is_renewed_until_then(platforms, fake_model, fake_chat_apis,
                                                                      platform, call):
    fake_model.script({"tokens": ["late ", "answer"], "pace": 0.2, "delay": 0.0})
    app = platforms()
    post(app, "telegram-group" if platform == "telegram" else "slack")
    assert shown(fake_chat_apis, platform, "late answer")
    typing = fake_chat_apis.calls(platform, call)
    first_text = fake_chat_apis.delivered(platform)[0]["at"]
    assert typing and typing[0]["at"] <= first_text
    quiet_for(0.5)
    assert len(fake_chat_apis.calls(platform, call)) == len(typing)     # stopped once the reply was there


def test_telegram_typing_is_renewed_before_it_lapses_while_the_model_thinks(platforms, fake_model, fake_chat_apis):
    fake_model.script({"tokens": ["slow"], "pace": 0.0, "delay": 4.6})
    app = platforms()
    post(app, "telegram-group")
    assert shown(fake_chat_apis, "telegram", "slow", timeout=30)
    typing = [r["at"] for r in fake_chat_apis.calls("telegram", "sendChatAction")]
    assert len(typing) >= 2 and all(3.5 <= b - a <= 5.0 for a, b in zip(typing, typing[1:])), typing


@pytest.mark.parametrize("platform,answer", [
    ("telegram", (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}}, {})),
    ("slack", (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})),
    ("discord", (429, {"message": "You are being rate limited.", "retry_after": 1.0, "global": False}, {})),
])
def test_a_429_mid_stream_is_waited_out_and_still_one_final(platforms, fake_model, fake_chat_apis, platform, answer):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = platforms(typing=False)
    post(app, "telegram-group" if platform == "telegram" else platform)
    assert wait_until(lambda: fake_chat_apis.delivered(platform), 10)           # the preview is up
    fake_chat_apis.script(platform, answer)                                      # its next edit is refused
    assert shown(fake_chat_apis, platform, WRITTEN)
    quiet_for(1.0)
    assert final_texts(fake_chat_apis, platform) == [WRITTEN]
    calls = [r for r in fake_chat_apis.requests if r["platform"] == platform]
    refused = next(i for i, r in enumerate(calls) if r.get("message_id") is None and i > 0)
    assert calls[refused + 1]["at"] - calls[refused]["at"] >= 0.95           # retry_after was honoured


def test_a_preview_the_platform_refuses_leaves_the_final_as_a_message_of_its_own(live_app, make_config, fake_model,
                                                                                 fake_chat_apis):
    fake_model.script({"tokens": WORDS, "pace": 0.05})
    telegram = streaming(fake_chat_apis, "telegram", typing=False, bot_username=TELEGRAM_USERNAME)
    app = live_app(make_config(model=fake_model, channels={"telegram": telegram}))
    fake_chat_apis.script("telegram", (403, {"ok": False, "error_code": 403,
                                             "description": "Forbidden: not enough rights"}, {}))
    post(app, "telegram-group")
    assert shown(fake_chat_apis, "telegram", WRITTEN)
    quiet_for(1.0)
    assert final_texts(fake_chat_apis, "telegram") == [WRITTEN]
    assert edits(fake_chat_apis, "telegram") == []          # the preview was given up, not posted again


@pytest.mark.parametrize("case", ("telegram-group", "slack", "discord"))
def test_a_model_error_mid_stream_ends_the_preview_in_the_friendly_error(platforms, fake_model, fake_chat_apis,
                                                                         case):
    platform = case.split("-")[0]
    fake_model.script({"tokens": ["half ", "an ", "answer "], "pace": 0.2, "cut": True})
    app = platforms(typing=False)
    post(app, case)
    friendly = {t("model.unavailable", locale) for locale in ("en", "zh-CN")}
    assert wait_until(lambda: set(final_texts(fake_chat_apis, platform)) & friendly, 20), fake_chat_apis.requests
    quiet_for(1.0)
    [message] = fake_chat_apis.delivered(platform)
    assert message["json"][FIELD[platform]] in friendly
    assert message["edits"][-1] in friendly
    assert message["created"][FIELD[platform]].startswith("half")       # the preview had shown what came
    assert fake_model.calls() == 1


ECHOES = {"telegram-group": "echo: what is the load?", "slack": "echo: restart worker",
          "discord": "echo: how much disk is left on web-1?"}


@pytest.mark.parametrize("case", sorted(ECHOES))
def test_a_worker_killed_mid_stream_still_gives_exactly_one_final(gunicorn_app, make_config, fake_model,
                                                                  fake_chat_apis, case):
    platform = case.split("-")[0]
    fake_model.script({"tokens": WORDS, "pace": 0.3})           # the first try is slow; we kill it midway
    channels = {platform: streaming(fake_chat_apis, platform)}
    app = gunicorn_app(make_config(model=fake_model, channels=channels), workers=2)
    post(app, case)
    assert wait_until(lambda: fake_chat_apis.delivered(platform), 15), app.log()      # the preview is up
    assert app.kill_workers()
    app.wait_ready(timeout=30)
    assert shown(fake_chat_apis, platform, ECHOES[case], timeout=40), (fake_chat_apis.requests, app.log())
    quiet_for(1.5)
    assert final_texts(fake_chat_apis, platform) == [ECHOES[case]]     # the same message, edited: no second one
    assert fake_model.calls() == 2


def test_a_reply_longer_than_the_platform_limit_previews_its_first_part_and_sends_the_rest(platforms, fake_model,
                                                                                          fake_chat_apis):
    words = [f"{i:03d}" + "x" * 95 + " " for i in range(30)]           # 3,000 characters; Discord takes 2,000
    fake_model.script({"tokens": words, "pace": 0.02})
    app = platforms(typing=False)
    post(app, "discord")
    assert wait_until(lambda: len(fake_chat_apis.delivered("discord")) == 2, 20), fake_chat_apis.requests
    quiet_for(1.0)
    first, rest = final_texts(fake_chat_apis, "discord")
    assert (first + " " + rest).split() == "".join(words).split()
    previews = [r["json"]["content"] for r in edits(fake_chat_apis, "discord")]
    assert all(len(text) <= 2000 for text in previews) and previews[-1] == first
    assert fake_chat_apis.delivered("discord")[1].get("edits") is None        # the rest: a message of its own


def test_a_ten_megabyte_answer_is_previewed_within_the_limit_and_ends_in_one_friendly_error(
        live_app, make_config, fake_model, fake_chat_apis):
    piece = sse({"model": "fake-1", "choices": [{"index": 0, "delta": {"content": "x" * 999 + " "},
                                                 "finish_reason": None}]})
    fake_model.script({"chunks": itertools.repeat(piece, 10_000)})
    config = make_config(model=fake_model, channels={"telegram": streaming(fake_chat_apis, "telegram", typing=False)})
    config["providers"][0].update(total_timeout=3.0, max_retries=0)
    app = live_app(config)
    post(app, "telegram-group")
    friendly = {t(key, locale) for key in ("model.bad_answer", "model.timeout") for locale in ("en", "zh-CN")}
    assert wait_until(lambda: set(final_texts(fake_chat_apis, "telegram")) & friendly, 20), app
    quiet_for(1.0)
    [message] = fake_chat_apis.delivered("telegram")
    assert message["json"]["text"] in friendly
    assert all(len(r["json"]["text"]) <= 4096 for r in edits(fake_chat_apis, "telegram"))
    assert len(message["created"]["text"]) <= 4096
