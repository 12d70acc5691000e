"""The ack spool: under load a webhook is acknowledged once appended to the server's spool file,
and a mover (in whichever process holds the mover lock) stores it in the inbox a moment later. What
is acknowledged survives any process dying, and keeps its place in line across processes: the file
format (torn records, the moved watermark, freeing moved records), the move into a real database,
another process storing a killed writer's records (never while a living mover has them, not kept
from it by a forked child), a full disk, order per chat across two processes, and kill -9 of
gunicorn workers holding spooled messages."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from smartbot.db import Database, sqlite_file
from smartbot.errors import StorageUnavailable
from smartbot.gateway import inbox, spool
from smartbot.gateway.ingest import Ingest
from smartbot.gateway.spool import Spool, SpoolLog, Spooled, parse
from smartbot.messages import InboundMessage
from smartbot.ops import metrics
from tests.conftest import GENERIC_SECRET
from tests.support.burst import Burst, message, wait_answered
from tests.support.volume import fill
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parent.parent


def _msg(event_id: str, chat: str = "c1") -> InboundMessage:
    return InboundMessage(channel="generic", event_id=event_id, chat_id=chat, user_id="u", text=f"text {event_id}")


def _records(directory: Path) -> list[bytes]:
    """The records in the spool file not yet moved to the inbox, as another process reads them."""
    if not (directory / spool.SPOOL_NAME).exists():
        return []
    log = SpoolLog(str(directory))
    try:
        return [payload for payload, _ in parse(log.read(log.moved, log.size()), log.moved, 10**9)[0]]
    finally:
        log.close()


def _by_key(payload: bytes) -> Spooled:
    return Spooled(("generic", payload.decode()), payload, None)


def _inbox_events(db) -> list[str]:
    with db.read() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT event_id FROM inbox ORDER BY id"))]


@pytest.fixture
def sdb(tmp_path):
    """A migrated SQLite database: the spool exists only beside SQLite (PostgreSQL stores directly)."""
    database = Database(f"sqlite:///{tmp_path / 'spool-test.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _wait(predicate, timeout: float = 10.0) -> bool:
    return wait_until(predicate, timeout, every=0.01)


def _raw_append(directory: Path, data: bytes) -> None:
    """Bytes appended as a writer torn mid-record would leave them."""
    fd = os.open(directory / spool.SPOOL_NAME, os.O_WRONLY | os.O_APPEND)
    os.write(fd, data)
    os.close(fd)


# -- the file ----------------------------------------------------------------------------------

def test_records_read_back_in_order_past_a_torn_one_and_an_incomplete_tail_waits(tmp_path):
    log = SpoolLog(str(tmp_path))
    ends = [log.append(spool.frame(f"record {i}".encode())) for i in range(2)]
    _raw_append(tmp_path, spool.frame(b"a writer died while writing this")[:-5])
    ends.append(log.append(spool.frame(b"record 2")))
    records, end, incomplete = parse(log.read(spool.DATA_START, log.size()), spool.DATA_START, 100)
    assert [(p.decode(), e) for p, e in records] == [(f"record {i}", ends[i]) for i in range(3)]
    assert end == ends[-1] and not incomplete
    _raw_append(tmp_path, spool.frame(b"still being written")[:-3])
    records, end, incomplete = parse(log.read(ends[-1], log.size()), ends[-1], 100)
    assert records == [] and end == ends[-1] and incomplete
    log.close()


def test_only_records_after_the_moved_watermark_are_stored(sdb, tmp_path):
    log = SpoolLog(str(tmp_path / "spool"))
    ends = [log.append(spool.frame(inbox.record_of(_msg(f"m{i}")).encode())) for i in range(3)]
    log.set_moved(ends[1])                               # m0 and m1 are in the inbox already
    handed: list = []
    assert _recovering(sdb, tmp_path / "spool", handed).recover(wait=10) == 1
    assert handed == ["m2"] and _inbox_events(sdb) == ["m2"]
    assert log.moved == log.size()
    log.close()


def test_moved_records_are_freed_and_the_file_keeps_its_offsets(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "PUNCH_BYTES", 64 << 10)
    s = Spool(str(tmp_path / "spool"), lambda items: None, _by_key)
    for i in range(400):
        assert s.append(Spooled(("generic", f"k{i}"), f"{i:05d}".encode() + b"x" * 8000, None))
    assert s.close() is True
    if s._punch_failed:
        pytest.skip("this file system cannot punch holes (fallocate); the spool warns and keeps the blocks")
    stat = os.stat(tmp_path / "spool" / spool.SPOOL_NAME)
    assert stat.st_size > 3_000_000                      # offsets only grow: no writer is ever cut off
    assert stat.st_blocks * 512 < 200_000, stat.st_blocks  # but the moved records' blocks are freed


def test_a_torn_record_left_at_the_end_is_given_up_and_later_records_go_on(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "TORN_SECONDS", 0.3)
    stored: list = []
    s = Spool(str(tmp_path / "spool"), lambda items: stored.extend(i.key[1] for i in items), _by_key)
    assert s.append(Spooled(("generic", "before"), b"before", None))
    assert _wait(lambda: stored == ["before"])
    _raw_append(tmp_path / "spool", spool.frame(b"torn by a crash")[:-4])
    assert s.busy()                                      # still waiting: it may be a write in progress
    assert _wait(lambda: not s.busy(), timeout=5), "the torn tail was never given up"
    assert s.append(Spooled(("generic", "after"), b"after", None))
    assert _wait(lambda: stored == ["before", "after"])
    assert s.close() is True


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
    db.dispose()


def test_a_message_arriving_alone_is_stored_before_its_ack(sdb, tmp_path):
    handed: list = []
    ingest = _ingest(sdb, tmp_path / "spool", handed)
    ingest.pressure.in_flight = 1
    result = ingest.accept(_msg("alone"))
    assert result.row_id is not None and not result.spooled
    assert _inbox_events(sdb) == ["alone"] and handed == [(result.row_id, "alone")]
    assert ingest.accept(_msg("alone")).duplicate


@pytest.mark.parametrize("damage", ["a file where the folder goes", "not a spool file"])
def test_a_spool_that_cannot_be_opened_leaves_messages_to_the_direct_path_and_warns_once(sdb, tmp_path, caplog, damage):
    directory = tmp_path / "spool"
    if damage == "a file where the folder goes":
        directory.write_text("")
    else:
        directory.mkdir()
        (directory / spool.SPOOL_NAME).write_bytes(b"something else entirely, longer than a header" * 3)
    handed: list = []
    ingest = _ingest(sdb, directory, handed)
    results = [ingest.accept(_msg(f"d{i}")) for i in range(3)]
    assert all(r.row_id is not None and not r.spooled for r in results)       # stored before the ack
    assert _inbox_events(sdb) == ["d0", "d1", "d2"]
    assert len([r for r in caplog.records if "cannot open the spool" in r.getMessage()]) == 1


# -- another process's records ------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import os, sys, threading, time
    from smartbot.gateway.spool import Spool, Spooled
    moving, stuck = threading.Event(), threading.Event()
    s = Spool(sys.argv[1], lambda items: (moving.set(), stuck.wait()), lambda payload: None)
    for i in range(int(sys.argv[2])):
        assert s.append(Spooled(("generic", f"k{i}"), sys.argv[3 + i].encode(), None))
    assert moving.wait(10)       # its mover holds the mover lock, and never commits
    if sys.argv[-1] == "fork":
        child = os.fork()
        if child == 0:
            s.after_fork()
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


def test_a_killed_writers_records_are_stored_once_by_another_process_never_while_its_mover_has_them(sdb, tmp_path):
    directory = tmp_path / "spool"
    inbox.accept(sdb, _msg("r0"), None, 30)               # moved just before the crash, watermark not yet
    records = [inbox.record_of(_msg(f"r{i}")) for i in range(5)]
    writer = _spawn_writer(directory, records)
    try:
        assert writer.stdout.readline().strip() == "ready"
        handed: list = []
        recovering = _recovering(sdb, directory, handed)
        assert recovering.recover(wait=10) == 0, "records a living mover holds were taken"
        assert len(_records(directory)) == 5
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(10)
        assert recovering.recover(wait=10) == 5
        assert recovering.recover(wait=10) == 0
    finally:
        writer.kill()
        writer.wait(10)
    assert _inbox_events(sdb) == [f"r{i}" for i in range(5)]
    assert handed == [f"r{i}" for i in range(1, 5)]       # r0 was in the inbox already
    assert _records(directory) == []


def test_movers_take_turns_while_records_keep_coming_and_the_order_holds(tmp_path):
    """Two workers' spools (each with its own hold on the mover lock, as two processes have): while
    records keep arriving, the mover that holds the lock lets the other one have it after a batch,
    so that neither worker does all the moving (which slowed its own requests). One file, one order."""
    directory = str(tmp_path / "spool")
    moved: list[tuple[str, str]] = []

    def mover(name: str):
        def move(items: list[Spooled]) -> None:
            moved.extend((name, item.key[1]) for item in items)
            threading.Event().wait(0.005)         # storing takes a while
        return move

    first, second = Spool(directory, mover("first"), _by_key), Spool(directory, mover("second"), _by_key)
    for i in range(600):                         # both workers take requests
        assert (first, second)[i % 2].append(Spooled(("generic", f"k{i}"), f"k{i}".encode(), None))
        threading.Event().wait(0.001)
    assert first.close() is True and second.close() is True
    assert [key for _, key in moved] == [f"k{i}" for i in range(600)]
    batches = [name for i, (name, _) in enumerate(moved) if i == 0 or moved[i - 1][0] != name]
    assert batches.count("second") >= 5, batches  # it had its turns, not just what was left at the end
    assert batches.count("first") >= 5, batches


def test_a_forked_child_does_not_keep_its_dead_parents_mover_lock(sdb, tmp_path):
    directory = tmp_path / "spool"
    writer = _spawn_writer(directory, [inbox.record_of(_msg("f1"))], fork=True)
    child = 0
    try:
        child = int(writer.stdout.readline())
        writer.wait(10)
        handed: list = []
        assert _recovering(sdb, directory, handed).recover(wait=10) == 1
        assert handed == ["f1"]
    finally:
        if child:
            os.kill(child, signal.SIGKILL)
        writer.kill()
        writer.wait(10)


_OTHER_WORKER = textwrap.dedent("""
    import sys, time
    from smartbot.db import Database
    from smartbot.gateway.ingest import Ingest
    from smartbot.messages import InboundMessage
    db = Database(sys.argv[1])
    handed = []
    ingest = Ingest(db, {}, lambda: "owner-a", 30.0,
                    lambda row_id, leased, msg: leased and handed.append(msg.event_id), 1.0, spool_dir=sys.argv[2])
    ingest.pressure.in_flight = ingest.pressure.threshold      # this worker is under load: it spools
    msg = InboundMessage(channel="generic", event_id="first", chat_id="c", user_id="u", text="first")
    print(ingest.accept(msg).spooled, flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + 20
    while not handed and time.monotonic() < deadline:
        time.sleep(0.01)
    print(ingest.spool.close(20), handed, flush=True)
""")


def test_a_later_message_of_the_chat_in_another_process_stays_behind_a_spooled_one(sdb, tmp_path):
    """Worker A, under load, spools the chat's first message while nothing can commit; worker B,
    idle, then gets the chat's second message. B must not store it ahead of A's: it spools it
    behind, and the inbox has them in the order they were acknowledged. Whichever of them moves the
    records, a message is worked on by the worker that acknowledged it (the second waits behind the
    first, so B's own is a third one, of another chat)."""
    directory = tmp_path / "spool"
    path = sqlite_file(sdb.url)
    blocker = sqlite3.connect(path, timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")                    # no process can commit for now
    other = subprocess.Popen([sys.executable, "-c", _OTHER_WORKER, sdb.url, str(directory)], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "True"  # acknowledged from A's spool
        handed: list = []
        idle = Ingest(sdb, {}, lambda: "owner-b", 30.0,
                      lambda row_id, leased, msg: leased and handed.append(msg.event_id), 1.0, spool_dir=str(directory))
        idle.pressure.in_flight = 1
        second = idle.accept(InboundMessage(channel="generic", event_id="second", chat_id="c", user_id="u",
                                            text="second"))
        assert second.spooled, "B stored the second message ahead of the first, still spooled by A"
        assert idle.accept(InboundMessage(channel="generic", event_id="elsewhere", chat_id="c2", user_id="u",
                                          text="elsewhere")).spooled
        blocker.execute("ROLLBACK")
        other.stdin.write("\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "True ['first']"     # A started work on its own message
        assert _wait(lambda: _inbox_events(sdb) == ["first", "second", "elsewhere"]), _inbox_events(sdb)
        assert _wait(lambda: handed == ["elsewhere"]), handed              # and B on its own
        assert idle.spool.close() is True
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        other.kill()
        other.wait(10)


def test_a_full_disk_refuses_the_append_and_what_it_tore_is_skipped(small_volume):
    directory = small_volume / "spool"
    stored: list = []
    s = Spool(str(directory), lambda items: stored.extend(i.key[1] for i in items),
              lambda payload: Spooled(("generic", payload[:6].decode()), payload, None))
    assert s.append(Spooled(("generic", "before"), b"before", None))
    assert _wait(lambda: not s.busy())
    fill(small_volume / "filler")
    big = b"y" * 200_000
    assert not s.append(Spooled(("generic", "full"), b"full::" + big, None))
    assert not s.pending(("generic", "full"))
    assert _records(directory) == []                     # what a torn append left is no record
    os.unlink(small_volume / "filler")
    assert s.append(Spooled(("generic", "after"), b"after:" + big, None))
    assert s.close() is True
    assert stored == ["before", "after:"]


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
        assert _wait(lambda: ingest.spool.stalled() is not None), "the full database did not stop the mover"
        with pytest.raises(StorageUnavailable) as refused:
            ingest.accept(_msg("next", chat="c"))
        assert refused.value.status == 503 and "full" in refused.value.reason
        os.unlink(small_volume / "filler")
        assert _wait(lambda: handed != [], timeout=20), "the spooled message was not stored when space returned"
        assert ingest.accept(_msg("next", chat="c")).spooled
        assert _wait(lambda: _inbox_events(db) == ["big", "next"])
        assert ingest.spool.stalled() is None
    finally:
        ingest.spool.close()
        db.dispose()


def test_no_more_than_max_waiting_bytes_wait_to_be_stored_the_next_message_gets_503(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'smartbot.db'}")
    db.upgrade()
    handed: list = []
    ingest = _ingest(db, tmp_path / "spool", handed)
    ingest.spool.max_waiting_bytes = 3 * len(spool.frame(inbox.record_of(_msg("w0", chat="c")).encode()))
    taken = 0
    with db.write():                                      # the database is slow: nothing is stored
        with pytest.raises(StorageUnavailable) as refused:
            for i in range(10):
                assert ingest.accept(_msg(f"w{i}", chat="c")).spooled
                taken += 1
        assert refused.value.status == 503 and "waiting" in refused.value.reason
    assert taken == 3
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

    s = Spool(str(tmp_path / "spool"), move, _by_key, problem=lambda exc: None)
    for key in ("a", "poison", "b"):
        assert s.append(Spooled(("generic", key), key.encode(), None))
    assert _wait(lambda: not s.busy())
    assert sorted(stored) == ["a", "b"]
    assert (tmp_path / "spool" / "rejected.log").read_bytes() == b"poison\n"
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
        in_spool = {json.loads(record.partition(b"\n")[2])["event_id"] for record in _records(Path(path + ".spool"))}
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


def test_four_threads_spooling_at_once_lose_nothing_and_keep_each_chats_order(sdb, tmp_path):
    handed: list = []
    ingest = _ingest(sdb, tmp_path / "spool", handed)

    def send(prefix: str) -> None:
        for i in range(200):
            ingest.accept(_msg(f"{prefix}{i}", chat=prefix))

    threads = [threading.Thread(target=send, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _wait(lambda: len(handed) == 800), len(handed)
    events = _inbox_events(sdb)
    assert sorted(events) == sorted(f"{p}{i}" for p in "abcd" for i in range(200))
    for p in "abcd":                                      # each chat's messages keep their order
        assert [e for e in events if e[0] == p] == [f"{p}{i}" for i in range(200)]
    assert ingest.spool.close() is True
