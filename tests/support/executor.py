"""Helpers for the executor tests: users bound to roles, commands added to the catalogue, chat turns
through the generic webhook, tool-call answers for the fake model, and audit rows to assert on."""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any

import sqlalchemy as sa

from smartbot.router.store import RULES_VERSION
from smartbot.storage.runtime_settings import bump
from smartbot.storage.tables import Role, Rule, User

# A Python any user can run: the commands run as "nobody" when the tests run as root.
PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
_SCRIPTS: list[str] = []


def script(code: str) -> str:
    """The path of an executable Python script running `code`, which any user may run.

    The catalogue refuses interpreters as programs (`python3 -c ...`): code that a command runs
    is a script installed on the server, named by its path, as an operator would install it."""
    if not _SCRIPTS:
        folder = tempfile.mkdtemp(prefix="smartbot-scripts-")
        os.chmod(folder, 0o755)
        atexit.register(shutil.rmtree, folder, True)
        _SCRIPTS.append(folder)
    path = os.path.join(_SCRIPTS[0], "sbtest-" + hashlib.sha256(code.encode()).hexdigest()[:12])
    if not os.path.exists(path):
        with open(path + ".tmp", "w") as fh:
            fh.write(f"#!{PYTHON} -I\n{code}\n")
        os.chmod(path + ".tmp", 0o755)
        os.replace(path + ".tmp", path)
    return path



def bind(db: Any, user_id: str, name: str, roles: list[str], channel: str = "generic") -> int:
    """Make the platform sender `user_id` a registered user with `roles`."""
    now = time.time()
    with db.write() as conn:
        uid = conn.execute(sa.insert(User.__table__).values(
            name=name, display_name=name, is_active=True, locale="", created_at=now, updated_at=now
        ).returning(User.__table__.c.id)).scalar()
        conn.execute(sa.text("INSERT INTO identities (channel, platform_user_id, user_id, display_name, created_at) "
                             "VALUES (:c, :p, :u, :n, :now) ON CONFLICT (channel, platform_user_id) "
                             "DO UPDATE SET user_id = excluded.user_id"),
                     {"c": channel, "p": user_id, "u": uid, "n": name, "now": now})
        for role in roles:
            conn.execute(sa.text("INSERT INTO user_roles (user_id, role_id) SELECT :u, id FROM roles WHERE name = :r"),
                         {"u": uid, "r": role})
    return int(uid)


def add_role(db: Any, name: str, permissions: list[str], chat_scope: list[str] | None = None) -> None:
    now = time.time()
    with db.write() as conn:
        conn.execute(sa.insert(Role.__table__).values(
            name=name, description="", permissions=permissions, chat_scope=chat_scope, is_template=False,
            source="db", created_at=now, updated_at=now))


def add_command(db: Any, name: str, argv: list[str], params: list[dict] | None = None, **extra: Any) -> None:
    """Store a command as the admin API would (checked by the same definition check)."""
    from smartbot.executor import catalogue

    spec = catalogue.check_definition({"name": name, "argv": argv, "params": params or [], **extra})
    with db.write() as conn:
        conn.execute(sa.insert(catalogue._commands).values(name=spec.name, **catalogue.row_values(spec)))


def set_rule_params(db: Any, rule: str, params: dict[str, Any]) -> None:
    rules = Rule.__table__
    with db.write() as conn:
        conn.execute(sa.update(rules).where(rules.c.name == rule).values(params=params))
        bump(conn, db, RULES_VERSION)


class Chat:
    """Say things to the app through the signed generic webhook; read the replies the fake platform got."""

    def __init__(self, app: Any, platform: Any) -> None:
        self.app = app
        self.platform = platform
        self._n = 0

    def send(self, text: str, user: str = "u-1", chat: str = "chat-1", **extra: Any) -> str:
        self._n += 1
        event_id = f"ev-{self._n}-{time.monotonic_ns()}"
        payload = {"event_id": event_id, "chat_id": chat, "user_id": user, "user_name": user, "text": text, **extra}
        resp = self.app.post_generic(payload)
        assert resp.status_code == 200, resp.text
        return event_id

    def reply_to(self, event_id: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.platform.replies_to(event_id)
            if got:
                return "\n".join(r["json"]["text"] for r in got)
            self.platform.wait_for(len(self.platform.received) + 1, 0.1)
        raise AssertionError(f"no reply to {event_id}")

    def say(self, text: str, user: str = "u-1", chat: str = "chat-1", timeout: float = 15.0, **extra: Any) -> str:
        return self.reply_to(self.send(text, user, chat, **extra), timeout)

    def in_chat(self, chat: str, timeout: float = 10.0, count: int = 1) -> list[str]:
        """Texts delivered to `chat` that answer no message (notices), waiting for `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            texts = [r["json"]["text"] for r in list(self.platform.received)
                     if r["json"] and r["json"]["chat_id"] == chat and not r["json"].get("reply_to")]
            if len(texts) >= count or time.monotonic() > deadline:
                return texts
            time.sleep(0.05)


def audit_rows(db: Any, action: str) -> list[Any]:
    with db.read() as conn:
        return conn.execute(sa.text("SELECT * FROM audit_log WHERE action = :a ORDER BY seq"), {"a": action}).all()


def details(row: Any) -> dict[str, Any]:
    return json.loads(row.details)


def tool_call_answer(*calls: tuple[str, Any], text: str = "") -> dict[str, Any]:
    """An OpenAI chat-completions answer asking for tool calls: (name, arguments as dict or raw text)."""
    wire = [{"id": f"call_{i}", "type": "function",
             "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for i, (name, args) in enumerate(calls)]
    return {"id": "cmpl-tools", "object": "chat.completion", "model": "fake-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text or None, "tool_calls": wire},
                         "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def text_answer(text: str) -> dict[str, Any]:
    return {"id": "cmpl-text", "object": "chat.completion", "model": "fake-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
