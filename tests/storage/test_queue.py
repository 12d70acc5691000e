"""The ordered, leased queue under the inbox and outbox, against a real database."""
from __future__ import annotations

import time

import sqlalchemy as sa

from smartbot.gateway import inbox
from smartbot.storage.liveness import owner_id
from smartbot.messages import InboundMessage

A, B = "host:1:1", "host:2:2"


def _accept(db, event: str, chat: str = "c1", owner: str | None = A):
    msg = InboundMessage(channel="generic", event_id=event, chat_id=chat, user_id="u", text="hi")
    return inbox.accept(db, msg, owner, 30)


def _status(db, row_id: int):
    with db.read() as conn:
        return conn.execute(sa.text("SELECT status, owner FROM inbox WHERE id = :id"), {"id": row_id}).one()


def test_duplicate_event_is_not_stored_twice(db):
    first = _accept(db, "e1")
    again = _accept(db, "e1")
    assert first.row_id and first.leased
    assert again.duplicate


def test_only_the_oldest_message_of_a_conversation_is_leased(db):
    a = _accept(db, "e1")
    b = _accept(db, "e2")
    other_chat = _accept(db, "e3", chat="c2")
    assert a.leased and not b.leased and other_chat.leased
    with db.write() as conn:
        assert inbox.queue.finish(conn, a.row_id, A)
        assert inbox.queue.lease_next(conn, "generic:c1:u", A, time.time() + 30) == [b.row_id]


def test_finish_by_someone_else_fails(db):
    a = _accept(db, "e1")
    with db.write() as conn:
        assert not inbox.queue.finish(conn, a.row_id, B)
    assert _status(db, a.row_id).status == "leased"


def test_dead_local_owner_is_taken_over_at_once(db):
    dead = owner_id().rsplit(":", 2)[0] + ":999999:1"        # this host, a pid that does not exist
    a = _accept(db, "e1", owner=dead)
    now = time.time()
    with db.write() as conn:
        assert inbox.queue.stale_owners(conn, now) == [dead]
        assert inbox.queue.take_over(conn, dead, B, now + 30, now, dead=True) == [a.row_id]
    assert _status(db, a.row_id).owner == B


def test_live_foreign_owner_keeps_its_lease_until_it_expires(db):
    foreign = "otherhost:123:1"
    _accept(db, "e1", owner=foreign)
    now = time.time()
    with db.read() as conn:
        assert inbox.queue.stale_owners(conn, now) == []
        assert inbox.queue.stale_owners(conn, now + 60) == [foreign]


def test_retry_later_keeps_the_conversation_order(db):
    a = _accept(db, "e1")
    b = _accept(db, "e2")
    with db.write() as conn:
        assert inbox.queue.retry_later(conn, a.row_id, A, time.time() + 60, "boom")
    with db.read() as conn:
        assert inbox.queue.due_heads(conn, time.time(), 10) == []          # a is not due, b waits behind it
        assert inbox.queue.due_heads(conn, time.time() + 61, 10) == [a.row_id]
    assert _status(db, b.row_id).status == "queued"


def test_unleased_messages_are_found_by_the_sweep(db):
    a = _accept(db, "e1", owner=None)
    with db.write() as conn:
        heads = inbox.queue.due_heads(conn, time.time(), 10)
        assert heads == [a.row_id]
        assert inbox.queue.lease_if_head(conn, heads, B, time.time() + 30) == [a.row_id]


def test_release_hands_back_unstarted_rows(db):
    a = _accept(db, "e1")
    assert inbox.requeue_unstarted(db, A, [a.row_id]) == 1
    assert _status(db, a.row_id).status == "queued"
