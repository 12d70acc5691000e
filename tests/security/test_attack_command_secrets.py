"""Attacks by a holder of `admin:commands` (and `command:run:*`) on SmartBot's own secrets through
the command catalogue: a command listing the signing key (or a channel's or provider's secret
variable) in `env`, wrapper and interpreter programs that turn a parameter or a literal into code,
rewriting the starter commands, and command output that carries a secret into the outbox and the
workflow runs. Every attack is sent over HTTP to the app under gunicorn; a canary file proves that
a refused command did not run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import jwt
import pytest
import sqlalchemy as sa

from tests.conftest import GENERIC_SECRET
from tests.security.conftest import Target
from tests.support.executor import Chat
from tests.support.waiting import wait_until

SIGNING_KEY_VAR = "SMARTBOT_SECRET_KEY"
HOOK_SECRET_VAR = "GENERIC_HOOK_SECRET"            # the generic channel's secret, given as secret_env
FILE_PROVIDER_VAR, FILE_PROVIDER_KEY = "FAKE_MODEL_API_KEY", "fake-model-key-5e4d3c2b1a09"
DB_PROVIDER_VAR, DB_PROVIDER_KEY = "ACME_API_KEY", "acme-live-key-0f9e8d7c6b5a"
PLAIN_VAR, PLAIN_VALUE = "APP_REGION", "eu-west-3-region"
OWN_VARIABLES = [SIGNING_KEY_VAR, "DATABASE_URL", "SMARTBOT_DATABASE_URL", HOOK_SECRET_VAR, FILE_PROVIDER_VAR,
                 DB_PROVIDER_VAR]
SECRET_WORD = "Qw3rtySecretValue42"
DB_PASSWORD = "Hunter2Hunter2xyz"
MALLORY = ["admin:login", "admin:commands", "command:run:*", "admin:workflows", "workflow:run:*"]


def _signing_key() -> str:
    return os.environ[SIGNING_KEY_VAR]


@pytest.fixture
def canary_dir() -> Iterator[Path]:
    """A folder the unprivileged command user could write into: a refused command that ran anyway
    would leave its canary file here."""
    path = Path(tempfile.mkdtemp(prefix="smartbot-canary-"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def bot(target, fake_platform, fake_model) -> tuple[Target, Chat, Any]:
    """The app with the generic channel's secret and a provider's key in environment variables, a
    provider created in the database, an admin, and mallory (admin:commands, command:run:*)."""
    provider = {"name": "main", "kind": "openai", "base_url": fake_model.base_url, "model": "fake-1",
                "read_timeout": 5.0, "total_timeout": 8.0, "max_retries": 1, "api_key_env": FILE_PROVIDER_VAR}
    app = target(channels={"generic": {"secret_env": HOOK_SECRET_VAR, "callback_url": fake_platform.hook_url}},
                 providers=[provider],
                 env={HOOK_SECRET_VAR: GENERIC_SECRET, FILE_PROVIDER_VAR: FILE_PROVIDER_KEY,
                      DB_PROVIDER_VAR: DB_PROVIDER_KEY, PLAIN_VAR: PLAIN_VALUE})
    app.app.secret = GENERIC_SECRET
    now = time.time()
    with app.db.write() as conn:
        conn.execute(sa.text("INSERT INTO providers (name, kind, base_url, api_key_env, model, params, enabled, "
                             "source, created_at, updated_at) VALUES ('acme', 'openai', 'https://api.acme.test/v1', "
                             ":var, 'acme-1', '{}', true, 'db', :now, :now)"), {"var": DB_PROVIDER_VAR, "now": now})
    app.add_user("root", ["admin"])
    app.add_user("mallory", [], identities=[("generic", "mallory-1")], permissions=MALLORY)
    return app, Chat(app.app, fake_platform), fake_platform


def _store(app: Target, name: str, argv: list[str], env: list[str] | None = None, params: list | None = None,
           source: str = "db") -> None:
    """A definition written straight into the commands table (stored before the checks existed)."""
    now = time.time()
    commands = sa.table("commands", *(sa.column(c) for c in (
        "name", "description", "permission", "timeout", "output_cap", "workdir", "needs_approval", "enabled",
        "source", "created_at", "updated_at")), sa.column("argv", sa.JSON), sa.column("params", sa.JSON),
        sa.column("env", sa.JSON))
    with app.db.write() as conn:
        conn.execute(sa.insert(commands).values(
            name=name, description="", argv=argv, params=params or [], permission="", timeout=10.0,
            output_cap=8000, workdir="/", env=env or [], needs_approval=False, enabled=True, source=source,
            created_at=now, updated_at=now))


def _outbox_text(app: Target) -> str:
    with app.db.read() as conn:
        return "\n".join(str(tuple(r)) for r in conn.execute(sa.text("SELECT * FROM outbox")))


def _settings(env: dict[str, str]) -> Any:
    """Settings with the generic channel's secret in a variable, loaded as the server loads them."""
    from smartbot.settings.loading import load

    return load({"channels": {"generic": {"secret_env": HOOK_SECRET_VAR, "callback_url": "http://127.0.0.1:9/h"}}},
                env=env)


