"""Idle memory of the default deployment: what the gunicorn master keeps loaded for the life of the
server (its workers inherit it), and that leaving the rest out changes nothing a client sees."""
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

ROOT = Path(__file__).resolve().parent.parent
KEY = "k" * 64

_MASTER = """
import json, sys
from smartbot import gunicorn_conf

gunicorn_conf.on_starting(None)
import jwt
from jwt.algorithms import has_crypto

token = jwt.encode({"sub": "u"}, "secret" * 8, algorithm="HS256")
print(json.dumps({"modules": sorted(sys.modules), "has_crypto": has_crypto,
                  "hs256": jwt.decode(token, "secret" * 8, algorithms=["HS256"])["sub"]}))
"""


def _master_modules(tmp_path: Path, channels: dict) -> dict:
    """What the master has imported when gunicorn would fork the workers (a fresh database)."""
    conf = tmp_path / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": f"sqlite:///{tmp_path / 'smartbot.db'}",
                                       "channels": channels, "server": {"metrics_dir": str(tmp_path / "m")}}))
    env = {**os.environ, "SMARTBOT_CONFIG": str(conf), "SMARTBOT_SECRET_KEY": KEY,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _MASTER], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_master_keeps_only_what_the_workers_use(tmp_path):
    """Migrating (in a child), the schema check and the tables leave Alembic and the ORM out, and
    PyJWT is loaded without `cryptography`; the app's own modules and the configured channel are in."""
    found = _master_modules(tmp_path, {"generic": {"secret": "s" * 32, "callback_url": "http://127.0.0.1:9/x"}})
    modules = set(found["modules"])
    for absent in ("alembic", "mako", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "cryptography",
                   "smartbot.channels.discord", "smartbot.channels.wecom", "smartbot.cli"):
        assert absent not in modules, absent
    for present in ("smartbot.channels.generic", "smartbot.web_app", "smartbot.runtime", "smartbot.models",
                    "flask_jwt_extended", "sqlite3"):
        assert present in modules, present
    assert found["has_crypto"] is False and found["hs256"] == "u"


def test_a_configured_channel_that_needs_cryptography_still_has_it(tmp_path):
    found = _master_modules(tmp_path, {"discord": {"application_id": "1", "public_key": "ab" * 32,
                                                   "bot_token": "t"}})
    modules = set(found["modules"])
    assert "smartbot.channels.discord" in modules and "cryptography" in modules
    assert found["hs256"] == "u"


@pytest.mark.slow
def test_admin_login_and_api_under_gunicorn(gunicorn_app, make_config):
    """The tokens are HS256, signed and checked without `cryptography` in the workers."""
    from smartbot.db import Database

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
