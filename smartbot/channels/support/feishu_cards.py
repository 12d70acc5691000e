"""Feishu / Lark cards: the interactive cards SmartBot sends, and the CardKit streaming card a reply
is written into while the model writes it.

A streaming card is a card entity (POST /open-apis/cardkit/v1/cards, `streaming_mode` on) sent as
the reply by its card_id; the text so far goes into its one markdown element (PUT .../elements/
<id>/content: Feishu shows what was added with its typing effect), and the final reply is the last
content update followed by `streaming_mode` off (PATCH .../settings), which ends the "writing"
state in the chat list. Feishu turns streaming off by itself after ten minutes; a final that finds
it off replaces the whole card (PUT .../cards/<card_id>) instead.
Every update carries a `sequence` that must grow for the card: it is the milliseconds since the
card was made (recorded in the handle), so a process that finishes a card another process started
after a crash continues the count, raised by one when two updates fall in the same millisecond.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import quote

from ...errors import DeliveryError

BUTTON_VALUE = "smartbot_decision"      # the key of a card button's value that holds the press's data
CARDS_PATH = "/open-apis/cardkit/v1/cards"
ELEMENT_ID = "reply"                    # the streaming card's one markdown element
HANDLE_PREFIX = "card:"                 # a preview handle naming a card entity (others are message ids)
SEQUENCE_MAX = 2_147_483_647

# api(method, path, body) -> the answer's `data` object; raises DeliveryError.
Api = Callable[[str, str, dict[str, Any]], dict[str, Any]]


def card(text: str, offered: list[dict[str, Any]] | None = None, markdown: bool = False) -> dict[str, Any]:
    """An interactive card that an update shows to everyone who sees it: the text (as markdown for a
    reply being written), and the decision buttons when there are any."""
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": text} if markdown else
                                      {"tag": "div", "text": {"tag": "plain_text", "content": text}}]
    if offered:
        elements.append({"tag": "action", "actions": [
            {"tag": "button", "text": {"tag": "plain_text", "content": b["label"]},
             "type": "primary" if b["approve"] else "danger", "value": {BUTTON_VALUE: b["data"]}} for b in offered]})
    return {"config": {"wide_screen_mode": True, "update_multi": True}, "elements": elements}


def streaming_card(text: str, streaming: bool) -> dict[str, Any]:
    """A card JSON 2.0 entity with one markdown element that a stream writes into."""
    return {"schema": "2.0", "config": {"streaming_mode": streaming, "update_multi": True},
            "body": {"elements": [{"tag": "markdown", "element_id": ELEMENT_ID, "content": text}]}}


def is_card_handle(handle: str) -> bool:
    return handle.startswith(HANDLE_PREFIX)


class StreamingCards:
    """The CardKit calls of one channel; `api` makes one authenticated call."""

    def __init__(self, api: Api, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self._clock = clock
        self._last: dict[str, int] = {}       # card id -> the last sequence this process used
        self._lock = threading.Lock()

    def create(self, text: str) -> str:
        """A new streaming card entity showing `text`; its handle (card id and birth time)."""
        born = int(self._clock() * 1000)
        data = self._api("POST", CARDS_PATH, {"type": "card_json",
                                              "data": json.dumps(streaming_card(text, True), ensure_ascii=False)})
        card_id = data.get("card_id")
        if not isinstance(card_id, str) or not card_id or len(card_id) > 100 or ":" in card_id:
            raise DeliveryError("Feishu answered the card entity without a card_id", retryable=False)
        return f"{HANDLE_PREFIX}{card_id}:{born}"

    @staticmethod
    def message_content(handle: str) -> dict[str, Any]:
        """The content of an interactive message that shows the card entity."""
        return {"type": "card", "data": {"card_id": _parse(handle)[0]}}

    def write(self, handle: str, text: str, uuid: str = "") -> None:
        """The element shows `text` (the whole text so far, not the part added)."""
        card_id, _ = _parse(handle)
        body: dict[str, Any] = {"content": text, "sequence": self._sequence(handle)}
        if uuid:
            body["uuid"] = uuid[:64]
        self._api("PUT", f"{CARDS_PATH}/{quote(card_id, safe='')}/elements/{ELEMENT_ID}/content", body)

    def finish(self, handle: str, text: str, uuid: str) -> None:
        """The final text, then streaming off; a card whose streaming Feishu already ended gets the
        final text by a whole-card update."""
        card_id, _ = _parse(handle)
        path = f"{CARDS_PATH}/{quote(card_id, safe='')}"
        try:
            self.write(handle, text, f"{uuid}-text")
        except DeliveryError as exc:
            if exc.retryable:
                raise
            self._api("PUT", path, {"card": {"type": "card_json", "data": json.dumps(
                streaming_card(text, False), ensure_ascii=False)}, "uuid": f"{uuid}-card"[:64],
                "sequence": self._sequence(handle)})
            return
        self._api("PATCH", f"{path}/settings", {
            "settings": json.dumps({"config": {"streaming_mode": False}}), "uuid": f"{uuid}-end"[:64],
            "sequence": self._sequence(handle)})

    def _sequence(self, handle: str) -> int:
        card_id, born = _parse(handle)
        with self._lock:
            if len(self._last) > 10_000:
                self._last.clear()
            value = max(int(self._clock() * 1000) - born + 1, self._last.get(card_id, 0) + 1, 1)
            self._last[card_id] = value
        return min(value, SEQUENCE_MAX)


def _parse(handle: str) -> tuple[str, int]:
    card_id, _, born = handle[len(HANDLE_PREFIX):].rpartition(":")
    if not card_id or not born.isdigit():
        raise DeliveryError("not a Feishu card handle", retryable=False)
    return card_id, int(born)
