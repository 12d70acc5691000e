"""Streamed replies on chat platforms: how long after the model's first token the first text shows on
the platform, beside how long the reply takes when it is not streamed; with the web chat's figure
(bench/streaming.py's measurement) in the same run.

    python bench/streaming_platforms.py [--messages 20] [--tokens 20] [--pace 0.05]

Three apps under gunicorn (2 workers each, SQLite): Telegram (a group chat: sendMessage then
editMessageText) and Slack (chat.postMessage then chat.update) with `stream = true`, the same two with
`stream = false`, and the web chat streaming; all against the fake Bot API / Web API in this
process (tests/support/fake_chat_apis.py, which records when each call arrived) and the same fake
model, writing `--tokens` tokens `--pace` seconds apart. Messages go one at a time, to each
platform's streamed and whole app in turn (A/B rounds in one run).

Figures (ms, p50 and p99), per platform:
- streamed: first text on the platform minus the model's first token (what streaming costs);
- streamed: message sent -> first text on the platform, and -> the final reply in place;
- not streamed: message sent -> the reply on the platform.
"""
from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_common as rc  # noqa: E402  (first: it puts the checkout on sys.path)
import streaming as webchat  # noqa: E402
from e2e import percentile  # noqa: E402
from smartbot.storage.db import Database  # noqa: E402
from tests.support.fake_chat_apis import (SLACK_SIGNING_SECRET, TELEGRAM_SECRET, TELEGRAM_USERNAME,  # noqa: E402
                                          FakeChatApis, channel_config)
from tests.support.fake_open_platforms import running  # noqa: E402
from tests.support.platform_clients import SlackSender, TelegramSender, sample  # noqa: E402
import streaming_discord_feishu as discord_and_feishu  # noqa: E402

FIELD = {"telegram": "text", "slack": "text"}


def wall(perf: float) -> float:
    """A time.perf_counter() reading as time.time(): the fakes stamp calls with the wall clock."""
    return perf - time.perf_counter() + time.time()


def platform_config(workdir: Path, platform: Any, model: Any, chat_apis: FakeChatApis, stream: bool) -> dict:
    channels = {"generic": {"secret": rc.SECRET, "callback_url": platform.hook_url},
                "telegram": channel_config("telegram", chat_apis, stream=stream, bot_username=TELEGRAM_USERNAME),
                "slack": channel_config("slack", chat_apis, stream=stream)}
    channels.update(discord_and_feishu.channels(chat_apis, stream))
    return rc.config(workdir, platform, model, channels=channels,
                     quotas={"messages_per_minute_per_role": {}, "per_role": {}})


class Chat:
    """One platform's chat with one app: sends a message, finds the reply's message on the fake."""

    def __init__(self, name: str, app: Any, chat_apis: FakeChatApis) -> None:
        self.name, self.chat_apis = name, chat_apis
        self.sender = TelegramSender(app.url, TELEGRAM_SECRET) if name == "telegram" else \
            SlackSender(app.url, SLACK_SIGNING_SECRET)
        self.chat = f"-1009{id(self) % 100000}" if name == "telegram" else f"C{id(self) % 100000}"

    def say(self, words: str, n: int) -> None:
        if self.name == "telegram":
            update = sample("telegram_group_mention.json")
            update["update_id"] = 900000 + n
            update["message"].update(message_id=n, date=int(time.time()), text=f"@{TELEGRAM_USERNAME} {words}")
            update["message"]["chat"]["id"] = int(self.chat)
            assert self.sender.post(update).status_code == 200
        else:
            payload = sample("slack_im_message.json")
            payload["event"].update(channel=self.chat, ts=f"{1795550000 + n}.000100", text=words)
            assert self.sender.post(payload).status_code == 200

    def message(self, since: float) -> dict | None:
        """The first reply message created in this chat after `since` (time.time())."""
        key = "chat_id" if self.name == "telegram" else "channel"
        return next((m for m in self.chat_apis.delivered(self.name)
                     if m["at"] >= since and str(m["json"].get(key)) == self.chat), None)

    def text_of(self, message: dict) -> str:
        return message["json"][FIELD[self.name]]


