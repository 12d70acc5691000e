"""WSGI entry point for gunicorn: `gunicorn -c python:smartbot.server.gunicorn_conf smartbot.wsgi:app`."""
from __future__ import annotations

from . import create_app

app = create_app()
