"""Database access: the engine, short read and write transactions, and the schema check.

Only the URL decides the database. SQLite (the default) gets WAL, synchronous=NORMAL and a busy
timeout, and write transactions start with BEGIN IMMEDIATE so two writers never deadlock on a lock
upgrade; the same code runs on PostgreSQL. Code that writes does its write first and reads after,
inside `db.write()`, so the rows it reads are the ones its lock protects on either database.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import functools
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Engine

from ..errors import ConfigError, StartupError
from .group_commit import GroupCommitter
from .writer_lock import WriterLock

log = logging.getLogger(__name__)

T = TypeVar("T")
WAL_BACKSTOP_PAGES = 10_000     # WAL pages before a commit checkpoints by itself (the upkeep's backstop)
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# The largest integer every integer column holds, ids included (PostgreSQL's `integer`): a number
# from a request is checked against it, or the database refuses it with an error.
MAX_INTEGER = 2**31 - 1


class Database:
    """One engine per process; `write()` and `read()` hand out short transactions."""

    def __init__(self, url: str, pool_size: int = 10, max_overflow: int = 60) -> None:
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError("database_url", f"is not a database URL: {url!r}",
                              "e.g. sqlite:///var/smartbot.db or postgresql://user@host/db") from None
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": not self.is_sqlite}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=60)
        elif self.dialect == "postgresql":
            kwargs.update(pool_size=min(pool_size, 10), max_overflow=min(max_overflow, 20), pool_timeout=30)
        try:
            self.engine: Engine = sa.create_engine(_driver_url(parsed), **kwargs)
        except (ImportError, ModuleNotFoundError) as exc:
            raise ConfigError("database_url", f"the driver for {self.dialect} is not installed ({exc})",
                              "pip install 'smartbot[postgres]' for PostgreSQL") from None
        # SQLite writers queue on a thread lock and a file lock instead of in SQLite's busy handler,
        # which sleeps in growing steps and so wastes most of the time the lock is free.
        self._writer_lock = WriterLock(sqlite_file(url)) if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        # Write transactions on SQLite begin IMMEDIATE (see _on_begin): the same engine and pool,
        # with the option set once rather than on a copy of every write's connection.
        self._write_engine = self.engine.execution_options(smartbot_immediate=True) if self.is_sqlite else self.engine
        self._writer: Connection | None = None      # SQLite: the one connection writes use, under the lock
        self._committer = GroupCommitter(self.write) if self.is_sqlite else None

    def run_write(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in a write transaction, sharing the commit with concurrent callers (SQLite)."""
        if self._committer is not None:
            return self._committer.run(fn)
        with self.write() as conn:
            return fn(conn)

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back on an exception."""
        lock = self._writer_lock
        if lock is None:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
            return
        with lock:
            conn = self._writer_connection()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                # Whatever state a failed write left it in, the pool's reset on return clears it.
                self._writer = None
                conn.close()
                raise

    def _writer_connection(self) -> Connection:
        """SQLite writes one at a time (under the writer lock), so they all use one connection,
        kept open between writes: taking one from the pool and giving it back cost a short write
        more than its own INSERT, and the one connection's page cache stays warm."""
        if self._writer is None:
            self._writer = self._write_engine.connect()
        return self._writer

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def serialize(self, conn: Connection, name: str) -> None:
        """Inside a write transaction: let only one transaction with this `name` run at a time.
        SQLite write transactions are serialized already; PostgreSQL takes an advisory lock that
        is released at commit (for read-then-write work such as provisioning at start)."""
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def insert_ignore(self, table: sa.Table) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING for the dialect in use."""
        return dialect_insert(self.dialect)(table).on_conflict_do_nothing()

    def fetch_one(self, conn: Connection, sql: str, params: dict[str, Any]) -> Any:
        """Run one hot-path statement on the DBAPI cursor under `conn`, inside its transaction.

        For the few statements every webhook runs: SQLAlchemy's execution layer (events, result
        objects, parameter processing) cost as much as SQLite's own work. `sql` uses `:name`
        parameters, no `::` casts and no `%`. Returns the first row as a tuple, or None.
        """
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(_driver_sql(sql, self.is_sqlite), params)
            return cur.fetchone()
        finally:
            cur.close()

    def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file now, without blocking writers (PASSIVE).

        Left to SQLite, the commit that takes the WAL past 1,000 pages runs the checkpoint itself,
        fsync included, while it holds the write lock: every writer waits, and under load that
        was most of the reply-time tail (docs/performance.md). The upkeep thread calls this
        every sweep instead; another process's checkpoint running at the same time is no error.
        """
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def after_fork(self) -> None:
        """Drop connections inherited from a parent process (never share a socket or file lock)."""
        self.engine.dispose(close=False)
        self._writer = None             # the parent's; never closed here
        if self._writer_lock is not None:
            self._writer_lock.reopen()
            self._committer = GroupCommitter(self.write)

    def dispose(self) -> None:
        """Close every connection; the next use opens new ones. Under the writer lock on SQLite,
        so no write can take an old connection back between the two steps."""
        if self._writer_lock is None:
            self.engine.dispose()
            return
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self.engine.dispose()

    # -- schema -------------------------------------------------------------------------
    def schema_revision(self) -> str | None:
        with self.read() as conn:
            try:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            except sa.exc.DBAPIError:
                return None

    def upgrade(self, revision: str = "head") -> None:
        """Run Alembic migrations, one process at a time."""
        from alembic import command

        with self._migration_lock():
            command.upgrade(alembic_config(self.url), revision)

    def upgrade_in_child(self, revision: str = "head") -> None:
        """`upgrade` in a forked child process, for a parent that forks long-lived workers.

        Alembic with Mako, Pygments and argparse, plus the migration scripts, are many Python
        objects; loaded in the gunicorn master they stayed in it (and in every worker's share) for
        the life of the deployment, though nothing after start-up needs them. A failure is logged
        by the child and raised here as a StartupError.
        """
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:    # pragma: no cover - the child's coverage is not collected
            code = 1
            try:
                self.engine.dispose(close=False)        # never use the parent's connections
                self.upgrade(revision)
                code = 0
            except BaseException:  # noqa: BLE001 - reported through the exit status
                log.exception("database upgrade failed")
            finally:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise StartupError(f"the database upgrade to {revision} failed (the error is logged above)")

    def ensure_schema(self, auto_migrate: bool, upgrade_in_child: bool = False) -> None:
        """Stop start-up when the schema is behind the code, or upgrade it when allowed.

        `upgrade_in_child`: run the upgrade in a forked process (the gunicorn master), so that
        Alembic never loads into this one (see upgrade_in_child).
        """
        head = head_revision()
        current = self.schema_revision()
        if current == head:
            return
        if auto_migrate:
            log.info("database schema at %s, upgrading to %s", current, head)
            if upgrade_in_child:
                self.upgrade_in_child()
            else:
                self.upgrade()
            return
        raise StartupError(f"the database schema is at revision {current}, this code needs {head}: "
                           "run `smartbot db upgrade` (or set auto_migrate = true)")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            import fcntl

            path = self.engine.url.database or ""
            lock_path = (path + ".migrate.lock") if path and path != ":memory:" else None
            if lock_path is None:
                yield
                return
            with open(lock_path, "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.dialect == "postgresql":
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(4242001)"))
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(4242001)"))
                    conn.commit()
        else:
            yield


@functools.lru_cache(maxsize=64)
def dialect_insert(dialect: str) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT construct (with ON CONFLICT). SQLAlchemy's PostgreSQL dialect is
    imported here, when in use: imported at start it would sit in every process of a SQLite
    deployment (the dialect and its driver variants)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    return sqlite.insert


def _driver_sql(sql: str, is_sqlite: bool) -> str:
    """`:name` parameters as the driver wants them: sqlite3 takes them as they are, psycopg `%(name)s`."""
    return sql if is_sqlite else re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)


