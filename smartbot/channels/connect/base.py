"""The contract between a platform connection (a `Connector`) and the gateway that hosts it (a `Link`).

A connector speaks one platform's outbound protocol (Telegram long polling, Slack Socket Mode, the
Discord Gateway, ...) and translates what arrives with its channel's `parse`, like the webhook path
does. It never stores, audits or schedules anything itself: it hands messages to `Link.store`, and
acknowledges the platform's event only after `store` returned, so a crash between receiving and
storing makes the platform send the event again (the inbox's unique key then drops the copy).

The gateway (`gateway/connections.py`) runs a connector on a thread in the one process of the whole
deployment that holds the channel's lease, calls `run` again after it returns or raises (with
jittered backoff), and stops it through `Link.stopping`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from ...messages import InboundMessage
from ..base import Channel


class Link(Protocol):
    """What a connector may ask of the gateway."""

    def store(self, messages: list[InboundMessage]) -> int:
        """Store the messages in the inbox (a duplicate is a no-op) and start work on them; the
        number newly accepted. Raises StorageUnavailable when they could not be stored: then the
        connector must not acknowledge the event (and should drop the connection, so it comes again)."""

    def refuse(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        """A forged or malformed frame: logged, counted and audited (at most once per reason and
        interval). The connector drops the frame and keeps the connection."""

    def connected(self, detail: str = "") -> None:
        """The connection is up (shown on /readyz, the dashboard and /metrics)."""

    def disconnected(self, reason: str) -> None:
        """The connection is down; `reason` says why, without secrets."""

    def event_seen(self) -> None:
        """Any frame or poll answer arrived: the connection is alive."""

    def cursor(self) -> dict[str, Any]:
        """What the connector saved last with `save_cursor` (Telegram's offset, Discord's session id
        and sequence), shared by every process that may take the connection over; {} at first."""

    def save_cursor(self, cursor: dict[str, Any]) -> None:
        """Save the resume point durably, after the events before it are stored."""

    def stopping(self) -> bool:
        """True once the connector must return (shutdown, or the lease was lost)."""

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when woken because the connector must stop."""

    def time_left(self) -> float:
        """Seconds this process surely still holds the channel: a call that blocks (a long poll, a
        receive) should give up sooner, then look at `stopping()`. Added after the first version of
        this contract; a connector whose calls block for short times may ignore it."""


class Connector(ABC):
    """One platform connection for one channel. `run` connects, serves events until the
    connection ends or `link.stopping()`, and returns or raises; the gateway reconnects."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def prepare(self) -> None:
        """Once, before the first `run` in a process: e.g. Telegram's deleteWebhook (logged)."""

    @abstractmethod
    def run(self, link: Link) -> None:
        """Connect and serve until the connection ends or `link.stopping()` is true."""

    def close(self) -> None:
        """Close the socket from another thread, so a blocked `run` returns promptly."""

    def register_webhook(self) -> None:
        """In webhook mode, once at start (one process per server), for a channel whose settings
        give the webhook's URL: tell the platform to use the webhook again (Telegram's setWebhook)."""
