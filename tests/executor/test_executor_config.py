"""[executor], [approvals] and [[commands]] settings: wrong values stop start-up naming the key, and
[[commands]] are provisioned into the catalogue (source "config") at every start."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from smartbot.settings.loading import load
from smartbot.errors import ConfigError
from smartbot.settings.provisioning import provision

ENV = {"SMARTBOT_SECRET_KEY": "k" * 40}


@pytest.mark.parametrize("data,key,words", [
    ({"commands": [{"name": "x", "argv": ["bash", "-c", "uptime"]}]}, "commands[0].argv[0]", "runs its arguments"),
    ({"commands": [{"name": "x", "argv": ["ping", "{h}"]}]}, "commands[0].argv[1]", "not a declared parameter"),
    ({"commands": [{"name": "x", "argv": ["df"], "params": [{"name": "p", "type": "int"}]}]},
     "commands[0].params[0].min", "needs `min` and `max`"),
    ({"commands": [{"name": "x", "argv": ["df"]}, {"name": "x", "argv": ["df"]}]}, "commands", "two entries are named"),
    ({"commands": [{"argv": ["df"]}]}, "commands[0].name", "required"),
    ({"executor": {"run_as": "root"}}, "executor.run_as", "must not run as root"),
    ({"executor": {"allowed_hosts": ["evil.com; rm"]}}, "executor.allowed_hosts[0]", "not a host"),
    ({"executor": {"log_files": ["relative.log"]}}, "executor.log_files[0]", "absolute"),
    ({"approvals": {"notify": ["ops-room"]}}, "approvals.notify[0]", "<channel>:<chat_id>"),
])
def test_bad_settings_name_the_key(data, key, words):
    with pytest.raises(ConfigError) as err:
        load(data, env=ENV)
    assert err.value.key == key and words in str(err.value)


def test_environment_overrides_reach_the_executor_lists():
    settings = load({}, env={**ENV, "SMARTBOT_EXECUTOR__ALLOWED_HOSTS": "web-1,web-2:8080"})
    assert settings.executor.allowed_hosts == ["web-1", "web-2:8080"]
    assert settings.executor.log_files == [] and settings.executor.services == []


def test_commands_from_the_file_are_provisioned_updated_and_removed(db, tmp_path):
    def names():
        with db.read() as conn:
            return {r.name: (r.source, r.timeout) for r in conn.execute(sa.text("SELECT name, source, timeout "
                                                                                   "FROM commands"))}

    first = load({"database_url": db.url, "commands": [{"name": "queue", "argv": ["cat", "/proc/loadavg"]}]}, env=ENV)
    assert provision(db, first) == ["command queue added"]
    assert names()["queue"] == ("config", 30.0) and names()["disk"][0] == "default"
    assert provision(db, first) == []
    second = load({"database_url": db.url, "commands": [{"name": "queue", "argv": ["cat", "/proc/loadavg"],
                                                         "timeout": 5}]}, env=ENV)
    assert provision(db, second) == ["command queue updated"] and names()["queue"] == ("config", 5.0)
    assert provision(db, load({"database_url": db.url}, env=ENV)) == ["command queue removed (no longer in the file)"]
    assert "queue" not in names() and "disk" in names()


def test_a_file_command_does_not_replace_one_made_in_the_admin_page(db):
    with db.write() as conn:
        conn.execute(sa.text("UPDATE commands SET source = 'db' WHERE name = 'disk'"))
    settings = load({"database_url": db.url, "commands": [{"name": "disk", "argv": ["true"]}]}, env=ENV)
    assert provision(db, settings) == []
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT argv FROM commands WHERE name = 'disk'")).scalar() != '["true"]'


def test_the_starter_set_is_safe_and_complete(db):
    from smartbot.executor import catalogue

    with db.read() as conn:
        specs = {s.name: s for s in catalogue.all_commands(conn)}
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM commands")).scalar()
    assert rows == len(specs) == 10     # every stored starter definition passes the definition check
    assert specs["service_restart"].needs_approval and not specs["disk"].needs_approval
    assert specs["tail"].argv[-2] == "--" and specs["ping"].argv[-2] == "--"
