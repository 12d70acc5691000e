"""The ack spool: under load, a webhook is acknowledged once it is appended to a file, not committed.

Each request used to wait for its own group commit: its thread slept on a lock until the leader
committed, then queued for the GIL again, and that wait cost more than the INSERT itself (see
bench/ack_cost.py). Under load the request thread now appends the message to the server's spool
file with a single write(2) and answers; a mover stores what was spooled in the inbox, many records
per transaction, each leased to the process that acknowledged it, which then starts work on it as
the webhook would have (`claim`: one process moving everything had left the other one idle while a
burst drained). (Storing in the request thread after its answer was sent cost more: 321 against
259 us of CPU per message.)

One file for the whole server, so one order for the whole server. Every process appends to the same
file (O_APPEND: the kernel puts each record after the last one whole, in the order the writes
happen), and one mover at a time, whichever process holds `mover.lock`, stores the records in file
order. A message acknowledged before another one arrived is earlier in the file, so it is earlier in
the inbox, whichever processes took them. While any record waits in the file, every process spools
(`busy`), so that no message stored directly overtakes one that waits; once the file is all moved,
the direct path's INSERT comes after everything acknowledged before it.

Movers take turns. Moving costs CPU, and a worker that moved everything answered its own requests
slower than its sibling: under bench/ingest.py's load its requests waited 15 ms in gunicorn's
queue for a thread, against 2 ms in the other worker, and the slowest 1% were all its own. A mover
that finds the lock taken leaves its id in the header ("wanted"); the holder lets go after its
current batch and waits a little longer than the asker does before it asks again itself.

The file is as durable as the commit it stands in for. SQLite runs with synchronous=NORMAL, so a
commit reaches the WAL in the page cache and survives the process dying, not the machine; a write
does the same. Nothing is lost when a process dies between the append and the move: the record is
in the file, the kernel drops the dead process's flock on `mover.lock`, and any other process's
mover (each looks at least once a second, and at every sweep) stores it. The header holds how far
the records are known to be in the inbox ("moved"), written after each commit; a record stored
twice (a mover died between its commit and the header) is a no-op at the inbox's unique key.
Moved records are freed by punching holes in the file (fallocate), so it never needs truncating,
which no writer could be kept out of without a lock per append.

A record is framed with a length and a CRC. A record torn by a full disk or a killed writer is
skipped to the next frame that checks out; one that stays incomplete at the end of the file for
`TORN_SECONDS` is given up (nothing torn was ever acknowledged).
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import errno
import logging
import mmap
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable

from ..db import STORAGE_REASONS

log = logging.getLogger(__name__)

SPOOL_NAME = "inbox.spool"
LOCK_NAME = "mover.lock"
_MAGIC = b"SBS2"
# magic, version, moved (records before it are in the inbox), punched (freed up to), stall reason;
# at 32, the id of a mover waiting for the mover lock (0: none; files made before it have zeros
# there). Native and 8-byte aligned: a reader in another process sees each field whole.
_HEADER = struct.Struct("=4sIQQI")
_MOVED, _PUNCHED, _STALL, _WANTED = 8, 16, 24, 32
DATA_START = 64
_FRAME = struct.Struct(">HII")           # frame marker, payload length, CRC-32 of the payload
_FRAME_MARK = 0x5B5B
_MARK_BYTES = struct.pack(">H", _FRAME_MARK)
MAX_RECORD = 16 << 20
PUNCH_BYTES = 1 << 20                    # free moved records in steps of this size
TORN_SECONDS = 2.0
OPEN_RETRY_SECONDS = 30.0                # after the spool could not be opened, the direct path until then
_PAGE = 4096
# What a mover's pass ended with.
DONE, OTHER, TROUBLE, STUCK, HANDED_OVER = "done", "other", "trouble", "stuck", "handed over"
WAITING_NAP = 0.01           # a mover that asked for the lock looks again this soon...
HANDED_OVER_NAP = 0.03       # ...and one that let go of it for the asker waits longer than that
_NAPS = {DONE: 1.0, OTHER: WAITING_NAP, HANDED_OVER: HANDED_OVER_NAP}
# A mover that cannot store (the database full, locked or away) tries again after 0.05 s, doubling
# up to this: every request meanwhile gets 503, so once space returns it should not wait long.
MAX_STALL_RETRY = 1.0


def spool_dir(sqlite_path: str | None) -> str | None:
    """Beside the SQLite file (the same volume, the same server); None for other databases."""
    return sqlite_path + ".spool" if sqlite_path else None


def frame(payload: bytes) -> bytes:
    return _FRAME.pack(_FRAME_MARK, len(payload), zlib.crc32(payload)) + payload


def _frame_at(buf: bytes, at: int) -> int:
    """The length of the whole frame at `at` in `buf`; 0 when it is incomplete there, -1 when it
    is not a frame (a torn one, or not the start of one)."""
    if at + _FRAME.size > len(buf):
        return 0
    mark, length, crc = _FRAME.unpack_from(buf, at)
    if mark != _FRAME_MARK or length > MAX_RECORD:
        return -1
    end = at + _FRAME.size + length
    if end > len(buf):
        return 0
    return end - at if zlib.crc32(buf[at + _FRAME.size:end]) == crc else -1


def parse(buf: bytes, base: int, limit: int) -> tuple[list[tuple[bytes, int]], int, bool]:
    """Up to `limit` records from `buf` (read at file offset `base`): [(payload, end offset)], the
    offset reading stopped at, and whether it stopped at an incomplete frame. Bytes that are not a
    frame are skipped to the next one that checks out."""
    records: list[tuple[bytes, int]] = []
    at = 0
    while len(records) < limit and at < len(buf):
        size = _frame_at(buf, at)
        if size == 0:
            return records, base + at, True
        if size < 0:
            found = at
            while True:
                found = buf.find(_MARK_BYTES, found + 1)
                if found < 0 or _frame_at(buf, found) > 0:
                    break
            if found < 0:
                return records, base + at, True        # maybe the rest of a frame still being written
            log.error("skipped %d unreadable bytes of the spool at offset %d (a torn record)", found - at, base + at)
            at = found
            continue
        records.append((buf[at + _FRAME.size:at + size], base + at + size))
        at += size
    return records, base + at, False


class SpoolLog:
    """The server's spool file, opened by this process: appends, and the shared header (mmap)."""

    def __init__(self, directory: str) -> None:
        path = os.path.join(directory, SPOOL_NAME)
        if not os.path.exists(path):
            os.makedirs(directory, mode=0o700, exist_ok=True)
            _create(path)
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND)
        try:
            self._header = mmap.mmap(self.fd, DATA_START)
        except ValueError:               # shorter than a header: not a spool file
            self._header = None
        if self._header is None or self._header[:4] != _MAGIC:
            os.close(self.fd)
            raise OSError(errno.EINVAL, "not a spool file (delete it while the server is stopped)")

    def append(self, record: bytes) -> int:
        """Append one framed record; an offset at or past its end. Raises OSError when the whole
        record could not be written (a partial one is skipped by the mover)."""
        done = os.write(self.fd, record)
        if done != len(record):
            raise OSError(errno.ENOSPC, "short write to the spool")
        return os.lseek(self.fd, 0, os.SEEK_CUR)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    @property
    def moved(self) -> int:
        return struct.unpack_from("=Q", self._header, _MOVED)[0]

    def set_moved(self, offset: int) -> None:
        struct.pack_into("=Q", self._header, _MOVED, offset)

    @property
    def punched(self) -> int:
        return struct.unpack_from("=Q", self._header, _PUNCHED)[0]

    @property
    def stall(self) -> int:
        return struct.unpack_from("=I", self._header, _STALL)[0]

    def set_stall(self, code: int) -> None:
        if self.stall != code:
            struct.pack_into("=I", self._header, _STALL, code)

    @property
    def wanted(self) -> int:
        return struct.unpack_from("=Q", self._header, _WANTED)[0]

    def set_wanted(self, mover_id: int) -> None:
        struct.pack_into("=Q", self._header, _WANTED, mover_id)

    def read(self, start: int, end: int) -> bytes:
        return os.pread(self.fd, end - start, start)

    def punch(self, upto: int) -> bool:
        """Free the disk blocks of records before `upto` (whole pages); False when the file system
        cannot (the file then keeps them)."""
        start = max(self.punched, _PAGE)
        stop = upto // _PAGE * _PAGE
        if stop <= start:
            return True
        if _fallocate is None or _fallocate(self.fd, _PUNCH_HOLE | _KEEP_SIZE, start, stop - start) != 0:
            return False
        struct.pack_into("=Q", self._header, _PUNCHED, stop)
        return True

    def close(self) -> None:
        self._header.close()
        os.close(self.fd)


