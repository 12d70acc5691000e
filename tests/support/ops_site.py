"""The app under gunicorn as the operations pages' tests use it: providers probed and monitors run
every fraction of a second, a reply that the platform refuses once failed for good (so the queues
page has something to retry), an admin account, and the test's own handle on the database."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from smartbot.auth.accounts import create_admin
from smartbot.storage.db import Database

from .api_client import ADMIN_PASSWORD
from .apps import GunicornApp
from .waiting import wait_until

FAST_OPS = {"probe_seconds": 0.2, "probe_timeout": 1.0, "check_seconds": 0.2, "cpu": 0, "memory": 0, "disk": 0}


@dataclass
class Site:
    app: GunicornApp
    db: Database

    @property
    def url(self) -> str:
        return self.app.url

    def say(self, event_id: str, user: str = "alice", chat: str | None = None, text: str = "hello") -> None:
        resp = self.app.post_generic({"event_id": event_id, "chat_id": chat or f"chat-{user}", "user_id": user,
                                      "text": text})
        assert resp.status_code == 200, resp.text

    def failed_replies(self) -> list[int]:
        with self.db.read() as conn:
            return list(conn.execute(sa.text("SELECT id FROM outbox WHERE status = 'failed' ORDER BY id")).scalars())

    def fail_a_reply(self, platform: Any, event_id: str) -> int:
        """A message whose reply the platform refuses once: the reply fails for good."""
        before = len(self.failed_replies())
        platform.fail_next(1, 503)
        self.say(event_id, chat=f"chat-{event_id}", text=event_id)
        assert wait_until(lambda: len(self.failed_replies()) > before, 15), self.app.log()
        return self.failed_replies()[-1]

    def audit(self, action: str) -> list[Any]:
        with self.db.read() as conn:
            return conn.execute(sa.text("SELECT actor, target, result, details FROM audit_log WHERE action = :a "
                                        "ORDER BY seq"), {"a": action}).all()


def start_site(gunicorn_app: Callable[..., GunicornApp], config: dict[str, Any], database_url: str) -> Site:
    config.setdefault("alerts", {}).update(FAST_OPS)
    config.setdefault("jobs", {})["outbox_max_attempts"] = 1
    app = gunicorn_app(config, workers=2)
    db = Database(database_url)
    create_admin(db, "root", ADMIN_PASSWORD)
    return Site(app, db)
