"""Create, change and delete rows known by a unique name (providers, model routes) the same way:
404 for an unknown name, 409 for a duplicate or for a row that smartbot.toml owns, and every change
written together with its audit row (before/after) and a bump of the version counter that makes
every process reload within a second. Never writes a row without its audit row."""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth.rbac import Principal
from ..i18n.reasons import Reason, reason
from ..storage.runtime_settings import bump
from . import changes
from .errors import Conflict, NotFound

View = Callable[[Any], dict[str, Any]]
# check(runtime, conn, name, values, row): refuse (Invalid) values about to be written; row is None on create.
Check = Callable[[Any, Connection, str, dict[str, Any], Any], None]
# after(conn, actor, name, before, after): more audit rows for a change, in its transaction.
After = Callable[[Connection, str, str, Any, Any], None]


@dataclass
class NamedRows:
    table: sa.Table
    noun: str                   # "provider", "model route": for reasons and audit action names
    action_prefix: str          # "provider" -> provider.created / .updated / .deleted
    version_key: str
    view: View
    check: Check | None = None
    after: After | None = None

    def _noun(self) -> Reason:
        return reason(f"reason.noun.{self.action_prefix}")

    def all(self, db: Any) -> list[dict[str, Any]]:
        with db.read() as conn:
            rows = conn.execute(sa.select(self.table).order_by(self.table.c.name)).all()
        return [self.view(r) for r in rows]

    def one(self, db: Any, name: str) -> Row[Any]:
        with db.read() as conn:
            return self.find(conn, name)

    def find(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(sa.select(self.table).where(self.table.c.name == name)).first()
        if row is None:
            raise NotFound(reason("reason.named.missing", noun=self._noun(), name=repr(name)))
        return row

    def create(self, runtime: Any, caller: Principal, name: str, values: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with changing(runtime) as conn:
            exists = conn.execute(sa.select(self.table.c.id).where(self.table.c.name == name)).first()
            if exists is not None:
                raise Conflict(reason("reason.named.exists", noun=self._noun(), name=repr(name)), "name")
            if self.check is not None:
                self.check(runtime, conn, name, values, None)
            try:
                conn.execute(sa.insert(self.table).values(name=name, source="db", created_at=now, updated_at=now,
                                                          **values))
            except sa.exc.IntegrityError:      # created meanwhile by another process (PostgreSQL)
                raise Conflict(reason("reason.named.exists", noun=self._noun(), name=repr(name)), "name") from None
            after = self.view(self.find(conn, name))
            self._changed(runtime, conn, caller, "created", name, None, after)
        return after

    def update(self, runtime: Any, caller: Principal, name: str,
               values_for: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """`values_for(row)` returns the column values to set (it may raise a ManageError to refuse)."""
        with changing(runtime) as conn:
            row = self.editable(conn, name)
            before = self.view(row)
            values = values_for(row)
            if self.check is not None:
                self.check(runtime, conn, name, values, row)
            conn.execute(sa.update(self.table).where(self.table.c.name == name)
                         .values(updated_at=time.time(), **values))
            after = self.view(self.find(conn, name))
            self._changed(runtime, conn, caller, "updated", name, before, after)
        return after

    def delete(self, runtime: Any, caller: Principal, name: str,
               in_use: Callable[[Connection, Any], str] | None = None) -> None:
        """`in_use(conn, row)` returns why the row must stay ("" when it may go)."""
        with changing(runtime) as conn:
            row = self.editable(conn, name)
            reason = in_use(conn, row) if in_use else ""
            if reason:
                raise Conflict(reason)
            before = self.view(row)
            conn.execute(sa.delete(self.table).where(self.table.c.name == name))
            self._changed(runtime, conn, caller, "deleted", name, before, None)

    def editable(self, conn: Connection, name: str) -> Row[Any]:
        row = self.find(conn, name)
        if row.source == "config":
            raise Conflict(reason("reason.named.from_config", noun=self._noun(), name=repr(name)))
        return row

    def _changed(self, runtime: Any, conn: Connection, caller: Principal, verb: str, name: str, before: Any,
                 after: Any) -> None:
        actor = changes.actor_of(caller)
        bump(conn, runtime.db, self.version_key)
        changes.record(conn, actor, f"{self.action_prefix}.{verb}", name, before, after)
        if self.after is not None:
            self.after(conn, actor, name, before, after)


@contextlib.contextmanager
def changing(runtime: Any) -> Iterator[Connection]:
    """A write transaction for model configuration. After it commits, this process re-reads the
    tables on its next message; the other processes notice the version bump within a second."""
    with runtime.db.write() as conn:
        yield conn
    runtime.providers.invalidate()
