"""The fake Discord Gateway checked against Discord's own Python client (discord.py), so that what our
connector is tested against speaks the protocol as Discord does.

discord.py has no setting for the API's address: its REST calls all start from the class attribute
`discord.http.Route.BASE`, set here to the fake's for the test (monkeypatch restores it). Its
sharded client finds the Gateway through `GET /gateway/bot`, as our connector does, and it asks
for `compress=zlib-stream` (pinned here to zlib, which the fake speaks, whatever compression the
installed discord.py would prefer). It logs in, identifies, hears a MESSAGE_CREATE, and after the
fake drops the connection it RESUMEs at `resume_gateway_url` and hears what was sent meanwhile.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Iterator

import discord
import pytest

from tests.support.fake_discord_gateway import ALICE, BOT_ID, BOT_TOKEN, WANTED_INTENTS, FakeDiscordGateway
from tests.support.recording_link import serving

GUILD = "1600000000000000001"


@pytest.fixture
def fake() -> Iterator[FakeDiscordGateway]:
    yield from serving(FakeDiscordGateway())


class _SdkClient:
    """discord.py's AutoShardedClient on an event loop of its own thread; what it heard, kept."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        self.client = discord.AutoShardedClient(intents=intents)
        self.cv = threading.Condition()
        self.heard: list[dict[str, Any]] = []
        self.resumed = 0
        self.errors: list[str] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._looping = threading.Event()
        self.client.event(self.on_message)
        self.client.event(self.on_shard_resumed)
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def on_message(self, message: Any) -> None:
        with self.cv:
            self.heard.append({"id": str(message.id), "content": message.content, "author": str(message.author.id),
                               "channel": str(message.channel.id),
                               "guild": str(getattr(message.channel, "guild_id", None) or "")})
            self.cv.notify_all()

    async def on_shard_resumed(self, shard_id: int) -> None:
        with self.cv:
            self.resumed += 1
            self.cv.notify_all()

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        with self.cv:
            return self.cv.wait_for(predicate, timeout)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._looping.set()
        await self.client.start(BOT_TOKEN)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())       # which also ends the client's leftover tasks
        except Exception as exc:        # the test reads it: the SDK refused something the fake said
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def start(self) -> "_SdkClient":
        self.thread.start()
        assert self._looping.wait(10)
        return self

    def close(self) -> None:
        if self.thread.is_alive() and self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(10)
        self.thread.join(10)


@pytest.fixture
def sdk(fake, monkeypatch) -> Iterator[_SdkClient]:
    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.utils, "_ActiveDecompressionContext", discord.utils._ZlibDecompressionContext)
    client = _SdkClient().start()
    yield client
    client.close()


def test_discord_py_logs_in_discovers_the_gateway_identifies_and_hears_a_message(fake, sdk):
    fake.wait_connected(timeout=20)
    dm = fake.message("hello from a DM", channel_id="1500000000000000009")
    mention = fake.message(f"<@{BOT_ID}> disk usage?", guild_id=GUILD, mentions=[{"id": BOT_ID}])
    assert sdk.wait_for(lambda: len(sdk.heard) >= 2, 20), (sdk.heard, sdk.errors, fake.ws.errors)
    assert sdk.heard == [
        {"id": dm, "content": "hello from a DM", "author": ALICE["id"], "channel": "1500000000000000009",
         "guild": ""},
        {"id": mention, "content": f"<@{BOT_ID}> disk usage?", "author": ALICE["id"],
         "channel": "1500000000000000001", "guild": GUILD}]
    assert ("GET", "/api/v10/gateway/bot") in fake.api_calls and ("GET", "/api/v10/users/@me") in fake.api_calls
    [identify] = fake.identifies
    assert identify["token"] == BOT_TOKEN and identify["shard"] == [0, 1]
    assert identify["intents"] & WANTED_INTENTS == WANTED_INTENTS       # the message intents, content too
    assert fake.queries[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert sdk.errors == [] and fake.ws.errors == []


def test_discord_py_resumes_after_the_fake_drops_it_and_hears_what_came_meanwhile(fake, sdk):
    fake.wait_connected(timeout=20)
    fake.message("before the drop", channel_id="1500000000000000009")
    assert sdk.wait_for(lambda: len(sdk.heard) == 1, 20), (sdk.errors, fake.ws.errors)
    fake.drop()
    fake.message("while it was away", channel_id="1500000000000000009")
    fake.wait_connected(opens=2, timeout=30)
    assert sdk.wait_for(lambda: len(sdk.heard) == 2 and sdk.resumed == 1, 20), (sdk.heard, sdk.errors)
    assert [m["content"] for m in sdk.heard] == ["before the drop", "while it was away"]
    assert len(fake.identifies) == 1 and len(fake.resumes) == 1
    assert fake.paths == ["/", "/resume"]
    resume = fake.resumes[0]
    assert resume["token"] == BOT_TOKEN and resume["seq"] == 2 and resume["session_id"]
    assert fake.ws.most_at_once == 1 and sdk.errors == [] and fake.ws.errors == []
