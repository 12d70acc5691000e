"""WSGI entry point for gunicorn: `gunicorn -c python:smartbot.server.gunicorn_conf smartbot.wsgi:app`.

Under that configuration a worker serves the app its master built before the fork
(server/shared_app.py); any other server gets an app of its own."""
from __future__ import annotations

from . import create_app
from .server import shared_app

app = shared_app.take() or create_app()
