"""Commands from chat, end to end through the signed generic webhook: who may run what, hostile
arguments, and commands that misbehave. Each refusal gets a clear reply and an audit entry, and
the server keeps answering other people while a command runs."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from tests.support.executor import Chat, add_command, add_role, audit_rows, bind, details, script


@pytest.fixture
def log_dir():
    """A log folder the unprivileged command user can read (pytest's tmp_path is private to root)."""
    path = tempfile.mkdtemp(prefix="smartbot-logs-")
    os.chmod(path, 0o755)
    with open(os.path.join(path, "app.log"), "w") as fh:
        fh.write("".join(f"line {i}\n" for i in range(1, 101)))
    os.chmod(os.path.join(path, "app.log"), 0o644)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def ops(live_app, make_config, fake_platform, log_dir):
    config = make_config(executor={"allowed_hosts": ["127.0.0.1"], "log_files": [os.path.join(log_dir, "app.log")],
                                   "services": ["worker"]})
    app = live_app(config)
    db = app.runtime.db
    bind(db, "op", "olga", ["operator"])
    bind(db, "usr", "uma", ["user"])
    return app, Chat(app, fake_platform)


def test_operator_runs_a_starter_command_and_the_run_is_audited(ops):
    app, chat = ops
    reply = chat.say("/load", user="op")
    assert reply.startswith("load: exit 0 in ") and len(reply.splitlines()[1].split()) == 5
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["argv"] == ["cat", "/proc/loadavg"] and ran["exit_code"] == 0
    assert ran["output_bytes"] > 0 and ran["duration"] >= 0 and ran["truncated"] is False
    assert audit_rows(app.runtime.db, "command.requested")[-1].actor == "generic:op"


def test_run_form_and_named_arguments(ops, log_dir):
    app, chat = ops
    reply = chat.say(f"/run tail lines=3 {log_dir}/app.log", user="op")
    assert reply.splitlines()[1:] == ["line 98", "line 99", "line 100"]
    assert "line 100" in chat.say(f"/tail {log_dir}/app.log", user="op")     # the default: 50 lines


def test_guest_cannot_run_commands(ops):
    app, chat = ops
    reply = chat.say("/disk", user="stranger")
    assert "not allowed" in reply and "guest" in reply and "command:run:disk" in reply
    denied = audit_rows(app.runtime.db, "command.denied")
    assert len(denied) == 1 and "guest lacks" in details(denied[0])["reason"]
    assert audit_rows(app.runtime.db, "command.ran") == []
    assert "may not run any commands" in chat.say("/commands", user="stranger")


def test_the_user_role_runs_only_its_read_only_commands(ops):
    app, chat = ops
    assert chat.say("/uptime", user="usr").startswith("uptime: exit 0")
    assert "lacks 'command:run:top'" in chat.say("/top", user="usr")
    listed = chat.say("/commands", user="usr")
    assert "/uptime" in listed and "/top" not in listed and "/service_restart" not in listed


def test_a_role_scoped_to_a_chat_applies_only_there(ops):
    app, chat = ops
    add_role(app.runtime.db, "room-ops", ["chat", "command:run:disk"], chat_scope=["generic:ops-room"])
    bind(app.runtime.db, "rita", "rita", ["room-ops"])
    assert chat.say("/disk", user="rita", chat="ops-room").startswith("disk: exit 0")
    assert "only in other chats" in chat.say("/disk", user="rita", chat="elsewhere")


@pytest.mark.parametrize("text,words", [
    ("/ping 127.0.0.1;id", "must be one of: 127.0.0.1"),
    ("/ping '127.0.0.1 && reboot'", "must be one of"),
    ("/ping $(id)", "must be one of"),
    ("/ping `id`", "must be one of"),
    ("/ping -f", "must be one of"),
    ("/ping -- -f", "too many arguments"),
    ("/ping 127.0.0.1\n/run service_restart worker", "too many arguments"),
    ("/ping '127.0.0.1\n'", "control character"),
    ("/ping 127.0.0.1\u202e", "control character"),
    ("/ping １２７.0.0.1", "must be one of"),
    ("/tail 10 ../../../etc/passwd", "'..' is not allowed"),
    ("/tail 10 /etc/passwd", "not under an allowed path"),
    ("/tail -n 10", "must be a whole number"),
    ("/tail 10 /etc/shadow", "not under an allowed path"),
    ("/tail 99999 x", "from 1 to 500"),
    ("/run ping " + "A" * 5000, "longer than 256"),
    ("/service_restart 'worker; reboot'", "must be one of: worker"),
])
def test_hostile_arguments_are_refused_with_a_reason_and_audited(ops, text, words):
    app, chat = ops
    reply = chat.say(text, user="op")
    assert reply.startswith("Cannot run ") and words in reply
    rejected = audit_rows(app.runtime.db, "command.rejected")
    assert len(rejected) == 1 and details(rejected[0])["reason"]
    assert audit_rows(app.runtime.db, "command.ran") == []


def test_shell_syntax_in_a_permissive_parameter_is_only_data(ops):
    app, chat = ops
    add_command(app.runtime.db, "echo_args", [script("import sys; print(repr(sys.argv[1:]))"), "{text}"],
                [{"name": "text", "type": "regex", "pattern": "[ -~]{1,200}"}])
    reply = chat.say("/echo_args '; rm -rf / #$(id) `id` | cat /etc/shadow > /tmp/x'", user="op")
    assert reply.splitlines()[1] == repr(["; rm -rf / #$(id) `id` | cat /etc/shadow > /tmp/x"])
    assert not os.path.exists("/tmp/x") or os.path.getmtime("/tmp/x") < time.time() - 60


def test_unknown_commands_and_bad_syntax_get_clear_replies(ops):
    app, chat = ops
    assert "There is no command /nope" in chat.say("/nope", user="op")
    assert "Usage: /run <command>" in chat.say("/run", user="op")
    assert "closing quotation" in chat.say("/ping '127.0.0.1", user="op")
    assert len(audit_rows(app.runtime.db, "command.rejected")) == 2


def test_allow_lists_are_empty_by_default(live_app, make_config, fake_platform):
    app = live_app(make_config())
    bind(app.runtime.db, "op", "olga", ["operator"])
    chat = Chat(app, fake_platform)
    assert "none are allowed on this server" in chat.say("/ping 127.0.0.1", user="op")
    assert "no paths are allowed" in chat.say("/tail 10 /var/log/syslog", user="op")
    assert "none are allowed" in chat.say("/service_restart worker", user="op")


def test_a_command_that_runs_forever_is_stopped_and_others_are_answered_meanwhile(ops):
    app, chat = ops
    add_command(app.runtime.db, "forever", ["sleep", "600"], timeout=3.0)
    started = time.monotonic()
    slow = chat.send("/forever", user="op", chat="c-slow")
    quick = chat.say("/whoami", user="usr", chat="c-quick")
    assert quick == "uma (user)" and time.monotonic() - started < 2.5
    assert chat.platform.replies_to(slow) == [], "the long command should still be running"
    reply = chat.reply_to(slow)
    assert "stopped after 3" in reply and "took too long" in reply
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["stopped"] == "timeout" and ran["exit_code"] == -9


def test_a_command_printing_gigabytes_is_cut_and_stopped(ops):
    app, chat = ops
    add_command(app.runtime.db, "flood", ["yes", "spam"], output_cap=2000, timeout=30.0)
    reply = chat.say("/flood", user="op")
    assert "output cut at 2000 bytes" in reply and reply.count("spam") <= 1000
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["truncated"] is True and ran["stopped"] == "output_limit"
    assert chat.say("/whoami", user="usr") == "uma (user)"


def test_a_fork_bomb_is_contained_and_the_server_keeps_answering(ops):
    app, chat = ops
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    add_command(app.runtime.db, "bomb", [script(bomb)], timeout=2.0)
    slow = chat.send("/bomb", user="op", chat="c-bomb")
    assert chat.say("/whoami", user="usr", chat="c-other") == "uma (user)"
    assert "took too long" in chat.reply_to(slow)
    assert details(audit_rows(app.runtime.db, "command.ran")[-1])["stopped"] == "timeout"


def test_http_check_and_ping_reach_an_allowed_loopback_host(live_app, make_config, fake_platform):
    app = live_app(make_config())
    port = app.url.rsplit(":", 1)[1]
    app.runtime.settings.executor.allowed_hosts = ["127.0.0.1", f"127.0.0.1:{port}"]
    bind(app.runtime.db, "op", "olga", ["operator"])
    chat = Chat(app, fake_platform)
    reply = chat.say(f"/http_check 127.0.0.1:{port}", user="op")
    # the front door answers / with a redirect to /chat
    assert reply.startswith("http_check: exit 0") and reply.splitlines()[1].split()[0] == "302"
    if shutil.which("ping"):
        assert "3 received" in chat.say("/ping 127.0.0.1", user="op")
