"""The audit log: hash-chained, verifiable, and tampering (edit, delete, truncate) is detected."""
from __future__ import annotations

import hashlib
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


def _rehash_plain(conn, seq: int, **changes) -> None:
    """What a database writer without the key can do: change a row and recompute a plain SHA-256."""
    row = {**conn.execute(sa.text("SELECT * FROM audit_log WHERE seq = :s"), {"s": seq}).one()._mapping, **changes}
    body = json.dumps([seq, repr(row["ts"]), row["actor"], row["action"], row["target"], row["result"],
                       row["details"]], ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256((row["prev_hash"] + body).encode()).hexdigest()
    conn.execute(sa.text("UPDATE audit_log SET actor = :actor, hash = :h WHERE seq = :s"),
                 {"actor": row["actor"], "h": digest, "s": seq})


def test_an_edit_rehashed_without_the_key_is_detected_at_the_row_itself(db):
    _record_some(db)
    with db.write() as conn:
        _rehash_plain(conn, 2, actor="intruder")
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_seq == 2 and "plain SHA-256" in result.problem


@pytest.fixture
def keyring():
    """Tests that install keyrings of their own give the process's back afterwards."""
    saved = audit.keys.active()
    yield
    audit.keys.install(saved)


def test_rows_verify_only_with_the_key_that_signed_them(db, keyring):
    own = audit.keys.Keyring([audit.keys.new_key()])
    audit.keys.install(own)
    _record_some(db, 3)
    with db.read() as conn:
        assert audit.verify(conn, own).ok
        other = audit.verify(conn, audit.keys.Keyring([audit.keys.new_key()]))
    assert not other.ok and other.bad_seq == 1 and "not in the keyring" in other.problem


def test_a_legacy_chain_is_sealed_by_a_marker_when_the_log_is_opened(db, keyring):
    prev = audit.chain.GENESIS
    with db.write() as conn:                # rows as the release before the keyed chain wrote them
        for seq in (1, 2):
            body = audit.chain.row_body(seq, 1.5, "system", "config.provisioned", "x", "ok", "{}")
            digest = audit.chain.plain_hash(prev, body)
            conn.execute(sa.text("INSERT INTO audit_log (seq, ts, actor, action, target, result, details, prev_hash, "
                                 "hash) VALUES (:s, 1.5, 'system', 'config.provisioned', 'x', 'ok', '{}', :p, :h)"),
                         {"s": seq, "p": prev, "h": digest})
            prev = digest
        conn.execute(sa.text("UPDATE audit_head SET seq = 2, hash = :h WHERE id = 1"), {"h": prev})
    keyring_now = audit.open_log(db, "k" * 40)
    audit.open_log(db, "k" * 40)            # a second process starting: nothing more to seal
    _record_some(db, 2)
    with db.read() as conn:
        result = audit.verify(conn)
        marker = conn.execute(sa.text("SELECT seq, details FROM audit_log WHERE action = 'audit.key_rotated'")).all()
    assert [(m.seq, json.loads(m.details)) for m in marker] == [
        (3, {"key_id": keyring_now.current.id, "previous_key_id": "legacy"})]
    assert result.ok and result.rows == 5 and result.legacy_rows == 2
    assert [(s.first, s.last, s.key_id) for s in result.stretches] == [
        (1, 2, "legacy"), (3, 5, keyring_now.current.id)]


def test_a_chain_under_a_key_this_process_cannot_have_stops_the_start(db, keyring):
    audit.open_log(db, "k" * 40)
    _record_some(db, 1)
    with pytest.raises(audit.keys.AuditKeyError) as refused:
        audit.open_log(db, "another signing key, 40 characters long!")
    assert refused.value.key == "secret_key_env" and "rotate-key" in str(refused.value)


def test_rotation_keeps_every_key_in_the_file_and_the_chain_verifiable(db, keyring, tmp_path):
    from smartbot.audit import rotation

    audit.open_log(db, "k" * 40)
    _record_some(db, 2)
    key_file = str(tmp_path / "audit.keys")
    first = rotation.rotate(db, "k" * 40, key_file)
    assert first.saved_derived and first.keys_kept == 2 and (os.stat(key_file).st_mode & 0o777) == 0o600
    _record_some(db, 2)
    second = rotation.rotate(db, "k" * 40, key_file)
    _record_some(db, 1)
    ring = audit.keys.load("a different signing key, long enough....", key_file)
    with db.read() as conn:
        result = audit.verify(conn, ring)
    assert result.ok and result.rows == 2 + 1 + 2 + 1 + 1 and result.legacy_rows == 0
    assert [s.key_id for s in result.stretches] == [first.previous_key_id, first.key_id, second.key_id]
    text = open(key_file).read()
    assert all(k.secret.hex() in text for k in ring.keys.values()) and len(ring.keys) == 3


def test_a_cut_off_tail_with_a_rewound_head_is_detected(db):
    _record_some(db)
    with db.write() as conn:
        row = conn.execute(sa.text("SELECT seq, hash FROM audit_log WHERE seq = 3")).one()
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq > 3"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 3, hash = :h WHERE id = 1"), {"h": row.hash})
    with db.read() as conn:
        result = audit.verify(conn)
    assert not result.ok and "head" in result.problem


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
