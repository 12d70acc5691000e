"""The ack spool: under load, a webhook is acknowledged once it is appended to a file, not committed.

Each request used to wait for its own group commit: its thread slept on a lock until the leader
committed, then queued for the GIL again, and that wait cost more than the INSERT itself (see
bench/ack_cost.py). Under load the request thread now appends the message to one of this process's
spool files with a single pwrite(2) and answers; a mover thread stores what was spooled in the
inbox, everything spooled meanwhile in one transaction, and hands each message to the workers as
the webhook would. (Storing in the request thread after its answer was sent, one thread at a time,
cost more: 321 against 259 us of CPU per message in bench/ack_cost.py, 11.5 context switches each.)
The spool is used only under load (ingest decides), where a few milliseconds between the answer
and the store matter less than the request threads never waiting.

The file is as durable as the commit it stands in for. SQLite runs with synchronous=NORMAL, so a
commit reaches the WAL in the page cache and survives the process dying, not the machine; a pwrite
does the same. Nothing is lost when a process is killed between the append and the move:

* every spool file is flock(2)ed by the process writing it, so the kernel releases it when that
  process dies, however it dies;
* any process's recovery (at start, then at every sweep) takes the files nobody holds, moves their
  records into the inbox (the unique key makes a record that was already moved a no-op) and deletes
  them;
* each file's header holds how far its records are known to be in the inbox, written after each
  commit, so a file that lives for weeks is never replayed from the start (the inbox forgets old
  keys after `dedup_days`).

Order per chat holds within a process (one mover, records in the order they were acknowledged).
Across processes it does not for the moment a record waits: a later message of the same chat that
another process stores first is handled first (docs/reliability.md, "Limits").

A file has one writer at a time (a free list hands files to request threads), so appends need no
lock and a torn record can only be the last one. Records are framed with a length and a CRC; reading
stops at the first frame that does not check out.
"""
from __future__ import annotations

import collections
import errno
import itertools
import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

log = logging.getLogger(__name__)

SUFFIX = ".spool"
_MAGIC = b"SBS1"
_HEADER = struct.Struct(">4sQ")          # magic, offset up to which records are in the inbox
_FRAME = struct.Struct(">HII")           # frame marker, payload length, CRC-32 of the payload
_FRAME_MARK = 0x5B5B
RESET_BYTES = 1 << 20                    # a file longer than this starts over once all of it is moved
MAX_RECORD = 16 << 20


def spool_dir(sqlite_path: str | None) -> str | None:
    """Beside the SQLite file (the same volume, the same server); None for other databases."""
    return sqlite_path + ".spool" if sqlite_path else None


def frame(payload: bytes) -> bytes:
    return _FRAME.pack(_FRAME_MARK, len(payload), zlib.crc32(payload)) + payload


