"""The audit log: hash-chained, verifiable, and tampering (edit, delete, truncate) is detected."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from smartbot import audit

from tests.support import toml_writer


def _record_some(db, n: int = 5) -> None:
    with db.write() as conn:
        for i in range(n):
            audit.record(conn, "message.handled", f"generic:u{i}", "generic:c1", "ok", {"i": i})


def test_chain_verifies(db):
    _record_some(db)
    with db.read() as conn:
        result = audit.verify(conn)
    assert result.ok and result.rows == 5


def test_edited_row_is_detected(db):
    _record_some(db)
    with db.write() as conn:
        conn.execute(sa.text("UPDATE audit_log SET result = 'denied' WHERE seq = 3"))
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_seq == 3 and "changed" in result.problem


def test_deleted_middle_row_is_detected(db):
    _record_some(db)
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 2"))
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_seq == 2


def test_truncated_tail_is_detected(db):
    _record_some(db)
    with db.write() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 5"))
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and "removed" in result.problem


def test_rehashed_edit_is_still_detected_by_the_next_row(db):
    _record_some(db)
    with db.write() as conn:
        row = conn.execute(sa.text("SELECT * FROM audit_log WHERE seq = 2")).one()
        digest = audit.chain.row_hash(row.prev_hash, 2, row.ts, "intruder", row.action, row.target, row.result,
                                      row.details)
        conn.execute(sa.text("UPDATE audit_log SET actor = 'intruder', hash = :h WHERE seq = 2"), {"h": digest})
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_seq == 3


def test_secrets_are_redacted_before_storing(db):
    with db.write() as conn:
        audit.record(conn, "config.provisioned", "system", "x", "ok",
                     {"api_key": "sk-live-123456", "bot_token": "123:abc", "api_key_env": "OPENAI_KEY",
                      "nested": {"password": "hunter2"}, "tokens": 42})
    with db.read() as conn:
        details = json.loads(conn.execute(sa.text("SELECT details FROM audit_log")).scalar())
    assert details == {"api_key": "***", "bot_token": "***", "api_key_env": "OPENAI_KEY",
                       "nested": {"password": "***"}, "tokens": 42}


def test_unregistered_event_names_are_refused(db):
    with db.write() as conn, pytest.raises(ValueError, match="unregistered"):
        audit.record(conn, "something.made_up", "x")


def test_cli_verify_exit_codes(db, tmp_path):
    _record_some(db)
    conf = tmp_path / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": db.url}))
    cli = [str(Path(sys.executable).parent / "smartbot"), "audit", "verify"]
    env = {**os.environ, "SMARTBOT_CONFIG": str(conf)}
    ok = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "OK: 5 rows" in ok.stdout
    with db.write() as conn:
        conn.execute(sa.text("UPDATE audit_log SET details = '{}' WHERE seq = 4"))
    bad = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "row 4" in bad.stderr
