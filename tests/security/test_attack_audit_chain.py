"""Attacks on the audit chain by someone who can write the database but holds no key.

Events are written through the app under gunicorn (refused logins, refused webhooks); the attacker
then changes rows with plain SQL and recomputes the hashes (plain SHA-256, the formula of the
pre-keyed chain, or HMAC with a key of their own), the rows after and the head included. The real
`smartbot audit verify`, run with the app's config and signing key, must name the first bad row.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import requests
import sqlalchemy as sa

from tests.support import toml_writer

SMARTBOT = str(Path(sys.executable).parent / "smartbot")
GENESIS = "0" * 64


def _cli(config_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SMARTBOT, "audit", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SMARTBOT_CONFIG": str(config_path), **(env or {})})


def _refused_logins(target: Any, names: list[str]) -> None:
    for name in names:
        resp = requests.post(target.url + "/api/v1/auth/login", json={"name": name, "password": "guessed wrong"},
                             timeout=15)
        assert resp.status_code == 401, resp.text


def _refused_webhook(target: Any) -> None:
    resp = target.app.post_generic({"event_id": "forged", "chat_id": "c", "user_id": "u", "text": "hi"},
                                   secret="not-the-shared-secret-0123456789")
    assert resp.status_code == 401


def _events(target: Any) -> None:
    _refused_logins(target, ["mallory", "eve", "trudy"])
    _refused_webhook(target)
    _refused_logins(target, ["oscar"])


# -- what the attacker computes (from the published source, not with SmartBot's code) -----------

def _body(row: dict[str, Any]) -> str:
    return json.dumps([row["seq"], repr(row["ts"]), row["actor"], row["action"], row["target"], row["result"],
                       row["details"]], ensure_ascii=False, separators=(",", ":"))


def plain_sha256(prev: str, row: dict[str, Any]) -> str:
    return hashlib.sha256((prev + _body(row)).encode("utf-8")).hexdigest()


def hmac_with(key: bytes) -> Callable[[str, dict[str, Any]], str]:
    return lambda prev, row: hmac.new(key, (prev + _body(row)).encode("utf-8"), hashlib.sha256).hexdigest()


def _rows(db: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq"))]


def rewrite(db: Any, seq: int, rehash: Callable[[str, dict[str, Any]], str], **changes: Any) -> None:
    """Change row `seq`, recompute its hash and every hash after it, and point the head at the end."""
    rows = _rows(db)
    prev = GENESIS
    with db.write() as conn:
        for row in rows:
            if row["seq"] < seq:
                prev = row["hash"]
                continue
            row.update(changes if row["seq"] == seq else {})
            row["prev_hash"], row["hash"] = prev, rehash(prev, row)
            conn.execute(sa.text("UPDATE audit_log SET actor = :actor, details = :details, prev_hash = :prev_hash, "
                                 "hash = :hash WHERE seq = :seq"), row)
            prev = row["hash"]
        conn.execute(sa.text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": rows[-1]["seq"], "hash": prev})


def _login_row(target: Any, name: str) -> int:
    return next(r["seq"] for r in target.audit("admin.login") if r["actor"] == f"admin:{name}")


# -- the attacks ------------------------------------------------------------------------------------

def test_an_untouched_log_verifies(target):
    app = target()
    _events(app)
    ok = _cli(app.app.config_path, "verify")
    assert ok.returncode == 0, ok.stderr
    assert f"audit chain OK: {len(_rows(app.db))} rows" in ok.stdout
    assert "legacy" not in ok.stdout


def test_a_row_changed_and_rehashed_with_plain_sha256_fails_verify(target):
    app = target()
    _events(app)
    bad = _login_row(app, "eve")
    rewrite(app.db, bad, plain_sha256, actor="someone-else")
    res = _cli(app.app.config_path, "verify")
    assert res.returncode == 1 and f"row {bad}" in res.stderr, (res.stdout, res.stderr)
    app.add_user("root", ["admin"])
    seen = app.login("root").get("/audit/verify").json()
    assert seen["ok"] is False and seen["bad_seq"] == bad


def test_a_row_rehashed_with_a_key_of_the_attackers_fails_verify(target):
    app = target()
    _events(app)
    bad = _login_row(app, "trudy")
    rewrite(app.db, bad, hmac_with(secrets.token_bytes(32)), details=json.dumps({"reason": "nothing to see"}))
    res = _cli(app.app.config_path, "verify")
    assert res.returncode == 1 and f"row {bad}" in res.stderr, (res.stdout, res.stderr)


def test_the_tail_cut_off_with_the_head_moved_back_fails_verify(target):
    app = target()
    _events(app)
    rows = _rows(app.db)
    with app.db.write() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq > :s"), {"s": rows[-3]["seq"]})
        conn.execute(sa.text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": rows[-3]["seq"], "hash": rows[-3]["hash"]})
    res = _cli(app.app.config_path, "verify")
    assert res.returncode == 1 and "head" in res.stderr, (res.stdout, res.stderr)


def _with_key_file(app: Any, tmp_path: Path, key_file: Path) -> Path:
    """The app's config with [audit] key_file set, as the operator would edit it."""
    conf = dict(app.app.config)
    conf["audit"] = {**conf.get("audit", {}), "key_file": str(key_file)}
    path = tmp_path / "with-key-file.toml"
    path.write_text(toml_writer.dumps(conf))
    return path