def read_records(fd: int) -> Iterator[tuple[bytes, int]]:
    """The records after the file's watermark, with the offset each one ends at."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, _HEADER.size, 0)
    if len(head) < _HEADER.size:
        return
    magic, offset = _HEADER.unpack(head)
    if magic != _MAGIC:
        log.error("spool file descriptor %d has no spool header; left alone", fd)
        return
    while offset + _FRAME.size <= size:
        mark, length, crc = _FRAME.unpack(os.pread(fd, _FRAME.size, offset))
        if mark != _FRAME_MARK or length > MAX_RECORD:
            return
        payload = os.pread(fd, length, offset + _FRAME.size)
        if len(payload) != length or zlib.crc32(payload) != crc:
            return                       # torn by a crash mid-append: nothing was acknowledged after it
        offset += _FRAME.size + length
        yield payload, offset


class SpoolFile:
    """One spool file of this process, flock()ed for as long as the process holds it open."""

    def __init__(self, path: str) -> None:
        import fcntl

        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._write_header(_HEADER.size)
        except BaseException:
            os.close(self.fd)
            os.unlink(path)
            raise
        self.written = _HEADER.size     # where the next record goes
        self.moved = _HEADER.size       # records before this offset are in the inbox

    def append(self, record: bytes) -> int:
        """Write one framed record; the offset it ends at. On an error nothing of it is left."""
        if self.moved == self.written > RESET_BYTES:
            os.ftruncate(self.fd, _HEADER.size)        # truncate first: a crash now replays nothing
            self._write_header(_HEADER.size)
            self.written = self.moved = _HEADER.size
        start = self.written
        try:
            done = os.pwrite(self.fd, record, start)
            if done != len(record):
                raise OSError(errno.ENOSPC, "short write to the spool")
        except OSError:
            try:
                os.ftruncate(self.fd, start)
            except OSError:
                pass                     # a torn frame fails its CRC; the next append overwrites it
            raise
        self.written = start + len(record)
        return self.written

    def mark_moved(self, offset: int) -> None:
        """Records up to `offset` are committed to the inbox (called after the commit)."""
        if offset > self.moved:
            self._write_header(offset)
            self.moved = offset

    def _write_header(self, offset: int) -> None:
        os.pwrite(self.fd, _HEADER.pack(_MAGIC, offset), 0)

    def close(self, unlink: bool) -> None:
        if unlink:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)


@dataclass
class Spooled:
    """A record on its way to the inbox."""

    key: tuple[str, str]                # (channel, event_id)
    payload: bytes
    message: object                     # what is handed on with it once stored (an InboundMessage)
    file: SpoolFile | None = None
    end: int = 0


class Spool:
    """This process's spool files, and the moving of their records into the inbox.

    `move(items)` commits a batch (duplicates are no-ops) and hands the new messages on; it runs in
    the mover thread, and for orphaned files in the thread that calls `recover`. `transient(exc)`
    tells storage trouble worth waiting out from a record the database refuses.
    """

    def __init__(self, directory: str, move: Callable[[list[Spooled]], None],
                 decode: Callable[[bytes], Spooled], transient: Callable[[BaseException], bool] = lambda exc: True,
                 max_batch: int = 500, max_waiting: int = 10_000) -> None:
        self.directory = directory
        self.max_waiting = max_waiting         # records in memory on their way to the inbox, at most
        self._move = move
        self._transient = transient
        self._decode = decode
        self._max_batch = max_batch
        self._free: collections.deque[SpoolFile] = collections.deque()
        self._files: list[SpoolFile] = []
        self._items: collections.deque[Spooled] = collections.deque()
        # Keys spooled and not yet stored. No lock: a race between two copies of one key costs
        # only the answer to the second ("accepted" for "duplicate"; the inbox drops it anyway).
        self._pending: dict[tuple[str, str], Spooled] = {}
        self._cv = threading.Condition(threading.Lock())
        self._move_lock = threading.Lock()       # held by the one thread moving records
        self._moving = 0                         # records in the batch being moved
        self._idle = False                       # the mover waits for records (appenders wake it)
        self.stalled_by: BaseException | None = None     # the last storage error, until a move succeeds
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._seq = itertools.count(1)
        self._pid = os.getpid()
        self.moved = 0
        self.batches = 0

    # -- the request side ---------------------------------------------------------------------
    def usable(self) -> bool:
        thread = self._thread
        return (not self._closed and self.stalled_by is None and self._pid == os.getpid()
                and (thread is None or thread.is_alive()))

    def busy(self) -> bool:
        """Records are on their way to the inbox: a message taking the direct path now would
        overtake them."""
        return bool(self._items) or self._moving > 0

    def full(self) -> bool:
        """As many records are waiting to be stored as memory may hold (the database is slow)."""
        return len(self._items) >= self.max_waiting

    def pending(self, key: tuple[str, str]) -> bool:
        return key in self._pending

    def append(self, item: Spooled) -> bool:
        """Spool one record; False (nothing written) when the spool cannot take it."""
        if not self.usable() or self.full():
            return False
        record = frame(item.payload)
        try:
            file = self._free.pop()
        except IndexError:
            file = self._new_file()
            if file is None:
                return False
        try:
            item.end = file.append(record)
        except OSError as exc:
            log.warning("could not append to spool file %s (%s); storing directly", file.path, exc.strerror)
            self._free.append(file)
            return False
        item.file = file
        self._free.append(file)
        self._pending[item.key] = item
        self._items.append(item)
        if self._idle:
            with self._cv:
                self._cv.notify()
        return True

    def _new_file(self) -> SpoolFile | None:
        if self._thread is None:
            self._start()
        path = os.path.join(self.directory, f"{os.getpid()}-{next(self._seq)}-{os.urandom(4).hex()}{SUFFIX}")
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            file = SpoolFile(path)
        except OSError as exc:
            log.warning("cannot create spool file %s (%s); storing directly", path, exc.strerror)
            return None
        self._files.append(file)
        return file

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="smartbot-spool-mover", daemon=True)
                self._thread.start()

    # -- moving into the inbox ------------------------------------------------------------------
    def _drain(self, patient: bool) -> bool:
        """Move batches while there are any and no other thread is moving; False when storage
        trouble stopped an impatient mover. Whoever lets go of the lock looks again, so a record
        spooled while another thread held it is never left behind."""
        while self._items and self._move_lock.acquire(blocking=False):
            try:
                if not self._move_all(patient):
                    return False
            finally:
                self._move_lock.release()
        return True

    def _move_all(self, patient: bool) -> bool:
        """With the move lock held: move batches until none is left; False when storage trouble
        stopped an impatient mover (the batch goes back to the front of the line)."""
        while self._items:
            batch = []
            while self._items and len(batch) < self._max_batch:
                batch.append(self._items.popleft())
            self._moving = len(batch)
            try:
                if not self._store(batch, patient):
                    self._items.extendleft(reversed(batch))
                    return False
                self._moved(batch)
            finally:
                self._moving = 0
        return True

    def _run(self) -> None:
        """The mover: store what is spooled as it comes, waiting out storage trouble."""
        while True:
            with self._cv:
                while not self._items:
                    if self._closed:
                        return
                    # Appenders look at _idle after adding a record, and the records are looked at
                    # again after it is set: a record added meanwhile is seen, or wakes us.
                    self._idle = True
                    if not self._items:
                        self._cv.wait(1.0)
                    self._idle = False
            self._drain(patient=True)

    def _store(self, batch: list[Spooled], patient: bool) -> bool:
        """Move `batch` into the inbox; False on storage trouble (the database locked, full or
        away), which a patient caller waits out instead. A record the database refuses for another
        reason is set aside in `rejected.log` beside the spool files, so that it cannot hold up
        every record after it."""
        delay = 0.05
        while True:
            try:
                self._move(batch)
                self.stalled_by = None
                return True
            except Exception as exc:
                if not self._transient(exc):
                    if len(batch) == 1:
                        self._reject(batch[0], exc)
                        return True
                    return all(self._store([item], patient) for item in batch)
                if self.stalled_by is None:
                    log.warning("could not store %d spooled messages (%s); trying again", len(batch),
                                getattr(exc, "orig", None) or type(exc).__name__)
                self.stalled_by = exc            # new requests are refused until it recovers (ingest)
                if not patient:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _reject(self, item: Spooled, exc: BaseException) -> None:
        log.error("the database refused spooled message %s/%s (%s); kept in %s/rejected.log",
                  item.key[0], item.key[1], type(exc).__name__, self.directory)
        try:
            fd = os.open(os.path.join(self.directory, "rejected.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, item.payload + b"\n")
            finally:
                os.close(fd)
        except OSError as err:
            log.error("could not keep the refused message %s/%s (%s)", item.key[0], item.key[1], err.strerror)

    def _moved(self, batch: list[Spooled]) -> None:
        """After the commit: advance each file's watermark and forget the keys."""
        ends: dict[int, tuple[SpoolFile, int]] = {}
        for item in batch:
            if item.file is not None:
                ends[id(item.file)] = (item.file, max(item.end, ends.get(id(item.file), (None, 0))[1]))
        for file, end in ends.values():
            try:
                file.mark_moved(end)
            except OSError as exc:       # the inbox has them; a replay after a crash is a no-op
                log.warning("could not update spool file %s (%s)", file.path, exc.strerror)
        pending = self._pending
        for item in batch:
            if pending.get(item.key) is item:
                pending.pop(item.key, None)
        self.moved += len(batch)
        self.batches += 1

    # -- lifecycle and recovery ---------------------------------------------------------------
    def close(self, timeout: float = 10.0) -> bool:
        """Take no more records, move what is spooled (up to `timeout`) and delete the files that
        are fully moved; True when nothing was left behind (the rest waits for recovery)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        deadline = time.monotonic() + timeout
        while (self._items or self._moving) and time.monotonic() < deadline:
            self._drain(patient=False)
            if self._items or self._moving:
                time.sleep(0.05)
        if self._pid != os.getpid():
            return True
        # A file with records still to move stays open (and locked) until the process exits: the
        # mover may still store them, and the next start's recovery stores the rest.
        left = [file for file in self._files if file.moved < file.written]
        for file in self._files:
            if file not in left:
                file.close(unlink=True)
        self._files = left
        self._free.clear()
        return not left

    def after_fork(self) -> None:
        """A forked child owns none of its parent's files (its copies would keep their locks alive)."""
        for file in self._files:
            os.close(file.fd)
        self._files.clear()
        self._free.clear()
        self._items.clear()
        self._pending.clear()
        self._cv = threading.Condition(threading.Lock())
        self._start_lock = threading.Lock()
        self._thread = None
        self._move_lock = threading.Lock()
        self._moving = 0
        self._idle = False
        self._pid = os.getpid()

    def recover(self) -> int:
        """Move the records of spool files no living process holds (left by a crash); delete them."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(SUFFIX))
        except FileNotFoundError:
            return 0
        mine = {f.path for f in self._files}
        moved = 0
        for name in names:
            path = os.path.join(self.directory, name)
            if path not in mine:
                moved += self._recover_file(path)
        return moved

    def _recover_file(self, path: str) -> int:
        import fcntl

        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return 0                 # its process is alive, or another recovery has it
            try:
                if os.stat(path).st_ino != os.fstat(fd).st_ino:
                    return 0             # recovered and deleted meanwhile
            except FileNotFoundError:
                return 0
            items = []
            for payload, _ in read_records(fd):
                try:
                    items.append(self._decode(payload))
                except Exception:
                    log.exception("unreadable record in spool file %s; skipped", path)
            for start in range(0, len(items), self._max_batch):
                if not self._store(items[start:start + self._max_batch], patient=False):
                    return 0             # storage trouble: the file stays for the next sweep
            if items:
                log.warning("recovered %d spooled messages from %s (its process had stopped)", len(items), path)
            os.unlink(path)
            return len(items)
        finally:
            os.close(fd)
