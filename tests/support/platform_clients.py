"""Webhook requests as Telegram, Slack and Discord send them, produced without SmartBot's code:
Slack's signature by slack_sdk's SignatureVerifier, Discord's by PyNaCl, Telegram's secret header as
its Bot API documents it. Sample payloads come from tests/samples (copies of the platforms' shapes).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import requests
from nacl.signing import SigningKey
from slack_sdk.signature import SignatureVerifier

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of a sample payload (tests change them freely)."""
    return copy.deepcopy(json.loads((SAMPLES / name).read_text()))


def _body(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


class TelegramSender:
    def __init__(self, app_url: str, secret_token: str) -> None:
        self.url = app_url + "/webhooks/telegram"
        self.secret_token = secret_token

    def post(self, update: Any, secret_token: str | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        token = self.secret_token if secret_token is None else secret_token
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        return requests.post(self.url, data=_body(update), headers=headers, timeout=10)


class SlackSender:
    def __init__(self, app_url: str, signing_secret: str) -> None:
        self.url = app_url + "/webhooks/slack"
        self.verifier = SignatureVerifier(signing_secret)

    def post(self, payload: Any, timestamp: int | None = None, retry_num: int | None = None,
             signature: str | None = None) -> requests.Response:
        body = _body(payload)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature or self.verifier.generate_signature(timestamp=ts, body=body)}
        if retry_num is not None:
            headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
        return requests.post(self.url, data=body, headers=headers, timeout=10)


class DiscordSender:
    def __init__(self, app_url: str, signing_key: SigningKey | None = None) -> None:
        self.url = app_url + "/webhooks/discord"
        self.signing_key = signing_key or SigningKey.generate()

    @property
    def public_key(self) -> str:
        return self.signing_key.verify_key.encode().hex()

    def post(self, payload: Any, timestamp: int | None = None,
             signing_key: SigningKey | None = None) -> requests.Response:
        body = _body(payload)
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signed = (signing_key or self.signing_key).sign(ts.encode() + body)
        headers = {"Content-Type": "application/json", "X-Signature-Ed25519": signed.signature.hex(),
                   "X-Signature-Timestamp": ts}
        return requests.post(self.url, data=body, headers=headers, timeout=10)


def model_answer(text: str) -> dict[str, Any]:
    """A chat-completions body for FakeModel.script(): the model says `text`."""
    return {"body": {"id": "cmpl-scripted", "object": "chat.completion", "model": "fake-1",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}}


def inbox_rows(app: Any) -> int:
    """How many messages the app stored (to show a refused request stored nothing)."""
    import sqlalchemy as sa

    from smartbot.storage.tables import Inbox

    with app.runtime.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(Inbox.__table__)).scalar()


def audit_rows(app: Any, action: str) -> list[Any]:
    import sqlalchemy as sa

    from smartbot.storage.tables import AuditLog

    table = AuditLog.__table__
    with app.runtime.db.read() as conn:
        return conn.execute(sa.select(table).where(table.c.action == action).order_by(table.c.seq)).all()


def wait_for_audit(app: Any, action: str, timeout: float = 10.0) -> list[Any]:
    """The audit rows of `action`, once there is at least one (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while not (rows := audit_rows(app, action)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def quiet_for(seconds: float = 0.5) -> None:
    """Give the workers time to do anything they were (wrongly) going to do."""
    time.sleep(seconds)
