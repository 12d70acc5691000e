"""The security suite: each test is one attack, sent as an attacker sends it, over real HTTP to the
app under gunicorn. Fixtures here build the target (every test gets its own database), people with
chosen roles, a canary listener that must receive nothing, and readers for the audit log.

Test files are named by what they attack (`test_attack_<surface>.py`); a test asserts the refusal
(status and reason), the audit row, and that nothing ran or leaked.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest
import requests
import sqlalchemy as sa

from tests.support.api_client import Api
from tests.support.apps import GunicornApp
from tests.support.httpserver import LoopbackServer, QuietHandler

PASSWORD = "correct horse battery"
CANARY_BODY = b'{"canary": "CANARY-BODY-7f3a9c"}'


class _CanaryHandler(QuietHandler):
    def _any(self) -> None:
        owner: Canary = self.server.owner  # type: ignore[attr-defined]
        owner._hit(self.command, self.path, dict(self.headers), self.read_body())
        status, location = owner.answer
        self.send(status, CANARY_BODY, headers={"Location": location} if location else None)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any


class Canary(LoopbackServer):
    """A listener an attack tries to reach (a provider test's base_url, a reply host, a redirect
    target). It records every request; a test asserts it received none, or none carrying a secret."""

    def __init__(self) -> None:
        super().__init__(_CanaryHandler)
        self.hits: list[dict[str, Any]] = []
        self.answer: tuple[int, str] = (200, "")
        self._lock = threading.Lock()

    def _hit(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.hits.append({"method": method, "path": path, "headers": headers, "body": body})

    def redirect_to(self, url: str, status: int = 302) -> None:
        self.answer = (status, url)

    def carried(self, secret: str) -> list[dict[str, Any]]:
        """The requests that carried `secret` anywhere (path, headers, body)."""
        return [h for h in self.hits
                if secret in h["path"] or secret in json.dumps(h["headers"]) or secret.encode() in h["body"]]


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary().start()
    yield server
    server.stop()


@dataclass
class Target:
    """The app under gunicorn plus a handle on its database (the test process's own connection)."""

    app: GunicornApp
    db: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.app.url

    def add_user(self, name: str, roles: list[str], password: str | None = PASSWORD,
                 identities: list[tuple[str, str]] = (), permissions: list[str] | None = None) -> int:
        """A user with `roles` (each must exist) or, with `permissions`, a role of its own named
        `<name>-role` holding exactly those patterns. Written straight to the database, as the
        operator's set-up would be: the attack starts after it."""
        from smartbot.auth.passwords import hash_password
        from smartbot.storage.tables import Identity, Role, User, UserRole

        users, role_t, user_roles, ident = (User.__table__, Role.__table__, UserRole.__table__,
                                            Identity.__table__)
        now = time.time()
        with self.db.write() as conn:
            if permissions is not None:
                conn.execute(sa.insert(role_t).values(name=f"{name}-role", description="", permissions=permissions,
                                                      chat_scope=None, is_template=False, source="db",
                                                      created_at=now, updated_at=now))
                roles = [*roles, f"{name}-role"]
            user_id = conn.execute(sa.insert(users).values(
                name=name, display_name=name, password_hash=hash_password(password) if password else None,
                is_active=True, locale="", created_at=now, updated_at=now).returning(users.c.id)).scalar_one()
            for role in roles:
                role_id = conn.execute(sa.select(role_t.c.id).where(role_t.c.name == role)).scalar_one()
                conn.execute(sa.insert(user_roles).values(user_id=user_id, role_id=role_id))
            for channel, platform_user_id in identities:
                conn.execute(sa.insert(ident).values(channel=channel, platform_user_id=platform_user_id,
                                                     user_id=user_id, display_name=name, created_at=now))
        return int(user_id)

    def login(self, name: str, password: str = PASSWORD) -> "Session":
        resp = requests.post(self.url + "/api/v1/auth/login", json={"name": name, "password": password}, timeout=15)
        assert resp.status_code == 200, resp.text
        return Session(self.url, resp.json())

    def audit(self, action: str | None = None, since_seq: int = 0) -> list[dict[str, Any]]:
        """Audit rows (oldest first), optionally of one action, after `since_seq`."""
        from smartbot.storage.tables import AuditLog

        log = AuditLog.__table__
        query = sa.select(log).where(log.c.seq > since_seq).order_by(log.c.seq)
        if action:
            query = query.where(log.c.action == action)
        with self.db.read() as conn:
            return [{**row._mapping, "details": json.loads(row.details or "{}")} for row in conn.execute(query)]

    def last_seq(self) -> int:
        from smartbot.storage.tables import AuditLog

        log = AuditLog.__table__
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(log.c.seq), 0))).scalar())

    def roles_of(self, name: str) -> list[str]:
        from smartbot.storage.tables import Role, User, UserRole

        users, role_t, user_roles = User.__table__, Role.__table__, UserRole.__table__
        with self.db.read() as conn:
            return sorted(conn.execute(sa.select(role_t.c.name).select_from(user_roles.join(role_t).join(users))
                                       .where(users.c.name == name)).scalars())

    def permissions_of_role(self, role: str) -> list[str]:
        from smartbot.storage.tables import Role

        role_t = Role.__table__
        with self.db.read() as conn:
            return list(conn.execute(sa.select(role_t.c.permissions).where(role_t.c.name == role)).scalar_one() or [])


class Session(Api):
    """A logged-in API caller (the tokens the login returned); `token=` on a call sends another one."""

    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        super().__init__(base_url, tokens["access_token"])
        self.tokens = tokens

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        if token is not None:
            kw["headers"] = {**kw.get("headers", {}), "Authorization": f"Bearer {token}"}
        return super().call(method, path, **kw)


@pytest.fixture
def target(gunicorn_app: Callable[..., GunicornApp], make_config: Callable[..., dict[str, Any]], fake_model: Any,
           database_url: str) -> Iterator[Callable[..., Target]]:
    """`target(**config_overrides)` starts the app under gunicorn (two workers, a fake model as
    the provider, the generic channel at the fake platform) and returns a Target. Keyword
    arguments are merged into the config as `make_config` does; `workers=`/`env=` go to gunicorn."""
    from smartbot.storage.db import Database

    handles: list[Any] = []

    def start(workers: int = 2, env: dict[str, str] | None = None, **overrides: Any) -> Target:
        config = make_config(model=fake_model, **overrides)
        app = gunicorn_app(config, workers=workers, env=env)
        db = Database(database_url)
        handles.append(db)
        return Target(app=app, db=db)
    yield start
    for db in handles:
        db.dispose()


@pytest.fixture
def second_canary() -> Iterator[Canary]:
    """Another listener, e.g. where the first canary redirects to: it too must receive nothing."""
    server = Canary().start()
    yield server
    server.stop()
