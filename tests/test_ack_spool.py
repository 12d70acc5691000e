"""The ack spool: under load a webhook is acknowledged once appended to a spool file, and a mover
stores it in the inbox a moment later. What is acknowledged survives any process dying: the file
format (torn tails, the moved watermark), the move into a real database, recovery of a killed
process's files by another process (once, never while the writer lives, not through a forked
child), a full disk, and kill -9 of gunicorn workers holding spooled messages."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from smartbot.db import Database, sqlite_file
from smartbot.errors import StorageUnavailable
from smartbot.gateway import inbox, spool
from smartbot.gateway.ingest import Ingest
from smartbot.gateway.spool import Spool, SpoolFile, Spooled, read_records
from smartbot.messages import InboundMessage
from smartbot.ops import metrics
from tests.conftest import GENERIC_SECRET
from tests.support.burst import Burst, message, wait_answered
from tests.support.volume import fill

REPO = Path(__file__).resolve().parent.parent


def _msg(event_id: str, chat: str = "c1") -> InboundMessage:
    return InboundMessage(channel="generic", event_id=event_id, chat_id=chat, user_id="u", text=f"text {event_id}")


def _records(directory: Path) -> list[bytes]:
    found = []
    for path in sorted(directory.glob("*" + spool.SUFFIX)):
        fd = os.open(path, os.O_RDONLY)
        try:
            found += [payload for payload, _ in read_records(fd)]
        finally:
            os.close(fd)
    return found


def _inbox_events(db) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT event_id FROM inbox ORDER BY id"))]


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- the file ----------------------------------------------------------------------------------

def test_records_read_back_in_order_and_a_torn_last_record_is_ignored(tmp_path):
    file = SpoolFile(str(tmp_path / "a.spool"))
    ends = [file.append(spool.frame(f"record {i}".encode())) for i in range(3)]
    torn = spool.frame(b"the process died while writing this")[:-5]
    os.pwrite(file.fd, torn, file.written)
    assert [(p.decode(), end) for p, end in read_records(file.fd)] == [(f"record {i}", ends[i]) for i in range(3)]
    file.close(unlink=False)


def test_the_moved_watermark_hides_records_already_in_the_inbox(tmp_path):
    file = SpoolFile(str(tmp_path / "a.spool"))
    ends = [file.append(spool.frame(f"record {i}".encode())) for i in range(3)]
    file.mark_moved(ends[1])
    fd = os.open(file.path, os.O_RDONLY)          # what a recovering process sees
    assert [p for p, _ in read_records(fd)] == [b"record 2"]
    os.close(fd)
    file.close(unlink=False)


def test_a_fully_moved_file_starts_over_once_it_is_past_its_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "RESET_BYTES", 100)
    file = SpoolFile(str(tmp_path / "a.spool"))
    for i in range(10):
        file.mark_moved(file.append(spool.frame(b"x" * 40)))
    assert os.path.getsize(file.path) < 200
    end = file.append(spool.frame(b"not moved yet"))
    file.append(spool.frame(b"x" * 300))                 # not all moved: no reset, the file grows
    assert os.path.getsize(file.path) > end
    assert [p for p, _ in read_records(file.fd)][0] == b"not moved yet"
    file.close(unlink=False)


# -- the move into the inbox -------------------------------------------------------------------

def _ingest(db, directory: Path, handed: list) -> Ingest:
    ingest = Ingest(db, {}, lambda: "owner-1", 30.0, lambda row_id, leased, msg: handed.append((row_id, msg.event_id)),
                    1.0, spool_dir=str(directory))
    ingest.pressure.in_flight = ingest.pressure.threshold     # as if webhooks were piling up: the spool path
    return ingest


def test_spooled_messages_reach_the_inbox_in_order_once_and_are_handed_to_the_workers(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'smartbot.db'}")
    db.upgrade()
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)
    with db.write():                                      # nothing can be stored yet: all stay spooled
        results = [ingest.accept(_msg(f"e{i}")) for i in range(50)]
        again = ingest.accept(_msg("e49"))                # a retry while the first copy is spooled
        assert all(r.spooled and not r.duplicate for r in results)
        assert again.duplicate
    assert _wait(lambda: len(handed) == 50), handed
    assert _wait(lambda: not ingest.spool.busy())
    late = ingest.accept(_msg("e0"))                      # a retry after it was stored: taken, then dropped
    assert late.spooled and _wait(lambda: not ingest.spool.busy())
    assert _inbox_events(db) == [f"e{i}" for i in range(50)]
    assert [e for _, e in handed] == [f"e{i}" for i in range(50)]
    assert metrics.value("webhook_spooled_total", channel="generic") == 50
    assert ingest.spool.close() is True
    assert list((tmp_path / "spool").iterdir()) == []
    db.dispose()


def test_a_message_arriving_alone_is_stored_before_its_ack(db, tmp_path):
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)
    ingest.pressure.in_flight = 1
    result = ingest.accept(_msg("alone"))
    assert result.row_id is not None and not result.spooled
    assert _inbox_events(db) == ["alone"] and handed == [(result.row_id, "alone")]
    assert ingest.accept(_msg("alone")).duplicate


# -- recovery of a dead process's files -------------------------------------------------------

_WRITER = textwrap.dedent("""
    import os, sys, threading, time
    from smartbot.gateway.spool import Spool, Spooled
    stuck = threading.Event()
    s = Spool(sys.argv[1], lambda items: stuck.wait(), lambda payload: None)
    for i in range(int(sys.argv[2])):
        assert s.append(Spooled(("generic", f"k{i}"), sys.argv[3 + i].encode(), None))
    if sys.argv[-1] == "fork":
        child = os.fork()
        if child == 0:
            s.after_fork()
            print("child", flush=True)
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        os._exit(0)              # the writer dies; its forked child lives on
    print("ready", flush=True)
    time.sleep(60)