def test_key_rotation_keeps_the_whole_log_verifiable_and_leaves_a_marker_row(target, tmp_path):
    first = target()
    _events(first)
    first.app.stop()
    key_file = tmp_path / "audit.keys"
    conf = _with_key_file(first, tmp_path, key_file)
    moved = _cli(conf, "rotate-key")
    assert moved.returncode == 0, moved.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = target(audit={"key_file": str(key_file)})
    _refused_logins(second, ["after-the-move"])
    again = _cli(conf, "rotate-key")                       # while the app runs: its workers follow
    assert again.returncode == 0, again.stderr
    _refused_logins(second, ["after-the-second-rotation", "and-one-more"])
    _refused_webhook(second)
    markers = second.audit("audit.key_rotated")
    assert len(markers) == 2
    assert markers[0]["details"]["key_id"] != markers[1]["details"]["key_id"]
    assert markers[1]["details"]["previous_key_id"] == markers[0]["details"]["key_id"]
    secrets_in_file = [line for line in key_file.read_text().splitlines() if line and not line.startswith("#")]
    assert len(secrets_in_file) == 3            # the key derived from the signing key, and two new ones
    everything = json.dumps(_rows(second.db))
    ok = _cli(conf, "verify")
    assert ok.returncode == 0, ok.stderr
    assert all(s not in everything and s not in ok.stdout + ok.stderr for s in secrets_in_file)
    assert f"audit chain OK: {len(_rows(second.db))} rows" in ok.stdout
    # The signing key can change now: the audit keys live in their own file.
    new_signing_key = {"SMARTBOT_SECRET_KEY": secrets.token_urlsafe(48)}
    still = _cli(conf, "verify", env=new_signing_key)
    assert still.returncode == 0, still.stderr
    # ... and a row rewritten after the rotation is still caught.
    bad = _login_row(second, "and-one-more")
    rewrite(second.db, bad, plain_sha256, actor="nobody")
    caught = _cli(conf, "verify")
    assert caught.returncode == 1 and f"row {bad}" in caught.stderr


def test_a_changed_signing_key_without_the_old_audit_key_stops_start_up_with_the_fix(target):
    first = target()
    _events(first)
    first.app.stop()
    refused_with = secrets.token_urlsafe(48)
    try:
        target(env={"SMARTBOT_SECRET_KEY": refused_with})
    except RuntimeError as exc:
        refused = str(exc)
    else:
        raise AssertionError("the app started with a signing key that cannot verify its audit log")
    assert "audit" in refused and "key_file" in refused and "rotate-key" in refused
    # The operator has lost the old key for good and says so: the log goes on under the new one,
    # and verify reports the rows it can no longer check.
    new_key = {"SMARTBOT_SECRET_KEY": refused_with}
    gave_up = _cli(first.app.config_path, "rotate-key", "--previous-key-lost", env=new_key)
    assert gave_up.returncode == 0, gave_up.stderr
    second = target(env=new_key)
    _refused_logins(second, ["after-the-loss"])
    res = _cli(first.app.config_path, "verify", env=new_key)
    assert res.returncode == 0, res.stderr
    lost = second.audit("audit.key_rotated")[-1]
    assert lost["details"]["previous_key_lost"] is True
    assert f"{lost['seq'] - 1} rows cannot be verified" in res.stdout, res.stdout


def test_a_key_file_readable_by_others_is_refused(target, tmp_path):
    first = target()
    _events(first)
    key_file = tmp_path / "audit.keys"
    conf = _with_key_file(first, tmp_path, key_file)
    assert _cli(conf, "rotate-key").returncode == 0
    key_file.chmod(0o644)
    res = _cli(conf, "verify")
    assert res.returncode == 2 and "audit.key_file" in res.stderr and "chmod 600" in res.stderr


def _legacy_database(url: str, n: int) -> None:
    """A database as the release before the keyed chain left it: n rows under plain SHA-256."""
    from smartbot.storage.db import Database

    db = Database(url)
    db.upgrade("0007")
    prev = GENESIS
    with db.write() as conn:
        for seq in range(1, n + 1):
            row = {"seq": seq, "ts": time.time(), "actor": "system", "action": "config.provisioned",
                   "target": f"old-{seq}", "result": "ok", "details": "{}"}
            row["prev_hash"], row["hash"] = prev, plain_sha256(prev, row)
            conn.execute(sa.text("INSERT INTO audit_log (seq, ts, actor, action, target, result, details, "
                                 "prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :target, :result, "
                                 ":details, :prev_hash, :hash)"), row)
            prev = row["hash"]
        conn.execute(sa.text("UPDATE audit_head SET seq = :n, hash = :h WHERE id = 1"), {"n": n, "h": prev})
    db.dispose()


def test_a_legacy_database_verifies_with_its_legacy_rows_reported(target, database_url):
    _legacy_database(database_url, 3)
    app = target()
    _events(app)
    marker = app.audit("audit.key_rotated")
    assert [(m["seq"], m["details"]["previous_key_id"]) for m in marker] == [(4, "legacy")]
    ok = _cli(app.app.config_path, "verify")
    assert ok.returncode == 0, ok.stderr
    assert f"audit chain OK: {len(_rows(app.db))} rows" in ok.stdout
    assert "3 legacy rows" in ok.stdout and "not tamper-proof" in ok.stdout
    # A legacy row rewritten (and rehashed up to the marker) breaks the link the marker sealed.
    rows = _rows(app.db)
    with app.db.write() as conn:
        prev = rows[0]["hash"]
        for row in rows[1:3]:
            row.update(target="rewritten" if row["seq"] == 2 else row["target"])
            row["prev_hash"], row["hash"] = prev, plain_sha256(prev, row)
            conn.execute(sa.text("UPDATE audit_log SET target = :target, prev_hash = :prev_hash, hash = :hash "
                                 "WHERE seq = :seq"), row)
            prev = row["hash"]
    res = _cli(app.app.config_path, "verify")
    assert res.returncode == 1 and "row 4" in res.stderr, (res.stdout, res.stderr)
