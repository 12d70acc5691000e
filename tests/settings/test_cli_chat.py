"""`smartbot chat` as someone at the server's terminal uses it: with the key start.sh wrote and
nothing exported, as an existing user with --user, and clear about a user who does not exist."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from smartbot.settings.loading import load
from smartbot.storage.db import Database
from tests.support import toml_writer

SMARTBOT = str(Path(sys.executable).parent / "smartbot")
PASSWORD = "a long enough password"


def _start_sh_layout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """var/smartbot.toml and var/secret_key as ./scripts/start.sh leaves them, and an environment
    with neither SMARTBOT_SECRET_KEY nor the key file's variable in it."""
    var = tmp_path / "var"
    var.mkdir(mode=0o700)
    conf = var / "smartbot.toml"
    conf.write_text(toml_writer.dumps({"database_url": "sqlite:///smartbot.db"}))
    key = var / "secret_key"
    key.write_text(secrets.token_urlsafe(48) + "\n")
    key.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTBOT_")}
    return conf, {**env, "SMARTBOT_CONFIG": str(conf)}


def _smartbot(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([SMARTBOT, *args], input=stdin, env=env, capture_output=True, text=True, timeout=120)


def _db(conf: Path, env: dict[str, str]) -> Database:
    return Database(load(conf, env=env).database_url)


def _add_admin(name: str, env: dict[str, str]) -> None:
    """Made by the command, so that its audit row is signed with the key file's key, as the chat's are."""
    made = _smartbot(["create-admin", "--name", name, "--password-stdin"], env, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr


def test_chat_uses_the_key_start_sh_wrote_with_nothing_exported(tmp_path):
    conf, env = _start_sh_layout(tmp_path)
    assert _smartbot(["db", "upgrade"], env).returncode == 0
    res = _smartbot(["chat"], env, stdin="/whoami\n")
    assert res.returncode == 0, res.stderr
    assert "a sender bound to no user (guest)" in res.stdout and "(guest)" in res.stdout.split("SmartBot> ", 1)[1]
    assert "SMARTBOT_SECRET_KEY is not set" not in res.stderr


def test_without_any_key_the_advice_points_at_the_key_file(tmp_path):
    conf, env = _start_sh_layout(tmp_path)
    (conf.parent / "secret_key").unlink()
    res = _smartbot(["chat"], env, stdin="/whoami\n")
    assert res.returncode == 2
    assert f"not a new one: put it in {conf.parent / 'secret_key'} (chmod 600)" in res.stderr
    assert "token_urlsafe" not in res.stderr


def test_user_flag_talks_as_the_existing_user_through_her_terminal_identity(tmp_path):
    conf, env = _start_sh_layout(tmp_path)
    assert _smartbot(["db", "upgrade"], env).returncode == 0
    _add_admin("olga", env)
    first = _smartbot(["chat", "--user", "olga"], env, stdin="/whoami\n")
    assert first.returncode == 0, first.stderr
    assert "The terminal identity cli:olga is now bound to the user olga" in first.stdout
    assert "as olga (admin), through the terminal identity cli:olga" in first.stdout
    assert "SmartBot> olga (admin)" in first.stdout
    again = _smartbot(["chat", "--user", "olga"], env, stdin="/whoami\n")
    assert "now bound" not in again.stdout and "SmartBot> olga (admin)" in again.stdout
    with _db(conf, env).read() as conn:
        binds = conn.execute(sa.text("SELECT target FROM audit_log WHERE action = 'identity.bind'")).scalars().all()
    assert binds == ["cli:olga"]


def test_user_flag_with_a_name_nobody_has_says_so_and_talks_as_a_guest(tmp_path):
    conf, env = _start_sh_layout(tmp_path)
    assert _smartbot(["db", "upgrade"], env).returncode == 0
    res = _smartbot(["chat", "--user", "nobody-here"], env, stdin="/whoami\n")
    assert res.returncode == 0, res.stderr
    assert "There is no user named nobody-here: you talk as cli:nobody-here, bound to no user" in res.stdout
    assert "SmartBot> nobody-here (guest)" in res.stdout
    with _db(conf, env).read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'identity.bind'")).scalar() == 0


def test_user_flag_never_takes_a_terminal_identity_bound_to_someone_else(tmp_path):
    conf, env = _start_sh_layout(tmp_path)
    assert _smartbot(["db", "upgrade"], env).returncode == 0
    _add_admin("olga", env)
    _add_admin("mallory", env)
    with _db(conf, env).write() as conn:
        conn.execute(sa.text("INSERT INTO identities (channel, platform_user_id, user_id, display_name, created_at) "
                             "SELECT 'cli', 'olga', id, 'olga', 0 FROM users WHERE name = 'mallory'"))
    res = _smartbot(["chat", "--user", "olga"], env, stdin="/whoami\n")
    assert res.returncode == 1
    assert "the terminal identity cli:olga belongs to the user mallory" in res.stderr
    chinese = _smartbot(["chat", "--user", "olga"], {**env, "SMARTBOT_LANG": "zh-CN"}, stdin="/whoami\n")
    assert chinese.returncode == 1 and "终端身份 cli:olga 属于用户 mallory" in chinese.stderr, chinese.stderr


def test_user_flag_has_help():
    res = subprocess.run([SMARTBOT, "chat", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    assert "--user NAME" in res.stdout and "talk as the SmartBot user NAME" in res.stdout
