"""Two SmartBot nodes on one PostgreSQL database, both with Discord in connect mode: one Gateway
connection at any time (the fake counts connections open at once), and when the node holding it
dies the other resumes the session, every message answered once."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from smartbot.storage.db import Database
from tests.support.apps import GunicornApp
from tests.support.fake_discord_gateway import BOT_ID, BOT_TOKEN, FakeDiscordGateway
from tests.support.platform_clients import quiet_for
from tests.support.postgres import fresh_schema

TAKEOVER = 5.0
DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")


@pytest.fixture
def discord() -> Iterator[FakeDiscordGateway]:
    server = FakeDiscordGateway().start()
    yield server
    server.stop()


@pytest.fixture
def two_nodes(tmp_path: Path, fake_model, discord) -> Iterator[tuple[list[GunicornApp], str]]:
    if not DB_URL:
        pytest.fail("needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL); ./scripts/test.sh sets it")
    with fresh_schema(DB_URL) as url:
        config = {
            "database_url": url,
            "channels": {"discord": {"mode": "connect", "bot_token": BOT_TOKEN, "api_base": discord.api_base},
                         "takeover_seconds": TAKEOVER},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"lease_seconds": 3.0, "sweep_seconds": 0.3},
            "quotas": {"messages_per_minute_per_role": {}},
        }
        nodes = []
        try:
            for name in ("a", "b"):
                folder = tmp_path / name
                (folder / "tmp").mkdir(parents=True)
                # A temporary folder each, as separate machines have: the per-server lock decides nothing.
                nodes.append(GunicornApp(dict(config), folder, workers=1, env={"TMPDIR": str(folder / "tmp")}).start())
            yield nodes, url
        finally:
            for node in nodes:
                node.stop()


def _holder_pid(database_url: str) -> int | None:
    db = Database(database_url)
    try:
        with db.read() as conn:
            row = conn.execute(sa.text("SELECT holder, expires_at FROM channel_leases WHERE channel = 'discord'")).first()
    finally:
        db.dispose()
    return None if row is None or row.expires_at < time.time() else int(row.holder.rsplit(":", 2)[1])


def _mention(discord: FakeDiscordGateway, text: str) -> None:
    discord.message(f"<@{BOT_ID}> {text}", guild_id="1600000000000000001", mentions=[{"id": BOT_ID}])


def test_two_nodes_hold_one_gateway_connection_and_the_survivor_resumes_it(two_nodes, discord):
    nodes, url = two_nodes
    discord.wait_connected(timeout=30)
    for i in range(4):
        _mention(discord, f"node message {i}")
    discord.wait_replies(4)
    holding = next(node for node in nodes if _holder_pid(url) in node.worker_pids())
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
    assert resumed_after < TAKEOVER + 2 and _holder_pid(url) in other.worker_pids()