def _secrets_in(text: str) -> list[str]:
    values = [_signing_key(), GENERIC_SECRET, FILE_PROVIDER_KEY, DB_PROVIDER_KEY, SECRET_WORD, DB_PASSWORD]
    return [v for v in values if v in text]


# -- env: SmartBot's own variables -----------------------------------------------------------------
def test_a_command_cannot_name_smartbots_own_variables_in_env(bot):
    app, _, _ = bot
    mallory = app.login("mallory")
    plain = mallory.post("/commands", {"name": "region", "argv": ["printenv", PLAIN_VAR], "env": [PLAIN_VAR]})
    assert plain.status_code == 201, plain.text
    for var in OWN_VARIABLES:
        created = mallory.post("/commands", {"name": "leak", "argv": ["printenv", var], "env": [var]})
        assert created.status_code == 422, (var, created.text)
        assert created.json()["field"] == "env[0]"
        assert f"{var} belongs to SmartBot" in created.json()["error"]
        patched = mallory.patch("/commands/region", {"env": [PLAIN_VAR, var]})
        assert patched.status_code == 422 and patched.json()["field"] == "env[1]", (var, patched.text)
    assert mallory.get("/commands/leak").status_code == 404
    assert mallory.get("/commands/region").json()["env"] == [PLAIN_VAR]
    refused = app.audit("command.definition_refused")
    assert len(refused) == 2 * len(OWN_VARIABLES)
    assert refused[0]["actor"] == "admin:mallory" and refused[0]["details"]["field"] == "env[0]"
    assert refused[0]["result"] == "denied"


def test_a_stored_definition_naming_the_signing_key_is_refused_when_run(bot):
    app, chat, _ = bot
    for i, var in enumerate(OWN_VARIABLES):
        _store(app, f"leak{i}", ["printenv", var], env=[var])
    _store(app, "region", ["printenv", PLAIN_VAR], env=[PLAIN_VAR])
    assert PLAIN_VALUE in chat.say("/run region", user="mallory-1")          # a legitimate variable still passes
    for i, var in enumerate(OWN_VARIABLES):
        reply = chat.say(f"/run leak{i}", user="mallory-1")
        assert reply.startswith(f"Cannot run leak{i}:") and f"{var} belongs to SmartBot" in reply, reply
        assert _secrets_in(reply) == []
    rejected = app.audit("command.rejected")
    assert [r["target"] for r in rejected] == [f"leak{i}" for i in range(len(OWN_VARIABLES))]
    assert "env[0]" in rejected[0]["details"]["reason"]
    assert [r["target"] for r in app.audit("command.ran")] == ["region"]
    assert _secrets_in(_outbox_text(app)) == []
    shown = app.login("mallory").get("/commands/leak0").json()           # the admin page shows why
    assert shown["enabled"] is False and shown["problem"].startswith("env[0]: SMARTBOT_SECRET_KEY belongs to SmartBot")


