"""Telegram in connect mode: long polling with getUpdates, no public URL needed.

`prepare` removes the bot's webhook (Telegram refuses getUpdates while one is set) and says so in
the log. `run` asks getUpdates for what follows the stored offset and parses each update with the
Telegram channel's own `parse`, exactly as if it had come to the webhook. Telegram forgets an
update once getUpdates is called with an offset past it, so the offset moves past an update only
after `Link.store` returned: a crash before that brings the update again, and the inbox's unique key
(chat id and message id, as on the webhook path) drops the copy.

Each poll waits at most `Link.time_left()` (less a margin), so this process never polls after its
hold on the channel ran out: Telegram answers two concurrent pollers with 409 Conflict.
Going back to webhook mode, `register_webhook` calls setWebhook when `webhook_url` is configured.
Every URL carries the bot token: none reaches a log line or an error reason (errors name the host).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from ...errors import DeliveryError, RequestRefused
from ...httputil import retry_after_seconds
from ..base import Headers, WebRequest
from ..support import http
from ..telegram import TelegramChannel
from .base import Connector, Link

log = logging.getLogger(__name__)

POLL_SECONDS = 25               # Telegram's long poll answers at once when updates wait, else after this
READ_SLACK = 2.0                # at most this beyond the poll's own timeout, for the answer to arrive
POLL_SHARE = 0.7                # of the time this process surely holds the channel, what one poll may wait
ALLOWED_UPDATES = ["message", "callback_query"]   # messages, and presses of the bot's buttons
# After a week without updates Telegram may pick new update ids below the last ones (its getUpdates
# documentation says so): an offset that has not moved for longer is dropped, and the inbox's
# unique key drops whatever that brings again.
STALE_OFFSET_SECONDS = 6 * 86400


class TelegramPolling(Connector):
    def __init__(self, channel: TelegramChannel) -> None:
        super().__init__(channel)
        self.config = channel.config
        self._http = http.pooled_session(pool_size=2)

    def prepare(self) -> None:
        self._call("deleteWebhook", {"drop_pending_updates": False})
        log.info("telegram: called deleteWebhook, so updates now come by long polling (getUpdates); "
                 "set [channels.telegram] mode = \"webhook\" (and webhook_url) to go back")

    def register_webhook(self) -> None:
        """In webhook mode with `webhook_url` configured: point Telegram at it (setWebhook)."""
        self._call("setWebhook", {"url": self.config.webhook_url, "secret_token": self.config.secret_token,
                                  "allowed_updates": ALLOWED_UPDATES})
        log.info("telegram: called setWebhook with %s, so updates now come to the webhook", self.config.webhook_url)

    def run(self, link: Link) -> None:
        offset, moved_at = _offset(link.cursor())
        announced = False
        while not link.stopping():
            if offset and time.time() - moved_at > STALE_OFFSET_SECONDS:
                offset = 0          # Telegram may number updates afresh after a quiet week
            left = link.time_left()
            wait = int(min(POLL_SECONDS, left * POLL_SHARE))
            if wait < 1:
                link.wait(0.2)      # until the hold is renewed
                continue
            updates = self._poll(link, offset, wait, min(READ_SLACK, left - wait))
            if updates is None:
                continue
            link.event_seen()
            if not announced:
                link.connected("long polling")
                announced = True
            if updates:
                new_offset = self._take(link, updates, offset)
                if new_offset != offset:
                    offset, moved_at = new_offset, time.time()

    def close(self) -> None:
        self._http.close()

    # -- one poll -------------------------------------------------------------------------
    def _poll(self, link: Link, offset: int, wait: int, slack: float) -> list[Any] | None:
        """The updates of one getUpdates call; None when the call is to be made again (after a
        rate limit's wait, or once the webhook was removed again). Other failures raise."""
        body = {"timeout": wait, "allowed_updates": ALLOWED_UPDATES, **({"offset": offset} if offset else {})}
        resp = http.exchange(self._http, "POST", self._url("getUpdates"), json=body,
                             timeout=(min(self.config.connect_timeout, slack), wait + slack))
        data = http.json_body(resp)
        if resp.status_code < 400 and data.get("ok") is True:
            result = data.get("result")
            if not isinstance(result, list):
                raise DeliveryError("getUpdates answered without a list of updates")
            return result
        description = str(data.get("description") or "")[:200]
        if resp.status_code == 429:
            retry_after = _retry_after(data, resp)
            link.disconnected(f"rate limited for {retry_after:g}s")
            link.wait(retry_after)
            return None
        if resp.status_code == 409 and "webhook" in description.lower():
            log.warning("telegram: a webhook was set again while polling; calling deleteWebhook")
            self.prepare()
            return None
        if resp.status_code == 409:
            raise DeliveryError("another program polls this bot's updates (409 Conflict): only one may; "
                                f"stop the other one or give this server its own bot ({description})")
        raise http.error_for(resp.status_code, self._url("getUpdates"), description)

    def _take(self, link: Link, updates: list[Any], offset: int) -> int:
        """Store the messages of `updates`, then save the offset past them; the new offset."""
        messages, last = [], None
        for update in updates:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
                link.refuse("malformed_update", {"reason": "an update without a numeric update_id"})
                continue
            last = update_id if last is None else max(last, update_id)
            try:
                messages += self.channel.parse(_as_request(update))
            except RequestRefused as exc:
                link.refuse("malformed_update", {"reason": exc.reason, "update_id": update_id})
            except Exception:       # one update the parser trips over must not stop every later one
                log.exception("telegram: could not parse update %s; dropped", update_id)
                link.refuse("unparsable_update", {"update_id": update_id})
        if messages:
            link.store(messages)
        if last is None:
            return offset
        offset = last + 1       # lower than before only when Telegram numbered its updates afresh
        link.save_cursor({"offset": offset, "saved_at": int(time.time())})
        return offset

    def _call(self, method: str, body: dict[str, Any]) -> None:
        url = self._url(method)
        resp = http.exchange(self._http, "POST", url, json=body, timeout=self.config.timeout)
        data = http.json_body(resp)
        if resp.status_code >= 400 or data.get("ok") is not True:
            raise http.error_for(resp.status_code if resp.status_code >= 400 else 400, url,
                                 str(data.get("description") or "")[:200], _retry_after(data, resp))

    def _url(self, method: str) -> str:
        return f"{self.config.api_base}/bot{self.config.bot_token}/{method}"


def _as_request(update: dict[str, Any]) -> WebRequest:
    """An update as the webhook would have carried it, for the channel's own `parse`."""
    return WebRequest(method="POST", path="/connect/telegram", headers=Headers({"Content-Type": "application/json"}),
                      body=json.dumps(update).encode())


def _offset(cursor: dict[str, Any]) -> tuple[int, float]:
    """The saved offset and when it was saved; (0, 0) when there is none worth using."""
    value, saved_at = cursor.get("offset"), cursor.get("saved_at")
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return 0, 0.0
    return value, float(saved_at) if isinstance(saved_at, (int, float)) and not isinstance(saved_at, bool) else 0.0


def _retry_after(data: dict[str, Any], resp: Any) -> float:
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    value = parameters.get("retry_after")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return min(float(value), 3600.0)
    return min(retry_after_seconds(resp.headers.get("Retry-After")) or 1.0, 3600.0)