def _create(path: str) -> None:
    """Create the file with its header in one step (link fails if another process was first)."""
    temp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, _HEADER.pack(_MAGIC, 1, DATA_START, DATA_START, 0).ljust(DATA_START, b"\0"))
        os.fsync(fd)
        os.close(fd)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temp)


_PUNCH_HOLE, _KEEP_SIZE = 0x02, 0x01
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _fallocate = _libc.fallocate
    _fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    _fallocate.restype = ctypes.c_int
except (OSError, AttributeError):
    _fallocate = None


def _new_mover_id() -> int:
    return int.from_bytes(os.urandom(8), "little") >> 1 or 1


@dataclass
class Spooled:
    """A record on its way to the inbox."""

    key: tuple[str, str]                # (channel, event_id)
    payload: bytes
    message: object                     # what is handed on with it once stored (an InboundMessage)
    owner: str | None = None            # the process that acknowledged it (it does the work)


class Spool:
    """This process's side of the server's spool: appending, and a mover thread that stores what
    any process spooled whenever it holds `mover.lock`.

    `move(items)` commits a batch (duplicates are no-ops) and returns the keys it handed on in this
    process; `decode` turns a record back into a Spooled; `claim(items)` hands on this process's
    records that another process's mover stored (each record is leased to the process that
    acknowledged it, so the work stays spread as the connections were); `problem(exc)` is the reason
    to give for storage trouble worth waiting out (None: a record the database refuses, set aside in
    `rejected.log`).
    """

    def __init__(self, directory: str, move: Callable[[list[Spooled]], set | None],
                 decode: Callable[[bytes], Spooled], problem: Callable[[BaseException], str | None] = lambda exc: "",
                 max_batch: int = 500, max_waiting_bytes: int = 32 << 20,
                 claim: Callable[[list[Spooled]], None] | None = None) -> None:
        self.directory = directory
        self.max_waiting_bytes = max_waiting_bytes     # on their way to the inbox, at most (then 503)
        self._move = move
        self._claim = claim
        self._decode = decode
        self._problem = problem
        self._max_batch = max_batch
        self._log: SpoolLog | None = None
        self._lock_fd: int | None = None
        self._open_lock = threading.Lock()
        self._open_failed_at = -OPEN_RETRY_SECONDS
        # Keys this process spooled, with an offset at or past their record's end; a key is still
        # spooled while that offset is past "moved". No lock: a race between two copies of one key
        # costs only the answer to the second ("accepted" for "duplicate"; the inbox drops it).
        self._pending: dict[tuple[str, str], int] = {}
        # The same records in order, until the mover thread hands them on once stored (`_hand_on`):
        # (end, key, payload), decoded again only if another process's mover stores them. Plain
        # strings and bytes, so the collector soon stops looking at them: under load tens of
        # thousands wait at once, and as decoded messages they made every full collection
        # (a pause of the whole worker) twice as long.
        self._pending_order: collections.deque[tuple[int, tuple[str, str], bytes]] = collections.deque()
        self._handed: set[tuple[str, str]] = set()     # handed on by this process's own mover already
        self._last_end = 0                       # this process's last record ends at or before this
        self._cv = threading.Condition(threading.Lock())
        self._move_lock = threading.Lock()       # held by this process's one thread moving records
        self._retry_now = threading.Event()      # cuts short a stalled mover's wait
        self._idle = False                       # the mover waits for records (appenders wake it)
        self._torn: tuple[int, int, float] | None = None     # (moved, size, since) of an incomplete tail
        self._punch_failed = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._mover_id = _new_mover_id()         # what this mover writes as "wanted" in the header
        self.moved = 0                           # records this process moved
        self.batches = 0

    # -- the request side ---------------------------------------------------------------------
    def _open(self) -> SpoolLog | None:
        spool_log = self._log
        if spool_log is not None:
            return spool_log
        if time.monotonic() - self._open_failed_at < OPEN_RETRY_SECONDS:
            return None
        with self._open_lock:
            if self._log is None:
                try:
                    self._log = SpoolLog(self.directory)
                    self._lock_fd = os.open(os.path.join(self.directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
                except OSError as exc:
                    log.warning("cannot open the spool in %s (%s); storing directly for now", self.directory,
                                exc.strerror)
                    self._open_failed_at = time.monotonic()
                    if self._log is not None:
                        self._log.close()
                        self._log = None
                    return None
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="smartbot-spool-mover", daemon=True)
                self._thread.start()
            return self._log

    def usable(self) -> bool:
        thread = self._thread
        return not self._closed and self._pid == os.getpid() and (thread is None or thread.is_alive())

    def busy(self) -> bool:
        """Records of any process wait to be stored: a message taking the direct path now would
        overtake them."""
        spool_log = self._open()
        return spool_log is not None and spool_log.size() > spool_log.moved

    def full(self) -> bool:
        """As many bytes wait to be stored as the spool may hold (the database is slow or away).
        Measured to this process's last record, which under load is near the end of the file."""
        spool_log = self._log
        return spool_log is not None and self._last_end - spool_log.moved >= self.max_waiting_bytes

    def stalled(self) -> str | None:
        """Why the records cannot be stored now (the mover, in whichever process, is waiting it out)."""
        spool_log = self._open()
        code = spool_log.stall if spool_log is not None else 0
        return STORAGE_REASONS[code - 1] if 0 < code <= len(STORAGE_REASONS) else None

    def pending(self, key: tuple[str, str]) -> bool:
        end = self._pending.get(key)
        return end is not None and self._log is not None and end > self._log.moved

    def append(self, item: Spooled) -> bool:
        """Spool one record; False (nothing acknowledged) when the spool cannot take it."""
        spool_log = self._open() if self.usable() else None
        if spool_log is None or spool_log.stall or self.full():
            if spool_log is not None and spool_log.stall:
                self._retry_now.set()    # a platform retrying: a stalled mover here tries again at once
            return False                 # the database is away (then 503), or the spool is full
        try:
            end = spool_log.append(frame(item.payload))
        except OSError as exc:
            log.warning("could not append to the spool %s (%s)", spool_log.path, exc.strerror)
            return False
        self._last_end = max(self._last_end, end)
        self._pending[item.key] = end
        self._pending_order.append((end, item.key, item.payload))
        if self._idle:
            with self._cv:
                self._cv.notify()
        return True

    # -- moving into the inbox ------------------------------------------------------------------
    def _run(self) -> None:
        """The mover: store what is spooled as it comes (when this process holds the mover lock),
        waiting out storage trouble; once a second, look for records nobody is moving."""
        nap = 1.0
        while not self._closed:
            with self._cv:
                if nap >= 1.0:
                    # Appenders look at _idle after adding a record, and the file is looked at again
                    # after it is set: a record added meanwhile is seen, or wakes us.
                    self._idle = True
                    if not self.busy():
                        self._cv.wait(nap)
                    self._idle = False
                else:
                    self._cv.wait(nap)   # another process moves, or a record is half written
            if not self._closed:
                # Another process's mover looks again when it lets go, so this one only checks back.
                nap = _NAPS.get(self._drain(patient=True), 0.02)
                if not self._hand_on():
                    nap = min(nap, 0.02)     # records of this process still to be stored or claimed

    def _drain(self, patient: bool) -> str:
        """Move records while there are any and this process may (DONE), or say why it stopped.
        Whoever lets go of the lock looks again, so a record appended while another mover held it
        is never left behind."""
        while self.busy():
            if not self._move_lock.acquire(blocking=False):
                return OTHER             # another thread of this process is moving
            try:
                state = self._move_held(patient)
            finally:
                self._move_lock.release()
            if state != DONE:
                return state
        spool_log = self._log
        if spool_log is not None and spool_log.stall:
            spool_log.set_stall(0)       # nothing waits: whatever stalled a mover (maybe one that died) is over
        return DONE

    def _move_held(self, patient: bool) -> str:
        """With this process's move lock: take the server's mover lock and move every record."""
        import fcntl

        spool_log, lock_fd = self._log, self._lock_fd
        if spool_log is None or lock_fd is None:
            return OTHER
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            spool_log.set_wanted(self._mover_id)     # the holder lets go after its batch
            return OTHER
        try:
            while True:
                batch, end, incomplete = self._next_batch(spool_log)
                if batch and not self._store(spool_log, batch, patient):
                    return TROUBLE
                if end > spool_log.moved:
                    spool_log.set_moved(end)       # only after the commit: a crash before it replays
                    self._free(spool_log, end)
                    self.moved += len(batch)
                    self.batches += 1
                if incomplete:
                    return STUCK
                if end >= spool_log.size():
                    return DONE
                if spool_log.wanted not in (0, self._mover_id):
                    spool_log.set_wanted(0)
                    return HANDED_OVER
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)

    def _next_batch(self, spool_log: SpoolLog) -> tuple[list[Spooled], int, bool]:
        """The next records after "moved": (decoded batch, where it ends, whether an incomplete
        frame at the end of the file stopped it)."""
        start, size = spool_log.moved, spool_log.size()
        if size <= start:
            return [], start, False
        want = min(size - start, self._max_batch * 4096)
        while True:
            buf = spool_log.read(start, start + want)
            records, end, incomplete = parse(buf, start, self._max_batch)
            at_eof = start + len(buf) >= size
            if records or at_eof or want >= MAX_RECORD + _FRAME.size:
                break
            want = min(size - start, MAX_RECORD + _FRAME.size)     # a record longer than the first read
        if not records:
            if at_eof:
                return [], self._give_up_torn(end, size), True
            log.error("skipped %d unreadable bytes of the spool at offset %d", len(buf) - _FRAME.size, start)
            return [], start + len(buf) - _FRAME.size, False
        self._torn = None
        batch = []
        for payload, _ in records:
            try:
                batch.append(self._decode(payload))
            except Exception:
                log.exception("unreadable record in the spool; kept in rejected.log")
                self._reject(payload)
        return batch, end, incomplete and at_eof

    def _hand_on(self) -> bool:
        """Hand on this process's records that are stored now: those its own mover stored were
        handed on by `move`; the others (stored by another process's mover) go to `claim`. True
        when none is left waiting."""
        spool_log, order = self._log, self._pending_order
        if spool_log is None:
            return True
        moved, stored = spool_log.moved, []
        while order and order[0][0] <= moved:
            end, key, payload = order.popleft()
            if self._pending.get(key) == end:
                del self._pending[key]
            if key in self._handed:
                self._handed.discard(key)
            else:
                stored.append((key, payload))
        if not order:
            self._handed.clear()
        if stored and self._claim is not None:
            try:
                self._claim([self._decode(payload) for _, payload in stored])
            except Exception:            # the database: try again on the next round
                log.exception("could not hand on %d stored spooled messages; trying again", len(stored))
                order.extendleft(reversed([(0, key, payload) for key, payload in stored]))
                return False
        return not order

    def _give_up_torn(self, at: int, size: int) -> int:
        """An incomplete frame at the end: a write in progress, or one torn by a crash. Past
        `TORN_SECONDS` without the file growing, it is torn: skip it."""
        now = time.monotonic()
        if self._torn is None or self._torn[:2] != (at, size):
            self._torn = (at, size, now)
            return at
        if now - self._torn[2] < TORN_SECONDS:
            return at
        log.error("skipped %d bytes of a torn record at the end of the spool (never acknowledged)", size - at)
        self._torn = None
        return size

    def _store(self, spool_log: SpoolLog, batch: list[Spooled], patient: bool) -> bool:
        """Move `batch` into the inbox; False on storage trouble (the database locked, full or
        away), which a patient caller waits out instead, the reason posted in the header for every
        process's requests. A record the database refuses for another reason is set aside in
        `rejected.log`, so that it cannot hold up every record after it."""
        delay = 0.05
        while True:
            try:
                handed = self._move(batch)
                if handed:               # only this process's own records wait in `_pending_order`
                    pending = self._pending
                    self._handed.update(key for key in handed if key in pending)
                spool_log.set_stall(0)
                return True
            except Exception as exc:
                reason = self._problem(exc)
                if reason is None:
                    if len(batch) == 1:
                        log.error("the database refused spooled message %s/%s (%s); kept in %s/rejected.log",
                                  batch[0].key[0], batch[0].key[1], type(exc).__name__, self.directory)
                        self._reject(batch[0].payload)
                        return True
                    return all(self._store(spool_log, [item], patient) for item in batch)
                if spool_log.stall == 0:
                    log.warning("could not store %d spooled messages (%s); trying again", len(batch), reason)
                code = STORAGE_REASONS.index(reason) + 1 if reason in STORAGE_REASONS else len(STORAGE_REASONS)
                spool_log.set_stall(code)       # new requests are refused until it recovers (ingest)
                if not patient or self._closed:
                    return False
                self._retry_now.wait(delay)
                self._retry_now.clear()
                delay = min(delay * 2, MAX_STALL_RETRY)

    def _reject(self, payload: bytes) -> None:
        try:
            fd = os.open(os.path.join(self.directory, "rejected.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, payload + b"\n")
            finally:
                os.close(fd)
        except OSError as err:
            log.error("could not keep a refused spooled message (%s)", err.strerror)

    def _free(self, spool_log: SpoolLog, moved: int) -> None:
        if self._punch_failed or moved - spool_log.punched < PUNCH_BYTES:
            return
        if not spool_log.punch(moved):
            self._punch_failed = True
            log.warning("this file system cannot free moved spool records (fallocate punch hole): %s keeps "
                        "growing until it is deleted while the server is stopped", spool_log.path)

    # -- lifecycle and recovery ---------------------------------------------------------------
    def recover(self, wait: float = 0.0) -> int:
        """Store what is spooled and nobody is moving (records of a process that died); how many
        records this process moved meanwhile. `wait`: how long to wait for this process's own
        mover thread if it is moving (the sweep does not wait; tests do)."""
        if self._pid != os.getpid():
            return 0
        before = self.moved
        if self._open() is None:
            return 0
        if not (self._move_lock.acquire(timeout=wait) if wait > 0 else self._move_lock.acquire(blocking=False)):
            return self.moved - before
        try:
            while self.busy() and self._move_held(patient=False) == DONE:
                pass
        finally:
            self._move_lock.release()
        return self.moved - before

    def close(self, timeout: float = 10.0) -> bool:
        """Take no more records and wait (up to `timeout`) until this process's records are stored,
        moving them when it may; True when none is left (the rest waits for another mover)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        spool_log = self._log
        if spool_log is None or self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout
        while spool_log.moved < self._last_end and time.monotonic() < deadline:
            self._drain(patient=False)
            if spool_log.moved < self._last_end:
                time.sleep(0.05)
        return spool_log.moved >= self._last_end

    def after_fork(self) -> None:
        """A forked child starts with none of its parent's state; its copies of the descriptors
        are closed (one of them could hold the mover lock for a parent that died)."""
        if self._log is not None:
            self._log.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._log = None
        self._lock_fd = None
        self._open_lock = threading.Lock()
        self._pending.clear()
        self._pending_order.clear()
        self._handed.clear()
        self._last_end = 0
        self._cv = threading.Condition(threading.Lock())
        self._thread = None
        self._move_lock = threading.Lock()
        self._retry_now = threading.Event()
        self._idle = False
        self._torn = None
        self._pid = os.getpid()
        self._mover_id = _new_mover_id()
