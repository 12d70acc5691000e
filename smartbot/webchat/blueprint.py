"""/chat: a page to talk to the bot with no platform set up. Messages take the same path as any
webhook's (inbox -> worker -> outbox); the page reads the conversation back from both queues
(history.py) and waits for new replies on a long poll (feed.py).

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
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, session

from ..channels.support import buttons
from ..storage.db import MAX_INTEGER
from ..errors import MediaRefused, PayloadError, RequestRefused
from ..i18n import available, catalogue, language_name, t
from ..messages import Attachment, InboundMessage
from ..storage import uploads
from ..web.context import current_runtime, json_error, request_json
from . import cookie, files, history, language, outputs
from .cookie import ChatCookie
from .feed import MAX_WAIT, LiveFeed
from .history import Cursor
from .limits import GuestLimits

bp = Blueprint("webchat", __name__)

MAX_TEXT = 4000
MAX_BODY = 65536
UPLOAD_OVERHEAD = 65536     # the multipart framing around an upload's bytes
HISTORY_PAGE = 30           # entries the page asks for at a time
HISTORY_MOST = 100          # the most one answer holds, whatever is asked
_WHOLE_NUMBER = re.compile(r"[0-9]{1,19}\Z")


@bp.record_once
def _set_up(state) -> None:  # noqa: ANN001 - Flask's BlueprintSetupState
    runtime = state.app.extensions["smartbot"]
    settings = runtime.settings
    state.app.extensions["smartbot_webchat"] = (
        ChatCookie(settings.secret_key, settings.webchat.session_idle_days * 86400),
        GuestLimits(runtime.store, runtime.db, settings.webchat))
    # Half the threads may wait on a poll; the others stay free for webhooks and the admin page.
    state.app.extensions["smartbot_webchat_feed"] = LiveFeed(
        runtime.db, runtime.channels["webchat"].delivered, settings.server.threads // 2)


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
    return language.chosen(current_runtime().settings.default_locale)


@bp.get("/chat")
def page():
    runtime = current_runtime()
    chat_id = _visitor()
    locale = _locale()
    html = render_template("webchat/chat.html", t=lambda key, **kw: t(key, locale, **kw),
                           bot_name=runtime.settings.bot_name, locale=locale,
                           languages=[(code, language_name(code)) for code in available()],
                           page_config=_page_config(locale, runtime.settings.bot_name))
    response = Response(html, content_type="text/html; charset=utf-8")
    return _answer(language.keep(response), chat_id)


def _page_config(locale: str, bot_name: str) -> dict[str, Any]:
    """What the page's script needs: its texts in the page's language, and the server's bounds."""
    texts = {key.removeprefix("webchat."): t(key, locale) for key in catalogue("en") if key.startswith("webchat.")}
    return {"lang": locale, "bot": bot_name, "texts": texts, "maxText": MAX_TEXT, "maxWait": MAX_WAIT,
            "historyPage": HISTORY_PAGE}


@bp.post("/chat/api/messages")
def send():
    data = _posted()
    if data is None:
        return json_error(403, "missing X-Requested-With: smartbot header")
    text = data.get("text", "")
    chat_id = _visitor()
    attachments = _named_uploads(data.get("files"), chat_id)
    if not isinstance(text, str) or not (text.strip() or attachments):
        raise PayloadError("missing field: text")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"text is longer than {MAX_TEXT} characters")
    client_id = data.get("client_id") or cookie.new_chat_id()
    if not isinstance(client_id, str) or not cookie.CHAT_ID.match(client_id):
        raise PayloadError("client_id must be 8-64 letters, digits, - or _")
    return _store(chat_id, client_id, text.strip(), attachments=attachments)


def _posted() -> dict[str, Any] | None:
    """A write's JSON object; None without the header a cross-site form cannot send (CSRF)."""
    if request.headers.get("X-Requested-With") != "smartbot":
        return None
    data = request_json(max_bytes=MAX_BODY)
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    return data


def _store(chat_id: str, client_id: str, text: str, pressed: str = "",
           attachments: list[Attachment] | None = None) -> Response:
    """Count the visitor's message (or press) against the guest limits, then store it in the inbox."""
    refused = _over_limit(chat_id)
    if refused is not None:
        return refused
    event = f"press-{client_id}" if pressed else client_id
    msg = InboundMessage(channel="webchat", event_id=f"{chat_id}:{event}", message_id=client_id,
                         chat_id=chat_id, user_id=chat_id, user_name="web-" + chat_id[:6], text=text,
                         mentioned=True, locale=_locale(), press=pressed, attachments=attachments or [])
    result = current_runtime().ingest.accept(msg)
    response = jsonify(status="duplicate" if result.duplicate else "accepted", event_id=msg.event_id)
    response.status_code = 202
    return _answer(response, chat_id)


