"""Streamed replies in the web chat: how long after the model's first token a reader can see text,
beside how long the reply takes when it is not streamed.

    python bench/streaming.py [--messages 30] [--tokens 20] [--pace 0.05]

Two apps under gunicorn (2 workers each, SQLite), one with `[channels.webchat] stream = true` and
one with `stream = false`, answered by the same fake model in this process, which writes `--tokens`
tokens `--pace` seconds apart (streamed, each as it is written; whole, after the last one). Messages
go one at a time, to the two apps in turn (A/B rounds in one run). Readers poll the database every 5 ms from this process, as a page served by any worker would
see it: `previews.current()` for the text being written, the outbox for the final reply.

Figures (ms, p50 and p99):
- streamed, first text visible minus the model's first token: what streaming itself costs;
- streamed, message sent to first text visible, and to the final reply;
- not streamed, message sent to the reply visible.
"""
from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_common as rc  # noqa: E402  (first: it puts the checkout on sys.path)
from e2e import percentile  # noqa: E402
from smartbot.gateway import outbox  # noqa: E402
from smartbot.pipeline import previews  # noqa: E402
from smartbot.storage.db import Database  # noqa: E402

POLL = 0.005


def app_config(workdir: Path, platform: Any, model: Any, stream: bool) -> dict[str, Any]:
    return rc.config(workdir, platform, model,
                     channels={"generic": {"secret": rc.SECRET, "callback_url": platform.hook_url},
                               "webchat": {"stream": stream}},
                     quotas={"messages_per_minute_per_role": {}, "per_role": {}},
                     webchat={"messages_per_minute_per_chat": 100000, "messages_per_minute_per_address": 100000,
                              "guest_messages_per_hour": 1000000})


class Visitor:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.get(url + "/chat", timeout=10).raise_for_status()

    def say(self, text: str) -> str:
        resp = self.session.post(self.url + "/chat/api/messages", json={"text": text},
                                 headers={"X-Requested-With": "smartbot"}, timeout=10)
        resp.raise_for_status()
        return resp.json()["event_id"]


def first_time(check: Callable[[], bool], timeout: float = 30.0) -> float:
    """time.perf_counter() when `check()` first holds, polled every POLL seconds."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(POLL)
    raise TimeoutError("nothing came in time")


def one_message(visitor: Visitor, db: Database, model: Any, tokens: int, n: int,
                streamed: bool) -> dict[str, float]:
    """One message whose answer (the fake model's echo of it) is `tokens` tokens long."""
    sent = time.perf_counter()
    event = visitor.say(" ".join(f"m{n}w{i}" for i in range(tokens - 1)))
    key = "webchat:" + event.split(":")[0]

    def answered() -> bool:
        with db.read() as conn:
            return any(d.reply.reply_to == event for d in outbox.delivered_after(conn, key, 0, 50))
    times = {}
    if streamed:
        shown = first_time(lambda: bool(previews.current(db, key)) or answered())
        times["to_first_text"] = shown - sent
        times["after_first_token"] = shown - model.first_pieces[-1]
    times["to_reply"] = first_time(answered) - sent
    return times


def arguments(description: str, messages: int) -> argparse.Namespace:
    """The options the streaming benches share: how many messages, how long an answer, how fast."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=messages, help="messages to each app")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between tokens")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__.split("\n")[0], 30)
    with rc.servers() as (work, model, platform), ExitStack() as stack:
        model.pace = args.pace
        runs = {}
        for stream in (True, False):
            folder = work / ("streamed" if stream else "whole")
            folder.mkdir()
            app = stack.enter_context(rc.gunicorn(app_config(folder, platform, model, stream), folder))
            db = Database(app.config["database_url"])
            stack.callback(db.dispose)
            runs[stream] = (Visitor(app.url), db, [])
        for n in range(-2, args.messages):            # two rounds of warm-up, not counted
            for stream, (visitor, db, results) in runs.items():
                times = one_message(visitor, db, model, args.tokens, n, stream)
                if n >= 0:
                    results.append(times)
    model_time = (args.tokens - 1) * args.pace * 1000

    def line(label: str, results: list[dict[str, float]], key: str) -> None:
        values = [r[key] * 1000 for r in results]
        print(f"  {label:<52} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms")
    print(f"streamed replies: {args.messages} messages per app, {args.tokens} tokens {args.pace * 1000:.0f} ms "
          f"apart (the model writes for {model_time:.0f} ms after its first token)")
    line("streamed: first text visible - model's first token", runs[True][2], "after_first_token")
    line("streamed: message sent -> first text visible", runs[True][2], "to_first_text")
    line("streamed: message sent -> final reply visible", runs[True][2], "to_reply")
    line("not streamed: message sent -> reply visible", runs[False][2], "to_reply")


if __name__ == "__main__":
    main()
