"""The `smartbot` command, run as a user would run it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import toml_writer

SMARTBOT = str(Path(sys.executable).parent / "smartbot")


def _run(args: list[str], conf: Path, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([SMARTBOT, *args], input=stdin, env={**os.environ, "SMARTBOT_CONFIG": str(conf)},
                          capture_output=True, text=True, timeout=timeout)


def _conf(tmp_path: Path, **extra) -> Path:
    conf = tmp_path / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": "sqlite:///var/bot.db", **extra}))
    return conf


def test_db_upgrade_then_check_config(tmp_path):
    conf = _conf(tmp_path)
    from smartbot.storage.db import head_revision

    up = _run(["db", "upgrade"], conf)
    assert up.returncode == 0 and f"revision {head_revision()}" in up.stdout
    assert (tmp_path / "var" / "bot.db").exists()
    check = _run(["check-config"], conf)
    assert check.returncode == 0 and f"[ok] database schema {head_revision()}" in check.stdout


def test_check_config_names_the_bad_key(tmp_path):
    conf = _conf(tmp_path, jobs={"threads": "lots"})
    res = _run(["check-config"], conf)
    assert res.returncode == 2 and "jobs.threads" in res.stderr


def test_check_config_flags_a_missing_api_key(tmp_path):
    conf = _conf(tmp_path, providers=[{"name": "m", "base_url": "http://127.0.0.1:9/v1", "model": "x",
                                       "api_key_env": "SURELY_UNSET_KEY_VAR"}])
    _run(["db", "upgrade"], conf)
    res = _run(["check-config"], conf)
    assert res.returncode == 1 and "SURELY_UNSET_KEY_VAR is not set" in res.stdout


def test_chat_in_the_terminal(tmp_path):
    conf = _conf(tmp_path)
    res = _run(["chat", "--user", "carol"], conf, stdin="/whoami\nhello\n", timeout=90)
    assert res.returncode == 0, res.stderr
    assert "carol (guest)" in res.stdout
    assert "No model is configured" in res.stdout


def test_create_admin_from_stdin(tmp_path):
    conf = _conf(tmp_path)
    weak = _run(["create-admin", "--name", "ops", "--password-stdin"], conf, stdin="123\n")
    assert weak.returncode == 1 and "too weak" in weak.stderr
    ok = _run(["create-admin", "--name", "ops", "--password-stdin"], conf, stdin="a much better password\n")
    assert ok.returncode == 0 and "created" in ok.stdout
    again = _run(["create-admin", "--name", "ops", "--password-stdin"], conf, stdin="a much better password\n")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_check_config_flags_weak_or_mistyped_channel_secrets(tmp_path):
    channels = {"telegram": {"bot_token": "123456:" + "A" * 35, "secret_token": "short"},
                "slack": {"bot_token": "xoxb-1", "signing_secret": "not-what-slack-shows"},
                "discord": {"application_id": "1100000000000000001", "public_key": "ab" * 32}}
    conf = _conf(tmp_path, channels=channels)
    _run(["db", "upgrade"], conf)
    res = _run(["check-config"], conf)
    assert res.returncode == 1
    assert "[FAIL] channel telegram: secret_token is shorter than 16 characters" in res.stdout
    assert "[FAIL] channel slack: signing_secret is not the 32 hex characters" in res.stdout
    assert "[ok] channel discord configured" in res.stdout
    assert "not-what-slack-shows" not in res.stdout + res.stderr


def test_check_config_names_the_audit_key_and_flags_a_signing_key_that_cannot_continue_the_log(tmp_path):
    conf = _conf(tmp_path)
    _run(["db", "upgrade"], conf)
    made = _run(["create-admin", "--name", "ops", "--password-stdin"], conf, stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    check = _run(["check-config"], conf)
    assert check.returncode == 0 and "[ok] audit key ak-" in check.stdout and "derived from the signing key" in check.stdout
    other_key = subprocess.run([SMARTBOT, "check-config"], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "SMARTBOT_CONFIG": str(conf), "SMARTBOT_SECRET_KEY": "x" * 40})
    assert other_key.returncode == 1 and "[FAIL] audit key" in other_key.stdout and "rotate-key" in other_key.stdout


def test_check_config_warns_about_retired_keys_without_failing(tmp_path):
    conf = _conf(tmp_path, jobs={"ack_spool": True}, server={"idle_workers": 1})
    _run(["db", "upgrade"], conf)
    res = _run(["check-config"], conf)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[warn] jobs.ack_spool no longer does anything" in res.stdout
    assert "[warn] server.idle_workers no longer does anything" in res.stdout
    assert f"remove it from {conf}" in res.stdout
