"""The signing key from the key file beside the config (what ./scripts/start.sh writes), read by
the server and every `smartbot` command the same way, when the key variable is not set."""
from __future__ import annotations

from pathlib import Path

import pytest

from smartbot.errors import ConfigError
from smartbot.settings.loading import load

KEY = "f" * 48


def _config(folder: Path, key: str | None = KEY, mode: int = 0o600) -> Path:
    conf = folder / "smartbot.toml"
    conf.write_text('database_url = "sqlite:///smartbot.db"\n')
    if key is not None:
        (folder / "secret_key").write_text(key + "\n")
        (folder / "secret_key").chmod(mode)
    return conf


def test_the_key_file_beside_the_config_is_used_when_the_variable_is_not_set(tmp_path):
    settings = load(_config(tmp_path), env={})
    assert settings.secret_key == KEY


def test_the_variable_wins_over_the_key_file(tmp_path):
    settings = load(_config(tmp_path), env={"SMARTBOT_SECRET_KEY": "v" * 40})
    assert settings.secret_key == "v" * 40


def test_secret_key_file_can_point_anywhere_through_the_environment(tmp_path):
    elsewhere = tmp_path / "keys"
    elsewhere.mkdir()
    _config(elsewhere)
    conf = _config(tmp_path, key=None)
    settings = load(conf, env={"SMARTBOT_SECRET_KEY_FILE": str(elsewhere / "secret_key")})
    assert settings.secret_key == KEY


def test_without_a_config_file_no_key_is_read_from_the_working_folder(tmp_path, monkeypatch):
    _config(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="is not set"):
        load({"database_url": f"sqlite:///{tmp_path}/x.db"}, env={})


def test_no_key_anywhere_points_at_the_key_file_and_never_says_to_make_a_new_key(tmp_path):
    conf = _config(tmp_path, key=None)
    with pytest.raises(ConfigError) as err:
        load(conf, env={})
    text = str(err.value)
    assert f"there is no key file {tmp_path / 'secret_key'}" in text
    assert f"not a new one: put it in {tmp_path / 'secret_key'} (chmod 600)" in text
    assert "token_urlsafe" not in text and "secrets" not in text


def test_a_key_file_other_users_can_read_is_refused(tmp_path):
    conf = _config(tmp_path, mode=0o644)
    with pytest.raises(ConfigError) as err:
        load(conf, env={})
    assert err.value.key == "secret_key_file" and err.value.fix == f"chmod 600 {tmp_path / 'secret_key'}"
    assert KEY not in str(err.value)


def test_a_short_key_in_the_file_is_refused_without_showing_it(tmp_path):
    conf = _config(tmp_path, key="short-key")
    with pytest.raises(ConfigError, match="shorter than 32") as err:
        load(conf, env={})
    assert "short-key" not in str(err.value)