DISK_FULL = "the database volume is full; retry later"
DATABASE_BUSY = "the database is busy; retry later"
DATABASE_UNAVAILABLE = "the database is unavailable; retry later"


def storage_problem(exc: BaseException) -> str | None:
    """A reason safe to show when `exc` means the database cannot write now (disk full, locked,
    unreachable); None for other errors (a bug, a constraint)."""
    orig = getattr(exc, "orig", exc)
    # Raised through SQLAlchemy, or straight from the driver on the hot path (Database.fetch_one).
    if not (isinstance(exc, sa.exc.OperationalError) or type(orig).__name__ == "OperationalError"):
        return None
    text = str(orig).lower()
    if "full" in text or "no space" in text:
        return DISK_FULL
    if "locked" in text or "busy" in text:
        return DATABASE_BUSY
    return DATABASE_UNAVAILABLE


def _driver_url(parsed: sa.engine.URL) -> sa.engine.URL:
    """postgresql:// means psycopg 3 when it is installed (SQLAlchemy's default is psycopg2)."""
    if parsed.drivername == "postgresql":
        try:
            import psycopg  # noqa: F401

            return parsed.set(drivername="postgresql+psycopg")
        except ImportError:
            return parsed
    return parsed


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event emit BEGIN itself, so we choose DEFERRED or IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        _set_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints belong to the upkeep thread (Database.checkpoint); this is only the backstop
        # should it stall, and the WAL file is cut back to journal_size_limit after a checkpoint.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        cur.execute("PRAGMA journal_size_limit=67108864")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight on the driver: through exec_driver_sql, BEGIN cost as much CPU as the INSERT it guards.
        immediate = conn.get_execution_options().get("smartbot_immediate")
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _set_wal(cur: Any, attempts: int = 100) -> None:
    """Switch to WAL (it persists in the file). Switching needs a moment with no other writer, and
    SQLite answers "locked" at once instead of waiting, so wait here while another process writes."""
    import sqlite3

    for attempt in range(attempts):
        if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["smartbot_url"] = url
    return cfg


