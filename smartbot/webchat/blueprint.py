"""/chat: a page to talk to the bot with no platform set up. Messages take the same path as any
webhook's (inbox -> worker -> outbox); the page reads its replies back from the outbox.

Each browser gets a random chat id in the signed session cookie. Writes need the
`X-Requested-With: smartbot` header, which a cross-site form cannot send, against CSRF.
"""
from __future__ import annotations

import re
import secrets
import time

from flask import Blueprint, jsonify, render_template, request, session

from ..gateway import outbox
from ..i18n import normalize, t
from ..messages import InboundMessage
from ..web import current_runtime, json_error

bp = Blueprint("webchat", __name__)

MAX_TEXT = 4000
MAX_WAIT = 10.0
RATE_PER_MINUTE = 30
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def _chat_id() -> str:
    if "chat_id" not in session:
        session["chat_id"] = secrets.token_urlsafe(12)
        session.permanent = True
    return session["chat_id"]


def _locale() -> str:
    runtime = current_runtime()
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"]) or ""
    return normalize(best, runtime.settings.default_locale)


@bp.get("/chat")
def page():
    runtime = current_runtime()
    _chat_id()
    locale = _locale()
    return render_template("webchat/chat.html", t=lambda key, **kw: t(key, locale, **kw),
                           bot_name=runtime.settings.bot_name, locale=locale)


@bp.post("/chat/api/messages")
def send():
    if request.headers.get("X-Requested-With") != "smartbot":
        return json_error(403, "missing X-Requested-With: smartbot header")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(400, "body must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "missing field: text")
    if len(text) > MAX_TEXT:
        return json_error(400, f"text is longer than {MAX_TEXT} characters")
    client_id = data.get("client_id") or secrets.token_urlsafe(12)
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        return json_error(400, "client_id must be 8-64 letters, digits, - or _")
    chat_id = _chat_id()
    if not _allow(current_runtime().store, chat_id):
        return json_error(429, f"at most {RATE_PER_MINUTE} messages a minute")
    runtime = current_runtime()
    msg = InboundMessage(channel="webchat", event_id=f"{chat_id}:{client_id}", message_id=client_id,
                         chat_id=chat_id, user_id=chat_id, user_name="web-" + chat_id[:6], text=text.strip(),
                         mentioned=True, locale=_locale())
    result = runtime.ingest.accept(msg)
    return jsonify(status="duplicate" if result.duplicate else "accepted", event_id=msg.event_id), 202


@bp.get("/chat/api/messages")
def receive():
    runtime = current_runtime()
    chat_key = f"webchat:{_chat_id()}"
    try:
        after = int(request.args.get("after", "0"))
        wait = min(float(request.args.get("wait", "0")), MAX_WAIT)
    except ValueError:
        return json_error(400, "after must be an integer and wait a number of seconds")
    deadline = time.monotonic() + max(wait, 0.0)
    condition = runtime.channels["webchat"].delivered
    while True:
        rows = outbox.replies_for_chat(runtime.db, chat_key, after)
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0:
            break
        with condition:
            condition.wait(min(remaining, 0.5))
    return jsonify(messages=[{"id": row_id, "text": reply.text, "reply_to": reply.reply_to, "format": reply.format}
                             for row_id, reply in rows],
                   last=rows[-1][0] if rows else after)


def _allow(store, chat_id: str) -> bool:
    """At most RATE_PER_MINUTE messages per browser and minute (shared by every node with Redis)."""
    return store.incr(f"webchat:{chat_id}:{int(time.time() // 60)}", 60) <= RATE_PER_MINUTE
