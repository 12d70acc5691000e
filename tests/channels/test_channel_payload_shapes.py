"""Verified but oddly shaped payloads: every field of each sample replaced by values of the wrong type,
or removed. A channel must answer each with messages or a PayloadError (400), never a crash (500)."""
from __future__ import annotations

import copy
import json
import time
from typing import Any, Iterator

import pytest

from smartbot.settings import loading as config_module
from smartbot.channels import registry
from smartbot.channels.base import Headers, WebRequest
from smartbot.errors import PayloadError
from tests.support.fake_chat_apis import TELEGRAM_USERNAME, channel_config
from tests.support.platform_clients import sample

ODD_VALUES = ("text", 7, -1.5, True, None, [], ["x"], {}, {"x": 1})
CASES = [("telegram", "telegram_private_text.json"), ("telegram", "telegram_group_mention.json"),
         ("slack", "slack_im_message.json"), ("slack", "slack_app_mention.json"),
         ("slack", "slack_url_verification.json"), ("discord", "discord_slash_ask.json"),
         ("discord", "discord_ping.json")]


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path + (key,)
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield path + (i,)
            yield from _paths(value, path + (i,))


def _variants(payload: Any) -> Iterator[Any]:
    for path in _paths(payload):
        for value in (*ODD_VALUES, "__delete__"):
            copied = copy.deepcopy(payload)
            parent = copied
            for key in path[:-1]:
                parent = parent[key]
            if value == "__delete__":
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield copied


@pytest.mark.parametrize("platform, name", CASES)
def test_odd_shapes_get_messages_or_a_payload_error_never_a_crash(platform, name, fake_chat_apis):
    extra = {"bot_username": TELEGRAM_USERNAME} if platform == "telegram" else {}
    settings = config_module.load({"channels": {platform: channel_config(platform, fake_chat_apis, **extra)}},
                                  env={"SMARTBOT_SECRET_KEY": "k" * 40})
    channel = registry.spec(platform).channel_class(settings.channels[platform])
    outcomes = {"messages": 0, "ignored": 0, "refused": 0}
    payload = sample(name)
    if platform == "telegram":
        payload["message"]["date"] = int(time.time())     # else every variant is ignored as too old
    if name.startswith("slack_") and "event" in payload:
        payload["authorizations"] = [{"team_id": "T0TEST", "user_id": "U0BOT", "is_bot": True}]
    for variant in _variants(payload):
        req = WebRequest("POST", f"/webhooks/{platform}", Headers({}), json.dumps(variant).encode())
        try:
            if channel.handshake(req) is not None:
                continue
            messages = channel.parse(req)
            channel.acknowledge(req, messages, 0)
        except PayloadError as exc:
            assert exc.reason and exc.status == 400
            outcomes["refused"] += 1
            continue
        for msg in messages:
            assert all(isinstance(v, str) for v in (msg.event_id, msg.chat_id, msg.user_id, msg.text)), variant
            json.dumps(msg.to_record())
        outcomes["messages" if messages else "ignored"] += 1
    channel.close()
    assert outcomes["refused"] and (outcomes["messages"] or "ping" in name or "verification" in name)
