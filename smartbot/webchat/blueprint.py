"""/chat: a page to talk to the bot with no platform set up. Messages take the same path as any
webhook's (inbox -> worker -> outbox); the page reads its replies back from the outbox.

Every visitor is anonymous: a random chat id in a signed cookie of its own (cookie.py, re-issued on
every answer), and every message counted against the chat, the client address and the budget of
all guests (limits.py) before it is stored. Writes need the `X-Requested-With: smartbot` header,
which a cross-site form cannot send, against CSRF. Every number in a query is checked to be finite
and in range: `float("nan")` passes `min()` and once kept a thread spinning forever.
"""
from __future__ import annotations

import math
import re
import time

from flask import Blueprint, Response, current_app, jsonify, render_template, request, session

from ..storage.db import MAX_INTEGER
from ..errors import PayloadError, RequestRefused
from ..gateway import outbox
from ..i18n import normalize, t
from ..messages import InboundMessage
from ..web.context import current_runtime, json_error, request_json
from . import cookie
from .cookie import ChatCookie
from .limits import GuestLimits

bp = Blueprint("webchat", __name__)

MAX_TEXT = 4000
MAX_BODY = 65536
MAX_WAIT = 10.0
_WHOLE_NUMBER = re.compile(r"[0-9]{1,19}\Z")


@bp.record_once
def _set_up(state) -> None:  # noqa: ANN001 - Flask's BlueprintSetupState
    runtime = state.app.extensions["smartbot"]
    settings = runtime.settings
    state.app.extensions["smartbot_webchat"] = (
        ChatCookie(settings.secret_key, settings.webchat.session_idle_days * 86400),
        GuestLimits(runtime.store, runtime.db, settings.webchat))


@bp.errorhandler(RequestRefused)
def _refused(exc: RequestRefused):
    return json_error(exc.status, exc.reason)


def _visitor() -> str:
    """This visitor's chat id: from their cookie, else a new chat."""
    chat_cookie, _ = current_app.extensions["smartbot_webchat"]
    chat_id = chat_cookie.read(request.cookies.get(cookie.NAME), time.time())
    if chat_id is None and "chat_id" in session:
        # Chats begun before the cookie of their own kept the id in Flask's session: carried over once.
        legacy = session.pop("chat_id")
        chat_id = legacy if isinstance(legacy, str) and cookie.CHAT_ID.match(legacy) else None
    return chat_id or cookie.new_chat_id()


def _answer(response: Response, chat_id: str) -> Response:
    """The response, with the visitor's cookie issued again: same chat, new issue time."""
    chat_cookie, _ = current_app.extensions["smartbot_webchat"]
    response.set_cookie(cookie.NAME, chat_cookie.issue(chat_id, time.time()), max_age=int(chat_cookie.idle_seconds),
                        path=cookie.PATH, httponly=True, samesite="Lax",
                        secure=request.is_secure or bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


def _locale() -> str:
    runtime = current_runtime()
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"]) or ""
    return normalize(best, runtime.settings.default_locale)


@bp.get("/chat")
def page():
    runtime = current_runtime()
    chat_id = _visitor()
    locale = _locale()
    html = render_template("webchat/chat.html", t=lambda key, **kw: t(key, locale, **kw),
                           bot_name=runtime.settings.bot_name, locale=locale)
    return _answer(Response(html, content_type="text/html; charset=utf-8"), chat_id)


@bp.post("/chat/api/messages")
def send():
    if request.headers.get("X-Requested-With") != "smartbot":
        return json_error(403, "missing X-Requested-With: smartbot header")
    data = request_json(max_bytes=MAX_BODY)
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise PayloadError("missing field: text")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"text is longer than {MAX_TEXT} characters")
    client_id = data.get("client_id") or cookie.new_chat_id()
    if not isinstance(client_id, str) or not cookie.CHAT_ID.match(client_id):
        raise PayloadError("client_id must be 8-64 letters, digits, - or _")
    chat_id = _visitor()
    _, limits = current_app.extensions["smartbot_webchat"]
    refusal = limits.admit(chat_id, request.remote_addr or "")
    if refusal is not None:
        response = json_error(429, refusal.reason)
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    runtime = current_runtime()
    msg = InboundMessage(channel="webchat", event_id=f"{chat_id}:{client_id}", message_id=client_id,
                         chat_id=chat_id, user_id=chat_id, user_name="web-" + chat_id[:6], text=text.strip(),
                         mentioned=True, locale=_locale())
    result = runtime.ingest.accept(msg)
    response = jsonify(status="duplicate" if result.duplicate else "accepted", event_id=msg.event_id)
    response.status_code = 202
    return _answer(response, chat_id)


@bp.get("/chat/api/messages")
def receive():
    runtime = current_runtime()
    after, wait = _after(), _wait()
    chat_id = _visitor()
    deadline = time.monotonic() + wait
    condition = runtime.channels["webchat"].delivered
    while True:
        rows = outbox.replies_for_chat(runtime.db, f"webchat:{chat_id}", after)
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0:
            break
        with condition:
            condition.wait(min(remaining, 0.5))
    return _answer(jsonify(messages=[{"id": row_id, "text": reply.text, "reply_to": reply.reply_to,
                                      "format": reply.format} for row_id, reply in rows],
                           last=rows[-1][0] if rows else after), chat_id)


def _after() -> int:
    """The last reply id the page has: a whole number the database can compare."""
    raw = request.args.get("after", "0")
    if not _WHOLE_NUMBER.match(raw) or int(raw) > MAX_INTEGER:
        raise PayloadError(f"after must be a whole number from 0 to {MAX_INTEGER}")
    return int(raw)


def _wait() -> float:
    """Seconds to wait for a reply: finite and at most MAX_WAIT (nan fails every comparison)."""
    try:
        wait = float(request.args.get("wait", "0"))
    except ValueError:
        wait = math.nan
    if not 0.0 <= wait <= MAX_WAIT:
        raise PayloadError(f"wait must be a number of seconds from 0 to {MAX_WAIT:g}")
    return wait
