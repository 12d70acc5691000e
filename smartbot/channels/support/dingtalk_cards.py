"""DingTalk's interactive card with decision buttons, and the press it sends back.

The approvers' notice is the robot's interactive card (template `StandardCard`, sent with
/v1.0/im/v1.0/robot/interactiveCards/send): the notice as markdown and one `request` button per
decision, whose id carries the press's data (`smartbot_a_<id>_<digest>`: DingTalk's component ids
take no colons; `press_data` reads it back). A press is DingTalk's card callback: on Stream mode's
topic /v1.0/card/instances/callback, or in HTTP mode posted to the URL registered for the card's
callbackRouteKey (/v1.0/card/callbacks/register). Either way it is JSON with `outTrackId` (our
cardBizId), `userId` (the presser's staff id) and `content`, JSON text whose
`cardPrivateData.actionIds` names the pressed button. Nothing here trusts a press: the worker
checks the data's digest against the request (executor/approval_buttons.py).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from . import buttons

CARD_TOPIC = "/v1.0/card/instances/callback"
SEND_PATH = "/v1.0/im/v1.0/robot/interactiveCards/send"
UPDATE_PATH = "/v1.0/im/robots/interactiveCards"
REGISTER_PATH = "/v1.0/card/callbacks/register"
TEMPLATE = "StandardCard"
CARD_QUERY = "card"             # the query parameter that carries the callback URL's token
_ID_PREFIX = "smartbot_"
_TOKEN_LABEL = b"smartbot dingtalk card callbacks v1"


def button_id(data: str) -> str:
    return _ID_PREFIX + data.replace(":", "_", 2)


def press_data(action_id: Any) -> str:
    """The press data a button id of ours carries, "" for anything else. The digest may itself
    hold underscores: only the first two separate the parts."""
    if not isinstance(action_id, str) or not action_id.startswith(_ID_PREFIX) or len(action_id) > 80:
        return ""
    kind, _, rest = action_id[len(_ID_PREFIX):].partition("_")
    number, _, digest = rest.partition("_")
    return buttons.valid_data(f"{kind}:{number}:{digest}")


def card_data(text: str, offered: list[dict[str, Any]]) -> dict[str, Any]:
    """The StandardCard: the notice's first line as its title, the text, then the buttons (none
    once decided)."""
    contents: list[dict[str, Any]] = [{"type": "markdown", "text": text, "id": "smartbot_text"}]
    if offered:
        contents.append({"type": "action", "id": "smartbot_actions", "actions": [
            {"type": "button", "id": button_id(b["data"]), "actionType": "request",
             "status": "primary" if b["approve"] else "normal",
             "label": {"type": "text", "text": b["label"][:20], "id": f"{button_id(b['data'])}_label"}}
            for b in offered]})
    return {"config": {"autoLayout": True, "enableForward": False},
            "header": {"title": {"type": "text", "text": text.split("\n", 1)[0][:60] or "SmartBot"}},
            "contents": contents}


def parse_press(data: Any) -> tuple[str, str, str] | None:
    """(card id, presser's staff id, press data) of a card callback of ours; None for a callback
    that is not a press of one of our buttons. Raises nothing: a malformed one is simply not ours."""
    if not isinstance(data, dict):
        return None
    track, user, content = data.get("outTrackId"), data.get("userId"), data.get("content")
    try:
        content = json.loads(content) if isinstance(content, str) else content
    except (ValueError, RecursionError):
        return None
    private = content.get("cardPrivateData") if isinstance(content, dict) else None
    actions = private.get("actionIds") if isinstance(private, dict) else None
    pressed = press_data(actions[0]) if isinstance(actions, list) and len(actions) == 1 else ""
    if not pressed or not _short(track) or not _short(user):
        return None
    return track, user, pressed


def callback_token(app_secret: str) -> str:
    """The token in the card callback URL SmartBot registers: derived from the app secret (so it is
    never the secret itself), checked on every HTTP card callback."""
    return hmac.new(app_secret.encode("utf-8"), _TOKEN_LABEL, hashlib.sha256).hexdigest()[:40]


def route_key(app_key: str) -> str:
    """The callbackRouteKey of this app's cards (one per app, so re-registering replaces it)."""
    return "smartbot-" + hashlib.sha256(app_key.encode("utf-8")).hexdigest()[:16]


def _short(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200