def test_the_environment_builder_drops_smartbots_own_variables_whatever_it_is_asked():
    """Settings can change after a definition was saved: the environment is filtered when it is built
    (not HTTP: the builder stdio tool servers will share)."""
    from smartbot.executor.environment import child_environment, own_variables

    own = own_variables(_settings({SIGNING_KEY_VAR: _signing_key(), HOOK_SECRET_VAR: GENERIC_SECRET}))
    source = {SIGNING_KEY_VAR: _signing_key(), HOOK_SECRET_VAR: GENERIC_SECRET, "DATABASE_URL": "postgresql://x",
              "SMARTBOT_ANYTHING": "1", PLAIN_VAR: PLAIN_VALUE, "LD_PRELOAD": "/evil.so"}
    env = child_environment([*source, "PATH"], source, own)
    assert env[PLAIN_VAR] == PLAIN_VALUE
    assert not set(env) & {SIGNING_KEY_VAR, HOOK_SECRET_VAR, "DATABASE_URL", "SMARTBOT_ANYTHING", "LD_PRELOAD"}
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# -- programs: wrappers, interpreters, a parameter as the program ----------------------------------
_PROG = [{"name": "prog", "type": "regex", "pattern": "[a-z/]{1,40}", "allow_dash": False}]
REFUSED_PROGRAMS = [
    ({"argv": ["timeout", "5", "{prog}"], "params": _PROG}, "argv[0]", "runs another program"),
    ({"argv": ["nice", "{prog}"], "params": _PROG}, "argv[0]", "runs another program"),
    ({"argv": ["stdbuf", "-oL", "{prog}"], "params": _PROG}, "argv[0]", "runs another program"),
    ({"argv": ["xargs", "{prog}"], "params": _PROG}, "argv[0]", "runs another program"),
    ({"argv": ["awk", "{prog}"], "params": _PROG}, "argv[0]", "runs code"),
    ({"argv": ["gawk", "BEGIN { system(\"id\") }"]}, "argv[0]", "runs code"),
    ({"argv": ["sed", "-n", "1e id", "/etc/hostname"]}, "argv[0]", "runs code"),
    ({"argv": ["python3", "-c", "print(1)"]}, "argv[0]", "runs code"),
    ({"argv": ["python3.11", "/tmp/x.py"]}, "argv[0]", "runs code"),
    ({"argv": ["/usr/bin/python3", "-V"]}, "argv[0]", "runs code"),
    ({"argv": ["perl", "-e", "print 1"]}, "argv[0]", "runs code"),
    ({"argv": ["node", "-e", "1"]}, "argv[0]", "runs code"),
    ({"argv": ["/usr/bin/env", "printenv"]}, "argv[0]", "runs another program"),
    ({"argv": ["find", "/", "-exec", "id", ";"]}, "argv[0]", "runs another program"),
    ({"argv": ["/bin/sh", "-c", "id"]}, "argv[0]", "shell"),
    ({"argv": ["{prog}"], "params": _PROG}, "argv[0]", "written out"),
    ({"argv": ["/usr/bin/{prog}"], "params": _PROG}, "argv[0]", "written out"),
    ({"argv": ["/proc/self/exe", "-c", "1"]}, "argv[0]", "/proc"),
]


def test_wrappers_interpreters_and_placeholder_programs_are_refused(bot):
    app, _, _ = bot
    mallory = app.login("mallory")
    for definition, field, words in REFUSED_PROGRAMS:
        resp = mallory.post("/commands", {"name": "sneaky", **definition})
        assert resp.status_code == 422, (definition, resp.text)
        assert resp.json()["field"] == field and words in resp.json()["error"], (definition, resp.json())
    assert mallory.get("/commands/sneaky").status_code == 404
    refused = app.audit("command.definition_refused")
    assert [r["details"]["field"] for r in refused] == [field for _, field, _ in REFUSED_PROGRAMS]
    assert all(r["actor"] == "admin:mallory" and r["target"] == "command:sneaky" for r in refused)


def test_stored_wrapper_and_interpreter_commands_do_not_run(bot, canary_dir):
    app, chat, _ = bot
    canary = str(canary_dir / "ran")
    stored = {
        "w_timeout": ["timeout", "5", "touch", canary],
        "w_python": ["python3", "-c", f"open({canary!r}, 'w')"],
        "w_env": ["/usr/bin/env", "touch", canary],
        "w_find": ["find", str(canary_dir), "-maxdepth", "0", "-exec", "touch", canary, ";"],
        "w_awk": ["awk", f"BEGIN {{ system(\"touch {canary}\") }}"],
        "w_perl": ["perl", "-e", f"open(F, '>', '{canary}')"],
    }
    for name, argv in stored.items():
        _store(app, name, argv)
    _store(app, "w_touch", ["touch", canary + "-legit"])           # the same user may write the canary folder
    for name in stored:
        reply = chat.say(f"/run {name}", user="mallory-1")
        assert reply.startswith(f"Cannot run {name}:") and "argv[0]" in reply, reply
    assert chat.say("/run w_touch", user="mallory-1").startswith("w_touch: exit 0")
    assert os.path.exists(canary + "-legit") and not os.path.exists(canary)
    assert sorted(r["target"] for r in app.audit("command.rejected")) == sorted(stored)
    assert [r["target"] for r in app.audit("command.ran")] == ["w_touch"]


