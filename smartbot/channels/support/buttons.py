"""Decision buttons as plain data: what a channel draws on a message, and what a press carries back.

A reply that offers buttons has them in `reply_context["buttons"]` (a list of `{"label", "data",
"approve"}`), so the outbox keeps them with the reply and every channel draws them its own way
(Telegram's inline keyboard, Slack's Block Kit, Discord's components, a Feishu card...). A press
comes back as the button's `data`, which fits every platform's limit (Telegram: 64 bytes):
`a:<approval id>:<digest>` to approve, `d:<approval id>:<digest>` to deny. The digest (11
characters of URL-safe base64) binds the press to the request; the worker checks it
(executor/approval_buttons.py). Nothing here trusts a press: `decode` only reads its shape.

A reply that answers a press says how in `reply_context["press_answer"]`: `update` (the pressed
message now shows the decision, buttons gone) or `private` (only the presser sees it, where the
platform can: Telegram's alert, Slack's ephemeral message, Discord's ephemeral follow-up).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

APPROVE, DENY = "a", "d"
UPDATE, PRIVATE = "update", "private"
MAX_DATA = 64                   # bytes; Telegram's callback_data limit, the smallest of all
PRESS_TEXT = "[button]"         # the text of a press in the inbox: it is never read as a command
_DATA = re.compile(r"([ad]):([0-9]{1,12}):([A-Za-z0-9_-]{11})\Z")


@dataclass(frozen=True)
class Press:
    """What a pressed decision button says: approve or deny request `approval_id`, bound by `digest`."""

    approve: bool
    approval_id: int
    digest: str


def encode(approve: bool, approval_id: int, digest: str) -> str:
    return f"{APPROVE if approve else DENY}:{approval_id}:{digest}"


def decode(data: str) -> Press | None:
    """The press a button's data describes; None for anything not in the exact shape."""
    found = _DATA.match(data) if isinstance(data, str) and len(data) <= MAX_DATA else None
    if found is None:
        return None
    return Press(found.group(1) == APPROVE, int(found.group(2)), found.group(3))


def button(label: str, data: str, approve: bool) -> dict[str, Any]:
    return {"label": label, "data": data, "approve": approve}


def buttons_of(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The well-formed buttons a reply offers, as `button` makes them (a stored context is read
    defensively: anything else is left out)."""
    found = context.get("buttons") if isinstance(context, dict) else None
    return [button(b["label"], b["data"], bool(b.get("approve"))) for b in found
            if isinstance(b, dict) and isinstance(b.get("label"), str) and valid_data(b.get("data"))] \
        if isinstance(found, list) else []


def press_answer(context: dict[str, Any]) -> str:
    """How a reply answers a press (UPDATE or PRIVATE), "" for an ordinary reply."""
    answer = context.get("press_answer") if isinstance(context, dict) else ""
    return answer if answer in (UPDATE, PRIVATE) else ""


def valid_data(value: Any) -> str:
    """A press's callback data as it may be stored: text within the limit that claims to be one of
    ours (the worker checks the rest), else "" (another component, nothing to store)."""
    if not isinstance(value, str) or not value.startswith((APPROVE + ":", DENY + ":")):
        return ""
    return value if len(value.encode("utf-8", "replace")) <= MAX_DATA else ""