def first_time(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(webchat.POLL)
    raise TimeoutError("nothing came in time")


def one_message(chat: Chat, model: Any, tokens: int, n: int, streamed: bool) -> dict[str, float]:
    words = " ".join(f"m{n}w{i}" for i in range(tokens - 1))
    final = f"echo: {words}"
    sent = time.time()
    chat.say(words, n)
    message = first_time(lambda: chat.message(sent))
    done = first_time(lambda: chat.text_of(message) == final and time.time())
    times = {"to_reply": done - sent}
    if streamed:
        times["to_first_text"] = message["at"] - sent
        times["after_first_token"] = message["at"] - wall(model.first_pieces[-1])
    return times


def main() -> None:
    args = webchat.arguments(__doc__.split("\n")[0], 20)
    results: dict[tuple[str, bool], list[dict[str, float]]] = {}
    with rc.servers() as (work, model, platform), ExitStack() as stack:
        model.pace = args.pace
        chat_apis = stack.enter_context(running(FakeChatApis()))
        stack.enter_context(discord_and_feishu.fake_feishu())
        chats = {}
        for stream in (True, False):
            folder = work / ("streamed" if stream else "whole")
            folder.mkdir()
            app = stack.enter_context(rc.gunicorn(platform_config(folder, platform, model, chat_apis, stream), folder))
            for name in FIELD:
                chats[(name, stream)] = Chat(name, app, chat_apis)
            chats.update({(c.name, stream): c for c in discord_and_feishu.chats(app, chat_apis, stream)})
        folder = work / "webchat"
        folder.mkdir()
        web = stack.enter_context(rc.gunicorn(webchat.app_config(folder, platform, model, True), folder))
        web_db = Database(web.config["database_url"])
        stack.callback(web_db.dispose)
        visitor = webchat.Visitor(web.url)
        for n in range(-2, args.messages):            # two rounds of warm-up, not counted
            for (name, stream), chat in chats.items():
                times = one_message(chat, model, args.tokens, n + 3, stream)
                if n >= 0:
                    results.setdefault((name, stream), []).append(times)
            times = webchat.one_message(visitor, web_db, model, args.tokens, n, True)
            if n >= 0:
                results.setdefault(("webchat", True), []).append(times)
    report(args, results)


def report(args: Any, results: dict[tuple[str, bool], list[dict[str, float]]]) -> None:
    def line(label: str, rows: list[dict[str, float]], key: str) -> None:
        values = [r[key] * 1000 for r in rows]
        print(f"  {label:<50} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms")
    print(f"streamed replies on platforms: {args.messages} messages per platform and app, {args.tokens} tokens "
          f"{args.pace * 1000:.0f} ms apart")
    for name in dict.fromkeys(name for name, _ in results):
        print(name)
        line("streamed: first text visible - model's first token", results[(name, True)], "after_first_token")
        line("streamed: message sent -> first text visible", results[(name, True)], "to_first_text")
        line("streamed: message sent -> final reply visible", results[(name, True)], "to_reply")
        if (name, False) in results:
            line("not streamed: message sent -> reply visible", results[(name, False)], "to_reply")


# -- DingTalk (an AI card streamed into) and WeCom's AI bot (stream frames on its connection) ---------
# python bench/streaming_platforms.py --open-platforms [--messages 20]: the same figures for these two,
# each against its own fake (tests/support/fake_open_platforms.py FakeDingTalk, fake_wecom_aibot.py),
# a streamed and a whole app per platform under gunicorn, alternating, in one run.
DINGTALK_KEY, DINGTALK_SECRET = "dingapp_bench", "dingtalk-bench-secret"
AIBOT_ID, AIBOT_SECRET = "aibot_bench", "aibot-bench-secret"


class DingTalkChat:
    """A DingTalk group chat with one app (HTTP callbacks); the reply is the AI card or a session message."""

    name = "dingtalk"

    def __init__(self, app: Any, fake: Any, chat: str) -> None:
        self.app, self.fake, self.chat = app, fake, chat

    def say(self, words: str, n: int) -> None:
        import json

        import requests

        from tests.support.platform_requests import dingtalk_headers, dingtalk_message
        body = dingtalk_message(msgId=f"bench{self.chat}{n}", conversationId=self.chat, text={"content": words},
                                sessionWebhook=f"{self.fake.session_webhook}&chat={self.chat}")
        resp = requests.post(self.app.url + "/webhooks/dingtalk", data=json.dumps(body, ensure_ascii=False).encode(),
                             headers=dingtalk_headers(DINGTALK_SECRET), timeout=10)
        assert resp.status_code == 200

    def first_text(self, since: float) -> float | None:
        found = next((m for m in self.fake.wait_delivered(0, 0) if m["at"] >= since and self._ours(m)), None)
        return found["at"] if found else None

    def final_at(self, since: float, final: str) -> float | None:
        found = next((m for m in self.fake.wait_delivered(0, 0) if m["at"] >= since and self._ours(m)), None)
        return time.time() if found and self.fake.text_of(found) == final else None

    def _ours(self, message: dict) -> bool:
        body = message["json"] or {}
        return self.chat in (body.get("openSpaceId") or "") or message["query"].get("chat") == self.chat


class WeComAiBotChat:
    """A one-person chat with the AI bot of one app, each app with its own fake bot connection."""

    name = "wecom"

    def __init__(self, fake: Any, user: str) -> None:
        self.fake, self.user = fake, user

    def say(self, words: str, n: int) -> None:
        self.fake.message({"msgid": f"bench-{self.user}-{n}", "aibotid": AIBOT_ID, "chattype": "single",
                           "from": {"userid": self.user}, "msgtype": "text", "text": {"content": words}})

    def first_text(self, since: float) -> float | None:
        frames = [at for f, at in zip(list(self.fake.delivered), list(self.fake.delivered_at)) if at >= since]
        return frames[0] if frames else None

    def final_at(self, since: float, final: str) -> float | None:
        done = [at for f, at in zip(list(self.fake.delivered), list(self.fake.delivered_at)) if at >= since
                and f["body"]["stream"]["finish"] and f["body"]["stream"]["content"] == final]
        return done[0] if done else None


def one_open_message(chat: Any, model: Any, tokens: int, n: int, streamed: bool) -> dict[str, float]:
    words = " ".join(f"m{n}w{i}" for i in range(tokens - 1))
    final = f"echo: {words}"
    sent = time.time()
    chat.say(words, n)
    shown = first_time(lambda: chat.first_text(sent))
    done = first_time(lambda: chat.final_at(sent, final))
    times = {"to_reply": done - sent}
    if streamed:
        times["to_first_text"] = shown - sent
        times["after_first_token"] = shown - wall(model.first_pieces[-1])
    return times


def open_platforms_main() -> None:
    from tests.support.fake_open_platforms import FakeDingTalk
    from tests.support.fake_wecom_aibot import FakeWeComAiBot
    args = webchat.arguments(__doc__.split("\n")[0], 20)
    results: dict[tuple[str, bool], list[dict[str, float]]] = {}
    with rc.servers() as (work, model, platform), ExitStack() as stack:
        model.pace = args.pace
        dingtalk = stack.enter_context(running(FakeDingTalk(DINGTALK_KEY, DINGTALK_SECRET)))
        chats: dict[tuple[str, bool], Any] = {}
        for stream in (True, False):
            label = "streamed" if stream else "whole"
            bot = FakeWeComAiBot(AIBOT_ID, AIBOT_SECRET).start()
            stack.callback(bot.stop)
            channels = {"generic": {"secret": rc.SECRET, "callback_url": platform.hook_url},
                        "dingtalk": {"app_key": DINGTALK_KEY, "app_secret": DINGTALK_SECRET, "api_base": dingtalk.url,
                                     "session_webhook_hosts": [dingtalk.url], "stream": stream},
                        "wecom": {"mode": "connect", "bot_id": AIBOT_ID, "bot_secret": AIBOT_SECRET,
                                  "aibot_url": bot.ws_url, "stream": stream}}
            folder = work / label
            folder.mkdir()
            app = stack.enter_context(rc.gunicorn(rc.config(folder, platform, model, channels=channels, quotas={
                "messages_per_minute_per_role": {}, "per_role": {}}), folder))
            chats[("dingtalk", stream)] = DingTalkChat(app, dingtalk, f"cidBench{label}==")
            chats[("wecom", stream)] = WeComAiBotChat(bot, f"bench_{label}")
        first_time(lambda: all(bot_chat.fake.connections for (name, _), bot_chat in chats.items() if name == "wecom"))
        for n in range(-2, args.messages):            # two rounds of warm-up, not counted
            for (name, stream), chat in chats.items():
                times = one_open_message(chat, model, args.tokens, n + 3, stream)
                if n >= 0:
                    results.setdefault((name, stream), []).append(times)
    report_open_platforms(args, results)


def report_open_platforms(args: Any, results: dict[tuple[str, bool], list[dict[str, float]]]) -> None:
    def line(label: str, rows: list[dict[str, float]], key: str) -> None:
        values = [r[key] * 1000 for r in rows]
        print(f"  {label:<50} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms")
    print(f"streamed replies on DingTalk and WeCom: {args.messages} messages per platform and app, {args.tokens} "
          f"tokens {args.pace * 1000:.0f} ms apart")
    for name in ("dingtalk", "wecom"):
        print(name)
        line("streamed: first text visible - model's first token", results[(name, True)], "after_first_token")
        line("streamed: message sent -> first text visible", results[(name, True)], "to_first_text")
        line("streamed: message sent -> final reply visible", results[(name, True)], "to_reply")
        line("not streamed: message sent -> reply visible", results[(name, False)], "to_reply")


if __name__ == "__main__":
    if "--open-platforms" in sys.argv:
        sys.argv.remove("--open-platforms")
        open_platforms_main()
    else:
        main()