# -- tokens ----------------------------------------------------------------------------------------
def test_a_token_signed_with_another_key_is_refused(bot):
    app, _, _ = bot
    mallory = app.login("mallory")
    claims = jwt.decode(mallory.tokens["access_token"], options={"verify_signature": False})
    with app.db.read() as conn:
        root_id = conn.execute(sa.text("SELECT id FROM users WHERE name = 'root'")).scalar_one()
    forged = jwt.encode({**claims, "sub": str(root_id), "name": "root"}, "not-the-signing-key-" + "x" * 40,
                        algorithm="HS256")
    resp = mallory.get("/users", token=forged)
    assert resp.status_code == 401 and "root" not in resp.text
    assert mallory.get("/commands").status_code == 200                      # mallory's own token works


# -- starter commands ------------------------------------------------------------------------------
def test_starter_commands_are_read_only(bot):
    app, _, _ = bot
    mallory = app.login("mallory")
    before = mallory.get("/commands/disk").json()
    assert before["source"] == "default"
    changed = mallory.patch("/commands/disk", {"argv": ["cat", "/etc/shadow"]})
    assert changed.status_code == 409 and "starter command" in changed.json()["error"], changed.text
    assert mallory.patch("/commands/disk", {"enabled": False}).status_code == 409
    removed = mallory.delete("/commands/disk")
    assert removed.status_code == 409 and "starter command" in removed.json()["error"]
    assert mallory.get("/commands/disk").json() == before
    copy = mallory.post("/commands", {**{k: before[k] for k in ("argv", "params", "timeout")}, "name": "my_disk"})
    assert copy.status_code == 201, copy.text                               # a copy under a new name is fine
    assert app.audit("command.updated") == [] and app.audit("command.deleted") == []


# -- output: secrets masked before they are stored ------------------------------------------------
def _masking_commands(app: Target) -> None:
    mallory = app.login("mallory")
    word = mallory.post("/commands", {"name": "echo_word", "argv": ["echo", "{word}"], "params": [
        {"name": "word", "type": "regex", "pattern": "[A-Za-z0-9]{8,64}", "secret": True}]})
    assert word.status_code == 201, word.text
    assert word.json()["params"][0]["secret"] is True
    info = mallory.post("/commands", {"name": "dbinfo", "argv": [
        "echo", f"host=db1 password={DB_PASSWORD} user=app"]})
    assert info.status_code == 201, info.text


def test_secrets_in_command_output_are_masked_in_the_outbox(bot):
    app, chat, platform = bot
    _masking_commands(app)
    echoed = chat.say(f"/run echo_word {SECRET_WORD}", user="mallory-1")
    assert echoed.startswith("echo_word: exit 0") and echoed.splitlines()[1] == "***", echoed
    info = chat.say("/run dbinfo", user="mallory-1")
    assert "host=db1 password=*** user=app" in info, info
    assert _secrets_in(echoed + info) == []
    assert _secrets_in(_outbox_text(app)) == []
    assert _secrets_in(str([r["json"] for r in platform.received])) == []
    requested = [r["details"]["argv"] for r in app.audit("command.requested")]
    assert requested[0] == ["echo", "***"] and requested[1] == ["echo", "host=db1 password=*** user=app"]
    assert _secrets_in(str(app.audit())) == []


WORKFLOW = f"""\
name: leaky
steps:
  - name: word
    kind: command
    command: echo_word
    args:
      word: {SECRET_WORD}
  - name: info
    kind: command
    command: dbinfo
  - name: tell
    kind: message
    text: "{{{{ steps.word.output }}}} / {{{{ steps.info.output }}}}"
"""


