"""Fixtures for the web chat's browser journeys: a headless Chromium, and the app under gunicorn
(two workers, so a reply is often delivered by another process than the one the page waits on)
answering with the fake model, with a database handle of the test process's own.

One app serves all the journeys of a module (each test opens its pages in a browser context of its
own, so each is a new visitor with a chat of their own): starting and stopping gunicorn, whose
stop waits for the polls still waiting, costs more than any journey.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import pytest

from tests.support.apps import GunicornApp
from tests.support.browser import launched
from tests.support.fake_model import FakeModel


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as instance:
        yield instance


@dataclass
class ChatSite:
    url: str
    db: Any
    model: FakeModel


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory) -> Iterator[ChatSite]:
    from smartbot.storage.db import Database

    folder = tmp_path_factory.mktemp("webchat")
    model = FakeModel().start()
    config = {
        "database_url": f"sqlite:///{folder / 'smartbot.db'}",
        "providers": [{"name": "main", "kind": "openai", "base_url": model.base_url, "model": "fake-1",
                       "read_timeout": 5.0, "total_timeout": 8.0, "max_retries": 1}],
        "jobs": {"lease_seconds": 3.0, "sweep_seconds": 0.2},
        # Every journey comes from 127.0.0.1 within a few minutes; the limits have tests of their own.
        "quotas": {"messages_per_minute_per_role": {}},
        "webchat": {"messages_per_minute_per_address": 1000, "messages_per_minute_per_chat": 1000},
    }
    app = GunicornApp(config, folder).start()
    db = Database(config["database_url"])
    try:
        yield ChatSite(app.url, db, model)
    finally:
        app.stop()
        db.dispose()
        model.stop()


@pytest.fixture
def site(chat_server: ChatSite, browser: Any) -> Iterator[ChatSite]:
    """The shared app, its fake model answering "echo: ..." again; the test's pages are closed after."""
    chat_server.model.reset()
    yield chat_server
    for context in browser.contexts:
        context.close()