def head_revision() -> str:
    """The revision the code expects: the one head of migrations/versions.

    Read from the scripts' `revision =` and `down_revision =` lines, without Alembic: every process
    asks at start (and /readyz on every call), and Alembic's answer (importing Alembic and Mako,
    loading each migration script) would cost every gunicorn worker private memory for the whole
    of its life; with the master's upgrade in a child (Database.upgrade_in_child) no long-lived
    process loads Alembic at all. Alembic still answers anything that is not a plain set of
    revisions with one head (its error then names the problem).
    """
    versions = MIGRATIONS_DIR / "versions"
    files = tuple(sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
                         for entry in os.scandir(versions) if _REVISION_FILE.fullmatch(entry.name)))
    return _head_of(str(versions), files)


_REVISION_FILE = re.compile(r"(?!\.#|__init__).*\.py")     # the files Alembic reads as revisions
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=4)
def _head_of(versions: str, files: tuple[tuple[str, int, int], ...]) -> str:
    """`files`: (name, mtime, size) of each script, so that a changed folder is read again."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for name, _, _ in files:
        found = dict(m.groups() for m in _REVISION_LINE.finditer(Path(versions, name).read_text("utf-8")))
        try:
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return _alembic_head()
        down = (down,) if isinstance(down, str) else (down or ())
        if not isinstance(revision, str) or not all(isinstance(d, str) for d in down):
            return _alembic_head()
        revisions.add(revision)
        parents.update(down)
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return _alembic_head()
    return heads.pop()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def sqlite_file(url: str) -> str | None:
    """The file behind a SQLite URL, or None for other databases and :memory:."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def database_size(url: str) -> int:
    path = sqlite_file(url)
    return os.path.getsize(path) if path and os.path.exists(path) else 0
