"""Two SmartBot nodes on one PostgreSQL database, both with Discord in connect mode: one Gateway
connection at any time (the fake counts connections open at once), and when the node holding it
dies the other resumes the session, every message answered once."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.apps import GunicornApp
from tests.support.connect_mode import TAKEOVER, holder_pid, two_nodes
from tests.support.fake_discord_gateway import BOT_ID, BOT_TOKEN, FakeDiscordGateway
from tests.support.platform_clients import quiet_for
from tests.support.recording_link import serving


@pytest.fixture
def discord() -> Iterator[FakeDiscordGateway]:
    yield from serving(FakeDiscordGateway())


@pytest.fixture
def cluster(tmp_path: Path, fake_model, discord) -> Iterator[tuple[list[GunicornApp], str]]:
    with two_nodes(tmp_path, fake_model, "discord", {"bot_token": BOT_TOKEN, "api_base": discord.api_base}) as both:
        yield both


def _mention(discord: FakeDiscordGateway, text: str) -> None:
    discord.message(f"<@{BOT_ID}> {text}", guild_id="1600000000000000001", mentions=[{"id": BOT_ID}])


def test_two_nodes_hold_one_gateway_connection_and_the_survivor_resumes_it(cluster, discord):
    nodes, url = cluster
    discord.wait_connected(timeout=30)
    for i in range(4):
        _mention(discord, f"node message {i}")
    discord.wait_replies(4)
    holding = next(node for node in nodes if holder_pid(url, "discord") in node.worker_pids())
    other = next(node for node in nodes if node is not holding)
    quiet_for(1.0)         # no reply on its way: the outbox's send window is not what this tests
    holding.kill_all()
    killed_at = time.time()
    for i in range(4, 8):
        _mention(discord, f"node message {i}")
    discord.wait_connected(opens=2, timeout=30)
    resumed_after = time.time() - killed_at
    discord.wait_replies(8, timeout=30)
    quiet_for(1.0)
    assert sorted(r["content"] for r in discord.replies) == sorted(f"echo: node message {i}" for i in range(8))
    assert discord.ws.most_at_once == 1 and len(discord.identifies) == 1 and len(discord.resumes) == 1
    assert resumed_after < TAKEOVER + 2 and holder_pid(url, "discord") in other.worker_pids()
