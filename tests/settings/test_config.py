"""Settings: file + environment, and start-up errors that name the key and the fix."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smartbot.settings.loading import load
from smartbot.errors import ConfigError

KEY = "k" * 40


def _env(**extra: str) -> dict[str, str]:
    return {"SMARTBOT_SECRET_KEY": KEY, **extra}


def test_defaults_need_only_a_secret_key(tmp_path):
    settings = load({"database_url": f"sqlite:///{tmp_path}/a.db"}, env=_env())
    assert settings.server.bind == "127.0.0.1:8080"
    assert settings.jobs.backend == "local"
    assert settings.default_locale == "en"


def test_missing_secret_key_names_the_variable_and_the_fix():
    with pytest.raises(ConfigError) as err:
        load({}, env={})
    assert err.value.key == "secret_key_env"
    assert "SMARTBOT_SECRET_KEY" in str(err.value)
    assert "./scripts/start.sh keeps its key in var/secret_key" in err.value.fix
    assert "token_urlsafe" not in err.value.fix


def test_short_secret_key_is_refused():
    with pytest.raises(ConfigError, match="shorter than 32"):
        load({}, env={"SMARTBOT_SECRET_KEY": "short"})


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError) as err:
        load({"channels": {"generic": {"secrte": "x" * 20, "callback_url": "http://a/b"}}}, env=_env())
    assert err.value.key == "channels.generic.secrte"
    assert "did you mean 'secret'" in str(err.value)


def test_environment_overrides_the_file_with_types(tmp_path):
    sections = {"database_url": f"sqlite:///{tmp_path}/a.db",
              "channels": {"generic": {"secret": "from-file-0123456789", "callback_url": "http://a/b"}}}
    settings = load(sections, env=_env(SMARTBOT_CHANNELS__GENERIC__SECRET="from-env-0123456789",
                                     SMARTBOT_JOBS__THREADS="7", SMARTBOT_WEBCHAT__ENABLED="false",
                                     SMARTBOT_UNRELATED_THING="ignored"))
    assert settings.channels["generic"].secret == "from-env-0123456789"
    assert settings.jobs.threads == 7
    assert settings.webchat.enabled is False


def test_environment_can_fill_list_entries(tmp_path):
    settings = load({"database_url": f"sqlite:///{tmp_path}/a.db"},
                    env=_env(SMARTBOT_PROVIDERS__0__NAME="main", SMARTBOT_PROVIDERS__0__BASE_URL="http://m/v1",
                             SMARTBOT_PROVIDERS__0__MODEL="x"))
    assert settings.providers[0].name == "main" and settings.providers[0].kind == "openai"


def test_bad_number_from_environment_names_the_key():
    with pytest.raises(ConfigError) as err:
        load({}, env=_env(SMARTBOT_JOBS__THREADS="many"))
    assert err.value.key == "jobs.threads"


def test_provider_without_model_names_the_entry():
    with pytest.raises(ConfigError) as err:
        load({"providers": [{"name": "a", "base_url": "http://x/v1"}]}, env=_env())
    assert err.value.key == "providers[0].model"


def test_provider_url_must_be_http():
    with pytest.raises(ConfigError, match="http"):
        load({"providers": [{"name": "a", "base_url": "ftp://x", "model": "m"}]}, env=_env())


def test_fallback_must_name_known_providers():
    with pytest.raises(ConfigError) as err:
        load({"providers": [{"name": "a", "base_url": "http://x/v1", "model": "m"}],
              "models": {"fallback": ["b"]}}, env=_env())
    assert err.value.key == "models.fallback" and "'b'" in str(err.value)


def test_unknown_channel_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load({"channels": {"telegarm": {}}}, env=_env())
    assert "generic" in str(err.value)


def test_secret_can_come_from_a_named_environment_variable():
    sections = {"channels": {"generic": {"secret_env": "HOOK_SECRET", "callback_url": "http://a/b"}}}
    assert load(sections, env=_env(HOOK_SECRET="s" * 20)).channels["generic"].secret == "s" * 20
    with pytest.raises(ConfigError) as err:
        load(sections, env=_env())
    assert err.value.key == "channels.generic.secret_env" and "HOOK_SECRET" in str(err.value)


def test_missing_required_channel_setting():
    with pytest.raises(ConfigError) as err:
        load({"channels": {"generic": {"secret": "s" * 20}}}, env=_env())
    assert err.value.key == "channels.generic.callback_url"


def test_relative_sqlite_path_is_taken_from_the_config_files_folder(tmp_path):
    path = tmp_path / "conf" / "smartbot.toml"
    path.parent.mkdir()
    path.write_text('database_url = "sqlite:///data/bot.db"\n')
    settings = load(str(path), env=_env())
    assert settings.database_url == f"sqlite:///{tmp_path}/conf/data/bot.db"
    assert (tmp_path / "conf" / "data").is_dir()


def test_broken_toml_and_missing_file_are_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("database_url = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(str(bad), env=_env())
    with pytest.raises(ConfigError, match="does not exist"):
        load(str(tmp_path / "nope.toml"), env=_env())


def test_plain_database_url_variable_is_honoured(tmp_path):
    settings = load({}, env=_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db"))
    assert settings.database_url.endswith("/x.db")


def test_server_refuses_to_start_with_a_bad_setting_and_says_which(tmp_path):
    conf = tmp_path / "smartbot.toml"
    conf.write_text('[jobs]\nbackend = "rabbit"\n')
    proc = subprocess.run([str(Path(sys.executable).parent / "gunicorn"), "-c", "python:smartbot.server.gunicorn_conf",
                           "smartbot.wsgi:app"], env={"SMARTBOT_CONFIG": str(conf), "SMARTBOT_SECRET_KEY": KEY,
                                                      "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode != 0
    assert "jobs.backend" in proc.stderr and "local" in proc.stderr


def test_rules_and_roles_in_the_file_are_checked():
    with pytest.raises(ConfigError) as err:
        load({"rules": [{"name": "r", "action": "chat", "match": {"chanel": "slack"}}]}, env=_env())
    assert err.value.key == "rules[0]" and "chanel" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load({"roles": [{"name": "ops", "permissions": ["chat", "fly:*"]}]}, env=_env())
    assert err.value.key == "roles[0].permissions[1]"
    with pytest.raises(ConfigError, match="two entries are named 'a'"):
        load({"roles": [{"name": "a"}, {"name": "a"}]}, env=_env())


@pytest.mark.parametrize("base_url", ["http://x/v1?path=", "http://x/v1#frag", "http://user@x/v1",
                                      "http://u:p@x/v1", "http://x\\@y/v1", "http://x/v 1", "http://x:99999/v1"])
def test_a_file_providers_base_url_is_read_as_the_http_client_reads_it(base_url):
    with pytest.raises(ConfigError) as err:
        load({"providers": [{"name": "a", "base_url": base_url, "model": "m"}]}, env=_env())
    assert err.value.key == "providers[0].base_url"
    assert "u:p" not in err.value.problem


def test_provider_key_variables_are_names_or_patterns():
    settings = load({"security": {"provider_key_envs": ["OPENAI_API_KEY", "DEEPSEEK_*"]}}, env=_env())
    assert settings.security.provider_key_envs == ["OPENAI_API_KEY", "DEEPSEEK_*"]
    assert load({}, env=_env()).security.provider_key_envs == ["*_API_KEY"]
    for bad in ("*", "A B", "KEY;rm"):
        with pytest.raises(ConfigError) as err:
            load({"security": {"provider_key_envs": ["OPENAI_API_KEY", bad]}}, env=_env())
        assert err.value.key == "security.provider_key_envs[1]"


RETIRED_FILE = "[jobs]\nack_spool = true\nthreads = 8\n\n[server]\nidle_workers = 1\nidle_seconds = 300\n"


def test_retired_keys_in_an_older_file_are_ignored_and_named(tmp_path):
    conf = tmp_path / "smartbot.toml"
    conf.write_text(RETIRED_FILE)
    settings = load(conf, env=_env())
    assert settings.jobs.threads == 8 and settings.server.workers == 2
    assert not hasattr(settings.jobs, "ack_spool") and not hasattr(settings.server, "idle_workers")
    assert [notice.split(" ", 1)[0] for notice in settings.retired] == [
        "jobs.ack_spool", "server.idle_workers", "server.idle_seconds"]
    for notice in settings.retired:
        assert "no longer does anything" in notice and f"remove it from {conf}" in notice
    assert load({}, env=_env()).retired == ()


def test_a_retired_key_from_the_environment_says_which_variable_to_unset():
    settings = load({}, env=_env(SMARTBOT_JOBS__ACK_SPOOL="false"))
    assert len(settings.retired) == 1
    assert settings.retired[0].startswith("jobs.ack_spool no longer does anything")
    assert settings.retired[0].endswith("unset SMARTBOT_JOBS__ACK_SPOOL")


def test_each_retired_key_is_warned_about_once_per_process(monkeypatch, caplog):
    from smartbot.settings import loading

    monkeypatch.setattr(loading, "_warned", set())
    settings = load({"server": {"idle_workers": 1}, "jobs": {"ack_spool": False}}, env=_env())
    with caplog.at_level("WARNING", logger="smartbot.settings.loading"):
        loading.warn_retired(settings)
        loading.warn_retired(load({"server": {"idle_workers": 1}}, env=_env()))
    assert [r.getMessage() for r in caplog.records] == list(settings.retired)


def test_gunicorn_starts_with_retired_keys_and_warns_once_for_each(gunicorn_app, make_config):
    sections = make_config(jobs={"ack_spool": True}, server={"idle_workers": 1, "idle_seconds": 300})
    app = gunicorn_app(sections, workers=2, env={"SMARTBOT_SERVER__IDLE_SECONDS": "60"})
    assert app.post_generic({"event_id": "old-file", "chat_id": "c", "user_id": "u", "text": "hi"}).status_code == 200
    log = app.log()
    for key in ("jobs.ack_spool", "server.idle_workers", "server.idle_seconds"):
        assert log.count(f"{key} no longer does anything") == 1, log
    assert "unset SMARTBOT_SERVER__IDLE_SECONDS" in log
