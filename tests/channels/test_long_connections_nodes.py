"""Two SmartBot nodes on one PostgreSQL database with Feishu, DingTalk or WeCom in connect mode: one
long connection at any time (each fake counts the connections open at once), and when the node
holding it is killed with -9 the other node connects, every message answered once. (Telegram, Slack
and Discord have tests of their own: test_connections, test_slack_socket_nodes,
test_discord_gateway_nodes.)"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.support.connect_mode import TAKEOVER, holder_pid, two_nodes
from tests.support.fake_dingtalk_stream import FakeDingTalkStream
from tests.support.fake_feishu_ws import FakeFeishuWs
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.outbox_rows import wait_sent
from tests.support.platform_clients import quiet_for
from tests.support.platform_requests import dingtalk_message, feishu_event
from tests.support.recording_link import serving
from tests.support.waiting import wait_until

KEY, SECRET = "cli_test", "two-nodes-long-connection-secret"      # the Feishu samples name app cli_test


@dataclass
class Platform:
    """One platform's fake, the channel's settings for it, how a test sends message `n`, and which
    message a delivered reply answers."""

    channel: str
    fake: Any
    section: dict[str, Any]
    send: Callable[[int], None]
    answers: Callable[[dict[str, Any]], str]


def _feishu(fake: FakeFeishuWs) -> Platform:
    return Platform("feishu", fake, {"app_id": KEY, "app_secret": SECRET, "api_base": fake.url},
                    lambda n: fake.event(feishu_event("feishu_p2p_text.json", message_id=f"om_nodes_{n}")),
                    lambda reply: reply["path"].split("/")[-2])


def _dingtalk(fake: FakeDingTalkStream) -> Platform:
    def send(n: int) -> None:
        fake.callback(dingtalk_message(conversationType="1", msgId=f"msgNodes{n}", text={"content": f"nodes {n}"},
                                       sessionWebhook=fake.session_webhook))

    return Platform("dingtalk", fake, {"app_key": KEY, "app_secret": SECRET, "api_base": fake.url,
                                       "session_webhook_hosts": [fake.url]},
                    send, lambda reply: reply["json"]["markdown"]["text"])


def _wecom(fake: FakeWeComAiBot) -> Platform:
    def send(n: int) -> None:
        fake.message({"msgid": f"aibot-nodes-{n}", "aibotid": KEY, "chattype": "single", "from": {"userid": "lisi"},
                      "msgtype": "text", "text": {"content": f"nodes {n}"}})

    return Platform("wecom", fake, {"bot_id": KEY, "bot_secret": SECRET, "aibot_url": fake.ws_url},
                    send, lambda reply: reply["body"]["stream"]["content"])


FAKES = {"feishu": (FakeFeishuWs, _feishu), "dingtalk": (FakeDingTalkStream, _dingtalk),
         "wecom": (FakeWeComAiBot, _wecom)}


@pytest.fixture(params=sorted(FAKES))
def platform(request: pytest.FixtureRequest) -> Iterator[Platform]:
    fake_class, describe = FAKES[request.param]
    for fake in serving(fake_class(KEY, SECRET)):
        yield describe(fake)


def test_two_nodes_hold_one_connection_and_the_survivor_takes_it_over(tmp_path: Path, fake_model, platform):
    fake = platform.fake
    with two_nodes(tmp_path, fake_model, platform.channel, platform.section) as (nodes, url):
        assert fake.wait_connections(1, timeout=30)
        for n in range(4):
            platform.send(n)
        assert len(fake.wait_delivered(4, timeout=30)) == 4
        assert wait_sent(url, 4)           # no reply in its send window: that is not what this tests
        holding = next(node for node in nodes if holder_pid(url, platform.channel) in node.worker_pids())
        other = next(node for node in nodes if node is not holding)
        holding.kill_all()
        killed_at = time.time()
        assert fake.wait_connections(2, timeout=30), other.log()
        connected_after = time.time() - killed_at
        for n in range(4, 8):
            platform.send(n)
        assert len(fake.wait_delivered(8, timeout=30)) == 8, other.log()
        quiet_for(1.5)
        answered = [platform.answers(reply) for reply in fake.delivered]
        assert len(answered) == len(set(answered)) == 8, answered       # each message answered once
        fake.assert_one_at_a_time()
        assert connected_after < TAKEOVER + 2
        assert wait_until(lambda: holder_pid(url, platform.channel) in other.worker_pids(), 10)
