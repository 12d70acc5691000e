"""What one chat turn costs: model calls per plain message, characters sent to the model, and
(for nanobot) the time its own machinery adds to a turn.

    python bench/turn.py [--turns 30]

SmartBot: plain "hello" messages through /webhooks/generic (gunicorn, shipped settings), each from
a new user, replies to a fake platform. nanobot: `nanobot serve` (its OpenAI-compatible API) with
its custom provider pointed at the same fake model (bench/sse_model.py, which streams for it).
nanobot's per-turn overhead = the turn's time at the client minus the fake model's own time.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from sse_model import SseModel, describe  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402
from tests.support.signing import generic_request  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def smartbot(tmp: Path, messages: int = 20) -> dict:
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    model, platform = SseModel().start(), FakePlatform().start()
    cfg = common.smartbot_config(tmp / "turn-smartbot", platform.hook_url, {"providers": [
        {"name": "fake", "kind": "openai", "base_url": model.base_url, "model": "fake-1"}]})
    bot = common.start_gunicorn("smartbot.wsgi:app", tmp / "turn-smartbot", env={"SMARTBOT_CONFIG": str(cfg)})
    try:
        for i in range(messages):
            body, headers = generic_request(common.SECRET, {"event_id": f"turn-{i}", "chat_id": f"turn-chat-{i}",
                                                            "user_id": f"turn-user-{i}", "text": "hello"})
            requests.post(bot.url + "/webhooks/generic", data=body, headers=headers, timeout=10).raise_for_status()
            platform.wait_for(i + 1, timeout=30)
        seen = model.take()
    finally:
        bot.stop()
        model.stop()
        platform.stop()
    return {"messages": messages, "replies": len(platform.received), "calls_per_message": len(seen) / messages,
            "hello_chars": seen[0].message_chars + seen[0].tool_chars if seen else None,
            "hello_tools": seen[0].tools if seen else None, "sent": describe(seen)}


def nanobot(tmp: Path, turns: int = 30) -> dict:
    import peers

    peers.ensure()
    model = SseModel().start()
    bot = peers.Nanobot(tmp / "turn-nanobot", model.base_url)
    try:
        bot.start("serve")
        url = f"http://127.0.0.1:{bot.api_port}/v1/chat/completions"
        session = requests.Session()
        overheads, calls, first = [], [], None
        for i in range(turns + 2):          # the first two warm it up (imports, connections)
            model.take()
            started = time.perf_counter()
            resp = session.post(url, json={"model": "fake-1", "messages": [{"role": "user", "content": "hello"}]},
                                timeout=120)
            spent = time.perf_counter() - started
            resp.raise_for_status()
            seen = model.take()
            first = first or seen
            if i >= 2:
                overheads.append((spent - sum(s.seconds for s in seen)) * 1000)
                calls.append(len(seen))
        session.close()
    finally:
        bot.stop()
        model.stop()
    return {"turns": turns, "calls_per_turn": median(calls), "overhead_p50_ms": percentile(overheads, 0.5),
            "overhead_p99_ms": percentile(overheads, 0.99),
            "hello_chars": first[0].message_chars + first[0].tool_chars if first else None,
            "hello_tools": first[0].tools if first else None, "sent": describe(first or [])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=30)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="smartbot-turn-"))
    print(json.dumps({"smartbot": smartbot(tmp), "nanobot": nanobot(tmp, args.turns)}, indent=1))


if __name__ == "__main__":
    main()