""")


def _spawn_writer(directory: Path, records: list[str], fork: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-c", _WRITER, str(directory), str(len(records)), *records, "fork" if fork else "-"]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)


def _recovering(db, directory: Path, handed: list) -> Spool:
    ingest = Ingest(db, {}, lambda: "owner-2", 30.0, lambda row_id, leased, msg: handed.append(msg.event_id), 1.0,
                    spool_dir=str(directory))
    return ingest.spool


def test_a_killed_writers_spool_is_stored_once_by_another_process_and_never_while_it_lives(db, tmp_path):
    directory = tmp_path / "spool"
    inbox.accept(db, _msg("r0"), None, 30)               # moved just before the crash, watermark not yet
    records = [inbox.record_of(_msg(f"r{i}")) for i in range(5)]
    writer = _spawn_writer(directory, records)
    try:
        assert writer.stdout.readline().strip() == "ready"
        handed: list = []
        recovering = _recovering(db, directory, handed)
        assert recovering.recover() == 0, "a living writer's file was taken"
        assert len(_records(directory)) == 5
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        assert recovering.recover() == 5
        assert recovering.recover() == 0
    finally:
        writer.kill()
        writer.wait(10)
    assert _inbox_events(db) == [f"r{i}" for i in range(5)]
    assert handed == [f"r{i}" for i in range(1, 5)]       # r0 was in the inbox already
    assert list(directory.iterdir()) == []


def test_a_forked_child_does_not_keep_its_dead_parents_spool_from_recovery(db, tmp_path):
    directory = tmp_path / "spool"
    writer = _spawn_writer(directory, [inbox.record_of(_msg("f1"))], fork=True)
    child = 0
    try:
        child = int(writer.stdout.readline())
        writer.wait(10)
        handed: list = []
        assert _recovering(db, directory, handed).recover() == 1
        assert handed == ["f1"]
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        writer.kill()
        writer.wait(10)


def test_a_full_disk_sends_the_message_to_the_direct_path_and_leaves_no_torn_record(small_volume):
    directory = small_volume / "spool"
    s = Spool(str(directory), lambda items: None, lambda payload: None)
    assert s.append(Spooled(("generic", "before"), b"fits", None))
    fill(small_volume / "filler")
    big = b"y" * 200_000
    assert not s.append(Spooled(("generic", "full"), big, None))
    assert not s.pending(("generic", "full"))
    assert _records(directory) in ([b"fits"], [])            # moved (or not yet): never the torn one
    os.unlink(small_volume / "filler")
    assert s.append(Spooled(("generic", "after"), big, None))
    assert s.close() is True


def test_while_spooled_messages_cannot_be_stored_new_ones_get_503_and_nothing_is_lost(small_volume, tmp_path):
    db = Database(f"sqlite:///{small_volume / 'smartbot.db'}")
    db.upgrade()
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)      # the spool on another volume, with room
    try:
        fill(small_volume / "filler")
        big = "z" * 300_000
        first = ingest.accept(InboundMessage(channel="generic", event_id="big", chat_id="c", user_id="u", text=big))
        assert first.spooled
        assert _wait(lambda: ingest.spool.stalled_by is not None), "the full database did not stop the mover"
        with pytest.raises(StorageUnavailable) as refused:
            ingest.accept(_msg("next", chat="c"))
        assert refused.value.status == 503 and "full" in refused.value.reason
        os.unlink(small_volume / "filler")
        assert _wait(lambda: handed != [], timeout=20), "the spooled message was not stored when space returned"
        assert ingest.accept(_msg("next", chat="c")).spooled
        assert _wait(lambda: _inbox_events(db) == ["big", "next"])
        assert ingest.spool.stalled_by is None
    finally:
        ingest.spool.close()
        db.dispose()


def test_no_more_than_max_waiting_messages_wait_in_memory_the_next_gets_503(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'smartbot.db'}")
    db.upgrade()
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)
    ingest.spool.max_waiting = 3
    taken = 0
    with db.write():                                      # the database is slow: nothing is stored
        with pytest.raises(StorageUnavailable) as refused:
            for i in range(10):
                assert ingest.accept(_msg(f"w{i}", chat="c")).spooled
                taken += 1
        assert refused.value.status == 503 and "waiting" in refused.value.reason
    assert taken >= 3                                     # 3 in memory, plus the mover's first batch
    assert _wait(lambda: len(handed) == taken)
    assert _wait(lambda: not ingest.spool.busy())
    assert ingest.accept(_msg("over", chat="c")).spooled
    assert _wait(lambda: _inbox_events(db) == [f"w{i}" for i in range(taken)] + ["over"])
    ingest.spool.close()
    db.dispose()


def test_a_record_the_database_refuses_is_set_aside_and_does_not_hold_up_the_rest(tmp_path):
    stored: list = []

    def move(items):
        if any(item.key[1] == "poison" for item in items):
            raise ValueError("refused")
        stored.extend(item.key[1] for item in items)

    s = Spool(str(tmp_path / "spool"), move, lambda payload: None, transient=lambda exc: False)
    for key in ("a", "poison", "b"):
        assert s.append(Spooled(("generic", key), f"payload {key}".encode(), None))
    assert _wait(lambda: not s.busy())
    assert sorted(stored) == ["a", "b"]
    assert (tmp_path / "spool" / "rejected.log").read_bytes() == b"payload poison\n"
    assert s.close() is True


# -- under gunicorn ----------------------------------------------------------------------------

def test_acks_spooled_while_the_database_is_locked_survive_kill_9_of_the_workers(
        gunicorn_app, make_config, fake_model, fake_platform):
    """Another process holds SQLite's write lock, so nothing can commit: the workers keep
    acknowledging from their spools. Both are then killed with -9 before a single message reached
    the inbox; the workers gunicorn starts next store them, and each gets exactly one reply."""
    app = gunicorn_app(make_config(model=fake_model), workers=2)
    path = sqlite_file(app.config["database_url"])
    blocker = sqlite3.connect(path, timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    released = False
    burst = Burst(app.url, GENERIC_SECRET, [message(i, 10, "spooled") for i in range(150)], threads=8).start()
    try:
        assert burst.wait_acked(60, timeout=30), burst.statuses
        acked = set(burst.acked)                          # before reading the spool: acks go on meanwhile
        in_spool = {json.loads(record)["event_id"] for record in _records(Path(path + ".spool"))}
        stored = {r[0] for r in blocker.execute("SELECT event_id FROM inbox")}
        assert acked <= in_spool | stored, sorted(acked - in_spool - stored)     # every ack is durable
        assert len(acked & in_spool) >= 60, (len(acked), len(in_spool), len(stored))
        assert len(app.kill_workers()) == 2
        blocker.execute("ROLLBACK")
        released = True
        burst.join()
    finally:
        if not released:
            blocker.execute("ROLLBACK")
        blocker.close()
    result = wait_answered(lambda: fake_platform.received, burst.acked, timeout=60)
    assert len(burst.acked) == 150, burst.statuses
    assert result.unanswered == [], (result.unanswered[:10], app.log()[-3000:])
    assert result.answered_twice == {}
    assert burst.server_errors() == {}, burst.statuses


def test_four_threads_spooling_at_once_lose_nothing_and_keep_each_chats_order(db, tmp_path):
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)

    def send(prefix: str) -> None:
        for i in range(200):
            ingest.accept(_msg(f"{prefix}{i}", chat=prefix))

    threads = [threading.Thread(target=send, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _wait(lambda: len(handed) == 800), len(handed)
    events = _inbox_events(db)
    assert sorted(events) == sorted(f"{p}{i}" for p in "abcd" for i in range(200))
    for p in "abcd":                                      # each chat's messages keep their order
        assert [e for e in events if e[0] == p] == [f"{p}{i}" for i in range(200)]
    assert ingest.spool.close() is True
