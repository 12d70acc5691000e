"""The app the gunicorn master builds once, before it forks its workers.

A worker that builds its own app writes to a large part of the code it inherited from the master
(every object it touches gets its reference count changed, so the page holding it is copied), and
keeps its own copy of everything the app is made of. Built once in the master and frozen there, the
app and the code behind it stay on pages the workers share. What a process must not share is
remade in each worker by the Runtime's fork hook (database pool, leases, job runner), and the
worker starts its own job threads when it takes the app.

Any other server, and a worker forked after a configuration reload, finds nothing here and builds
its own app.
"""
from __future__ import annotations

from flask import Flask

_app: Flask | None = None


def build() -> None:
    """In the gunicorn master: build the app without job threads, and keep no database connection
    that the workers could inherit."""
    global _app
    from smartbot import create_app

    _app = create_app(start_workers=False)
    _app.extensions["smartbot"].db.dispose()


def discard() -> None:
    """Forget the app (a reload re-reads the configuration: new workers build their own)."""
    global _app
    _app = None


def take() -> Flask | None:
    """In a worker: the master's app, with this process's job threads started; None elsewhere."""
    if _app is not None:
        _app.extensions["smartbot"].start()
    return _app
