"""Idle memory of the default deployment: what the gunicorn master keeps loaded for the life of the
server (its workers inherit it): the app, built once, and not what only migrating or other platforms
need."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support import toml_writer
from tests.support.admin_api import AdminApi

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 64

_MASTER = """
import json, sys, threading
from smartbot.server import gunicorn_conf, shared_app

gunicorn_conf.on_starting(None)
app = shared_app._app
print(json.dumps({"modules": sorted(sys.modules), "threads": [t.name for t in threading.enumerate()],
                  "app": app is not None and "smartbot" in app.extensions,
                  "connections": app.extensions["smartbot"].db.engine.pool.checkedin() if app else None}))
"""


def _master(tmp_path: Path, channels: dict) -> dict:
    """What the master holds when gunicorn would fork the workers (a fresh database)."""
    conf = tmp_path / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": f"sqlite:///{tmp_path / 'smartbot.db'}",
                                       "channels": channels, "server": {"metrics_dir": str(tmp_path / "m")}}))
    env = {**os.environ, "SMARTBOT_CONFIG": str(conf), "SMARTBOT_SECRET_KEY": KEY,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _MASTER], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _master_modules(tmp_path: Path, channels: dict) -> set[str]:
    return set(_master(tmp_path, channels)["modules"])


def test_the_master_keeps_the_apps_code_but_not_the_migrations(tmp_path):
    """Migrating (in a child), the schema check and the tables leave Alembic and the ORM out; the
    app's own modules, its blueprints and the configured channel are in, for the workers to share."""
    modules = _master_modules(tmp_path, {"generic": {"secret": "s" * 32, "callback_url": "http://127.0.0.1:9/x"}})
    for absent in ("alembic", "mako", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql",
                   "smartbot.channels.discord", "smartbot.channels.wecom", "smartbot.cli"):
        assert absent not in modules, absent
    for present in ("smartbot.channels.generic", "smartbot.web.app", "smartbot.runtime", "smartbot.storage.tables",
                    "smartbot.gateway.views", "smartbot.admin.blueprint", "smartbot.api.blueprint",
                    "flask_jwt_extended", "sqlite3"):
        assert present in modules, present


def test_the_master_builds_the_app_once_without_job_threads_or_open_connections(tmp_path):
    """The workers share the master's app; what must not be shared across a fork (threads, database
    connections) is never made there: each worker makes its own."""
    master = _master(tmp_path, {"generic": {"secret": "s" * 32, "callback_url": "http://127.0.0.1:9/x"}})
    assert master["app"] is True
    assert master["threads"] == ["MainThread"]
    assert master["connections"] == 0


def test_only_the_configured_platforms_are_loaded(tmp_path):
    modules = _master_modules(tmp_path, {"discord": {"application_id": "1", "public_key": "ab" * 32,
                                                     "bot_token": "t"}})
    assert "smartbot.channels.discord" in modules
    assert "smartbot.channels.generic" not in modules and "smartbot.channels.telegram" not in modules


@pytest.mark.slow
def test_admin_login_and_api_under_gunicorn(gunicorn_app, make_config):
    """The admin API's tokens, issued by one worker, are accepted by the other; a forged one is not."""
    from smartbot.storage.db import Database

    config = make_config()
    app = gunicorn_app(config, workers=2)
    db = Database(config["database_url"])
    try:
        api = AdminApi(app, db=db)
        for _ in range(4):          # both workers check the token
            assert api.get("/providers").status_code == 200
        forged = requests.get(app.url + "/api/v1/providers", headers={"Authorization": "Bearer x.y.z"}, timeout=10)
        assert forged.status_code == 401
    finally:
        db.dispose()
