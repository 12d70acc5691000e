"""Declarative base. Times are float Unix seconds: the same on SQLite and PostgreSQL, cheap to compare.

The models are written in the ORM's declarative style (`Mapped[...]` annotations, `mapped_column`),
but nothing maps rows to objects: the code queries `Model.__table__` with SQLAlchemy Core. So this
module builds those Tables itself, by the ORM's rules (a column is nullable when its annotation
allows None, unless `nullable` is given; a primary key never is; a column without a type takes it
from its foreign key; the class's own columns come before those of a mixin), without importing
`sqlalchemy.orm`: that import alone is a large share of every process's memory, the gunicorn
master included, for nothing the code uses. tests/test_migrations.py checks that the tables still
agree with the migrations.
"""
from __future__ import annotations

import time
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, MetaData, Table

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

T = TypeVar("T")


class Mapped(Generic[T]):
    """The annotation of a column: `Mapped[str | None]` makes it nullable (as in the ORM)."""


class mapped_column:  # noqa: N801 - spelled as the ORM's function it stands for
    """A column declared on a model or a mixin; each table gets its own Column from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def column(self, name: str, annotation: str) -> Column:
        kwargs = dict(self.kwargs)
        if "nullable" not in kwargs and not kwargs.get("primary_key"):
            kwargs["nullable"] = _allows_none(annotation)
        return Column(name, *self.args, **kwargs)


def _allows_none(annotation: str) -> bool:
    inner = annotation.strip()
    if inner.startswith("Mapped[") and inner.endswith("]"):
        inner = inner[len("Mapped["):-1]
    if inner.startswith("Optional["):
        return True
    return "None" in (part.strip() for part in inner.split("|"))


class Base:
    """Subclasses with a `__tablename__` get `__table__`, a Table in `Base.metadata`."""

    metadata = MetaData(naming_convention=NAMING)
    __tablename__: str
    __table__: Table

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("__tablename__")
        if name is None:
            return
        columns: dict[str, Column] = {}
        for klass in (cls, *(k for k in cls.__mro__[1:] if k is not object and not issubclass(k, Base))):
            annotations = klass.__dict__.get("__annotations__", {})
            for attr, value in klass.__dict__.items():
                if isinstance(value, mapped_column) and attr not in columns:
                    columns[attr] = value.column(attr, str(annotations.get(attr, "")))
        args = cls.__dict__.get("__table_args__", ())
        options = args if isinstance(args, dict) else (args[-1] if args and isinstance(args[-1], dict) else {})
        constraints = () if isinstance(args, dict) else tuple(a for a in args if not isinstance(a, dict))
        cls.__table__ = Table(name, cls.metadata, *columns.values(), *constraints, **options)


def now() -> float:
    return time.time()
