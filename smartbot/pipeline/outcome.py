"""What handling one message decided, and storing it: the replies, memory changes, audit events
and model usage, written in one transaction together with finishing the message (and removing
the preview of a reply that was shown while the model wrote it).

Handlers only decide; `store` writes an Outcome in the same transaction that marks the message
done, so a crash can never leave a reply without its record or the reverse, and a message handled
twice (its lease ran out while a first worker still held it) is stored, counted and answered once.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from sqlalchemy.engine import Connection

from .. import audit
from ..assistant import memory, usage
from ..audit import AuditEvent
from ..auth import identities
from ..channels.base import Channel
from ..storage.db import Database
from ..gateway import inbox, outbox
from ..storage.queue import QueueRow
from ..messages import InboundMessage, Reply
from ..storage.tables.queues import FAILED
from ..assistant.usage import Spent
from . import previews


@dataclass
class Outcome:
    texts: list[str] = field(default_factory=list)
    format: str = "plain"
    remember: list[tuple[str, str]] = field(default_factory=list)   # (role, content) turns to keep
    reset_memory: bool = False
    audit: list[AuditEvent] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    tokens: int = 0
    result: str = "ok"          # ok | denied | error, for the message.handled audit row
    follow_up: list[tuple[str, int]] = field(default_factory=list)   # (job kind, row id) to hand out once stored
    usage: list[Spent] = field(default_factory=list)     # the answered model calls made for it
    previewed: bool = False     # the reply may have been shown while written: its preview goes when it is stored
    files: list[dict[str, str]] = field(default_factory=list)     # images/files the answer carried, to upload
    reply_context: dict = field(default_factory=dict)   # added to the replies' context (how a press is answered)


@dataclass
class Stored:
    """What storing an outcome leased to the worker that stored it, to work next."""

    replies: dict[int, Reply]       # the message's replies, by outbox row id, to deliver now
    next_inbox_ids: list[int]       # the conversation's next message


def store(db: Database, row: QueueRow, msg: InboundMessage, outcome: Outcome, owner: str, lease_seconds: float,
          channel: Channel | None, status: str = "done") -> Stored | None:
    """Finish the message and write its outcome; None when the lease was lost (another worker
    finished the message or holds it): then nothing of this outcome is written."""
    until = time.time() + lease_seconds

    def write(conn: Connection) -> Stored | None:
        # Even when another worker finished the message: a preview outlives no answer.
        shown = previews.take(conn, msg.chat_key, msg.event_id) if outcome.previewed else ""
        if not inbox.finish(conn, row, owner, status, outcome.result if status == FAILED else ""):
            return None
        answered = replace(msg, reply_context={**msg.reply_context, **outcome.reply_context}) \
            if outcome.reply_context else msg
        queued = dict(outbox.enqueue(conn, answered, outcome.texts, outcome.format, row.id, channel,
                                     new_conversation=outcome.reset_memory, preview=shown, files=outcome.files))
        _write_records(conn, msg, outcome)
        leased = outbox.queue.lease_if_head(conn, list(queued), owner, until)
        return Stored({reply_id: queued[reply_id] for reply_id in leased}, inbox.lease_next(conn, row, owner, until))

    return db.run_write(write)


def _write_records(conn: Connection, msg: InboundMessage, outcome: Outcome) -> None:
    if outcome.reset_memory:
        memory.reset(conn, msg.conversation_key)
    memory.append(conn, msg.conversation_key, msg.channel, msg.chat_id, msg.user_id, outcome.remember,
                         outcome.provider, outcome.model)
    identities.remember_sender(conn, msg.channel, msg.user_id, msg.user_name)
    audit.record_all(conn, outcome.audit)
    usage.record_all(conn, outcome.usage)