def _over_limit(chat_id: str) -> Response | None:
    """429 with Retry-After when this chat or address has sent too much (messages, presses and uploads alike)."""
    _, limits = current_app.extensions["smartbot_webchat"]
    refusal = limits.admit(chat_id, request.remote_addr or "")
    if refusal is None:
        return None
    response = json_error(429, refusal.reason)
    response.headers["Retry-After"] = str(refusal.retry_after)
    return response


def _named_uploads(keys: Any, chat_id: str) -> list[Attachment]:
    """The uploads a message names (`files`: upload ids this chat was given), as attachments."""
    if keys is None:
        return []
    runtime = current_runtime()
    if not isinstance(keys, list) or len(keys) > runtime.settings.media.max_files or \
            not all(isinstance(k, str) and files.KEY.match(k) for k in keys):
        raise PayloadError(f"files must be a list of at most {runtime.settings.media.max_files} upload ids")
    found = [uploads.describe(runtime.db, key, chat_id) for key in keys]
    if None in found:
        raise PayloadError("files names an upload this chat does not have (uploads are kept for an hour)")
    return [files.attachment(upload) for upload in found if upload is not None]


@bp.post("/chat/api/files")
def upload():
    """One file for the visitor's next message, multipart field `file`, within [media] max_bytes."""
    if request.headers.get("X-Requested-With") != "smartbot":
        return json_error(403, "missing X-Requested-With: smartbot header")
    runtime = current_runtime()
    max_bytes = runtime.settings.media.max_bytes
    request.max_content_length = max_bytes + UPLOAD_OVERHEAD
    chat_id = _visitor()
    refused = _over_limit(chat_id)
    if refused is not None:
        return refused
    sent = request.files.get("file")
    if sent is None:
        raise PayloadError("missing multipart field: file")
    try:
        stored = files.accept(runtime.db, chat_id, sent.filename or "", sent.mimetype or "",
                              sent.stream.read(max_bytes + 1), max_bytes)
    except MediaRefused as exc:
        return _answer(json_error(413 if exc.code == "too_large" else 415, exc.reason), chat_id)
    response = jsonify(file_id=stored.key, name=stored.name, kind=files.attachment(stored).kind, size=stored.size)
    response.status_code = 201
    return _answer(response, chat_id)


@bp.get("/chat/api/replies/<reply_id>/file")
def reply_file(reply_id: str):
    """A file in one of the bot's replies, only to the chat it was written to (404 for any other)."""
    if not _WHOLE_NUMBER.match(reply_id) or int(reply_id) > MAX_INTEGER:
        raise PayloadError(f"the reply id must be a whole number from 0 to {MAX_INTEGER}")
    chat_id = _visitor()
    with current_runtime().db.read() as conn:
        reply = outputs.find(conn, history.chat_key(chat_id), int(reply_id))
    if reply is None:
        return _answer(json_error(404, "no file in a reply of this chat has that id"), chat_id)
    return _answer(outputs.response(reply), chat_id)


@bp.post("/chat/api/press")
def press():
    """A decision button pressed on the page: stored as the visitor's press, decided by the worker
    exactly as a platform's press is (the page only carries the button's data back)."""
    data = _posted()
    if data is None:
        return json_error(403, "missing X-Requested-With: smartbot header")
    pressed = buttons.valid_data(data.get("data"))
    if not pressed:
        raise PayloadError(f"data must be a button's data, 1-{buttons.MAX_DATA} bytes")
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not cookie.CHAT_ID.match(client_id):
        raise PayloadError("client_id must be 8-64 letters, digits, - or _")
    return _store(_visitor(), client_id, buttons.PRESS_TEXT, pressed)


@bp.get("/chat/api/messages")
def receive():
    """The live feed: replies delivered after `after`, waiting up to `wait` seconds for one."""
    after, wait = _after(), _wait()
    chat_id = _visitor()
    found = current_app.extensions["smartbot_webchat_feed"].poll(chat_id, after, wait)
    body: dict[str, Any] = {"messages": found.messages, "last": found.last, "previews": found.previews}
    if found.busy:
        body["busy"] = True
    return _answer(jsonify(body), chat_id)


@bp.get("/chat/api/history")
def conversation():
    """The conversation so far, both sides, newest page first; `before` (the last answer's
    `older`) pages back. Only ever the chat of the visitor's own cookie."""
    raw_before = request.args.get("before")
    before = Cursor.parse(raw_before) if raw_before is not None else None
    limit = _limit()
    chat_id = _visitor()
    with current_runtime().db.read() as conn:
        found = history.page(conn, chat_id, before, limit)
    return _answer(jsonify(messages=found.entries, older=str(found.older) if found.older else None,
                           last=found.last), chat_id)


def _limit() -> int:
    raw = request.args.get("limit", str(HISTORY_PAGE))
    if not _WHOLE_NUMBER.match(raw) or not 1 <= int(raw) <= HISTORY_MOST:
        raise PayloadError(f"limit must be a whole number from 1 to {HISTORY_MOST}")
    return int(raw)


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
