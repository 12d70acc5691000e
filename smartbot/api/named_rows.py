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

from ..live_config import bump
from .context import ApiContext, ApiError

View = Callable[[Any], dict[str, Any]]
# check(ctx, conn, name, values, row): refuse (ApiError) values about to be written; row is None on create.
Check = Callable[[ApiContext, Connection, str, dict[str, Any], Any], None]
# after(ctx, conn, name, before, after): more audit rows for a change, in its transaction.
After = Callable[[ApiContext, Connection, str, Any, Any], None]


@dataclass
class NamedRows:
    table: sa.Table
    noun: str                   # "provider", "model route": for reasons and audit action names
    action_prefix: str          # "provider" -> provider.created / .updated / .deleted
    version_key: str
    view: View
    check: Check | None = None
    after: After | None = None

    def all(self, ctx: ApiContext) -> list[dict[str, Any]]:
        with ctx.runtime.db.read() as conn:
            rows = conn.execute(sa.select(self.table).order_by(self.table.c.name)).all()
        return [self.view(r) for r in rows]

    def one(self, ctx: ApiContext, name: str) -> Row[Any]:
        with ctx.runtime.db.read() as conn:
            return self.find(conn, name)

    def find(self, conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(sa.select(self.table).where(self.table.c.name == name)).first()
        if row is None:
            raise ApiError(404, f"no {self.noun} named {name!r}")
        return row

    def create(self, ctx: ApiContext, name: str, values: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        with changing(ctx) as conn:
            exists = conn.execute(sa.select(self.table.c.id).where(self.table.c.name == name)).first()
            if exists is not None:
                raise ApiError(409, f"a {self.noun} named {name!r} already exists", "name")
            if self.check is not None:
                self.check(ctx, conn, name, values, None)
            try:
                conn.execute(sa.insert(self.table).values(name=name, source="db", created_at=now, updated_at=now,
                                                          **values))
            except sa.exc.IntegrityError:      # created meanwhile by another process (PostgreSQL)
                raise ApiError(409, f"a {self.noun} named {name!r} already exists", "name") from None
            after = self.view(self.find(conn, name))
            self._changed(ctx, conn, "created", name, None, after)
        return after

    def update(self, ctx: ApiContext, name: str, changes: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
        """`changes(row)` returns the column values to set (it may raise ApiError to refuse)."""
        with changing(ctx) as conn:
            row = self.editable(conn, name)
            before = self.view(row)
            values = changes(row)
            if self.check is not None:
                self.check(ctx, conn, name, values, row)
            conn.execute(sa.update(self.table).where(self.table.c.name == name)
                         .values(updated_at=time.time(), **values))
            after = self.view(self.find(conn, name))
            self._changed(ctx, conn, "updated", name, before, after)
        return after

    def delete(self, ctx: ApiContext, name: str, in_use: Callable[[Connection, Any], str] | None = None) -> None:
        """`in_use(conn, row)` returns why the row must stay ("" when it may go)."""
        with changing(ctx) as conn:
            row = self.editable(conn, name)
            reason = in_use(conn, row) if in_use else ""
            if reason:
                raise ApiError(409, reason)
            before = self.view(row)
            conn.execute(sa.delete(self.table).where(self.table.c.name == name))
            self._changed(ctx, conn, "deleted", name, before, None)

    def editable(self, conn: Connection, name: str) -> Row[Any]:
        row = self.find(conn, name)
        if row.source == "config":
            raise ApiError(409, f"{self.noun} {name!r} is defined in smartbot.toml; change it there "
                                "(it is provisioned again at every start)")
        return row

    def _changed(self, ctx: ApiContext, conn: Connection, verb: str, name: str, before: Any, after: Any) -> None:
        bump(conn, ctx.runtime.db, self.version_key)
        ctx.record_change(conn, f"{self.action_prefix}.{verb}", name, before, after)
        if self.after is not None:
            self.after(ctx, conn, name, before, after)


@contextlib.contextmanager
def changing(ctx: ApiContext) -> Iterator[Connection]:
    """A write transaction for model configuration. After it commits, this process re-reads the
    tables on its next message; the other processes notice the version bump within a second."""
    with ctx.runtime.db.write() as conn:
        yield conn
    ctx.runtime.providers.invalidate()
