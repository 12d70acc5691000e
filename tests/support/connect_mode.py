"""Set-up shared by the end-to-end tests of connect mode: the app's settings for a channel in
connect mode, which process holds a channel's connection now, the checks every platform's tests make
(the webhook closed, a bad frame audited once), and two gunicorn nodes on one fresh PostgreSQL schema (each with a temporary folder of its own, as separate machines have, so the
per-server lock decides nothing between them and only the lease row does)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from smartbot.gateway.connections import states
from smartbot.storage.db import Database
from tests.support.fake_chat_apis import answered_whole
from tests.support.apps import GunicornApp
from tests.support.platform_clients import audit_rows, quiet_for, wait_for_audit
from tests.support.postgres import fresh_schema

TAKEOVER = 5.0          # [channels] takeover_seconds in these tests


def connect_config(make_config: Any, fake_model: Any, channel: str, **section: Any) -> dict[str, Any]:
    """The test app's settings with `channel` in connect mode."""
    return make_config(model=fake_model, channels={channel: {"mode": "connect", **section},
                                                   "takeover_seconds": TAKEOVER})


def holder_pid(database_url: str, channel: str) -> int | None:
    """The pid of the process holding `channel`'s connection now (None: nobody, or a lapsed lease)."""
    db = Database(database_url)
    try:
        holder = states(db).get(channel, {}).get("holder")
    finally:
        db.dispose()
    return int(holder.rsplit(":", 2)[1]) if holder else None


@contextmanager
def two_nodes(tmp_path: Path, fake_model: Any, channel: str, section: dict[str, Any]) -> Iterator[tuple[list[GunicornApp], str]]:
    """Two nodes (one gunicorn worker each) with `channel` in connect mode; the nodes and the
    database URL."""
    database_url = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
    if not database_url:
        pytest.fail("needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL); ./scripts/test.sh sets it")
    with fresh_schema(database_url) as url:
        config = {
            "database_url": url,
            "channels": answered_whole({"channels": {channel: {"mode": "connect", **section}}})["channels"]
            | {"takeover_seconds": TAKEOVER},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"lease_seconds": 3.0, "sweep_seconds": 0.3},
            "quotas": {"messages_per_minute_per_role": {}},
        }
        nodes: list[GunicornApp] = []
        try:
            for name in ("a", "b"):
                folder = tmp_path / name
                (folder / "tmp").mkdir(parents=True)
                nodes.append(GunicornApp(dict(config), folder, workers=1, env={"TMPDIR": str(folder / "tmp")})
                             .start(timeout=90))          # a busy machine starts slowly
            yield nodes, url
        finally:
            for node in nodes:
                node.stop()


def assert_webhook_closed_and_connected(app: Any, channel: str, body: bytes = b"{}") -> None:
    """In connect mode the channel's webhook answers 404 with the reason, and /readyz shows the
    connection up."""
    res = requests.post(f"{app.url}/webhooks/{channel}", data=body, timeout=5)
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    ready = app.get("/readyz").json()["checks"]["channels"][channel]
    assert ready["mode"] == "connect" and ready["connected"] is True


def assert_refused_once(app: Any, channel: str, secret: str) -> None:
    """Bad frames were audited once for the interval (the app runs with refusal_audit_interval 60),
    with no secret in the row."""
    rows = wait_for_audit(app, "connection.refused")
    quiet_for(0.5)
    assert len(audit_rows(app, "connection.refused")) == 1 and rows[0].target == f"channel:{channel}"
    assert secret not in str(rows[0].details)