def test_secrets_in_command_output_are_masked_in_workflow_runs(bot):
    app, chat, platform = bot
    _masking_commands(app)
    mallory = app.login("mallory")
    assert mallory.post("/workflows", {"yaml": WORKFLOW}).status_code == 201
    started = mallory.post("/workflows/leaky/runs", {"channel": "generic", "chat_id": "ops"})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert wait_until(lambda: mallory.get(f"/workflow-runs/{run_id}").json()["status"] in ("succeeded", "failed"), 20)
    run = mallory.get(f"/workflow-runs/{run_id}").json()
    assert run["status"] == "succeeded", run
    outputs = {s["name"]: s["output"] for s in run["steps"]}
    assert outputs["word"] == "***" and outputs["info"] == "host=db1 password=*** user=app", outputs
    with app.db.read() as conn:
        stored = "\n".join(str(tuple(r)) for r in conn.execute(sa.text("SELECT * FROM workflow_steps")))
    assert "password=***" in stored and _secrets_in(stored) == []
    assert wait_until(lambda: any(r["json"]["chat_id"] == "ops" for r in list(platform.received)), 10)
    assert _secrets_in(_outbox_text(app)) == []


def test_a_child_printing_smartbots_own_secret_values_has_them_masked(canary_dir):
    """Not HTTP: whatever a command prints (a file it could read, another process's environment),
    the values of SmartBot's own secrets are masked before anyone stores it."""
    from smartbot.executor.environment import own_variables
    from smartbot.executor.runner import CommandRunner, Limits

    source = {SIGNING_KEY_VAR: _signing_key(), HOOK_SECRET_VAR: GENERIC_SECRET, PLAIN_VAR: PLAIN_VALUE}
    settings = _settings(source)
    leaked = canary_dir / "leaked.txt"
    leaked.write_text(f"key={_signing_key()}\nhook {GENERIC_SECRET}\nregion {PLAIN_VALUE}\ntoken: abc123def\n")
    leaked.chmod(0o644)
    result = CommandRunner(Limits(), source).run(["cat", str(leaked)], 5, 10_000, own=own_variables(settings),
                                                  secrets=[])
    assert result.ok, result
    assert result.stdout.splitlines() == ["key=***", "hook ***", f"region {PLAIN_VALUE}", "token: ***"]


def test_check_config_names_the_stored_commands_that_are_refused(database_url):
    """Not HTTP: `smartbot check-config` says which stored commands will be refused, and why."""
    from smartbot.settings.checks import run_checks
    from smartbot.settings.loading import load
    from smartbot.storage.db import Database

    db = Database(database_url)
    try:
        db.upgrade()
        now = time.time()
        with db.write() as conn:
            conn.execute(sa.text("INSERT INTO commands (name, description, argv, params, permission, timeout, "
                                 "output_cap, workdir, env, needs_approval, enabled, source, created_at, updated_at) "
                                 "VALUES ('leak', '', '[\"printenv\"]', '[]', '', 10, 8000, '/', "
                                 "'[\"SMARTBOT_SECRET_KEY\"]', false, true, 'db', :now, :now)"), {"now": now})
    finally:
        db.dispose()
    lines: list[str] = []
    problems = run_checks(load({"database_url": database_url}, env={SIGNING_KEY_VAR: _signing_key()}), False,
                          lines.append)
    assert any(p.startswith("command leak is refused") and "SMARTBOT_SECRET_KEY belongs to SmartBot" in p
               for p in problems), lines
    assert not any("command disk" in line for line in lines)


# -- upgrades: a starter command rewritten before this release ------------------------------------
def test_a_starter_command_rewritten_before_the_upgrade_becomes_an_ordinary_command(database_url):
    """Not HTTP: the migration. A starter the operator (or an attacker) changed is no longer the
    shipped one: it becomes a `db` command its admins can fix or delete; untouched ones stay read-only."""
    from smartbot.storage.db import Database

    db = Database(database_url)
    try:
        db.upgrade("0007")
        with db.write() as conn:
            conn.execute(sa.text("UPDATE commands SET argv = :argv WHERE name = 'uptime'"),
                         {"argv": '["python3", "-c", "print(1)"]'})
        db.upgrade()
        with db.read() as conn:
            sources = dict(conn.execute(sa.text("SELECT name, source FROM commands")).all())
            argv = conn.execute(sa.text("SELECT argv FROM commands WHERE name = 'uptime'")).scalar()
    finally:
        db.dispose()
    assert sources["uptime"] == "db" and "python3" in str(argv)
    assert {n for n, s in sources.items() if s == "default"} == {
        "disk", "memory", "load", "top", "service_status", "service_restart", "tail", "ping", "http_check"}
