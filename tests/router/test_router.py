"""The rule engine: conditions, order, commands, and run-time changes without a restart."""
from __future__ import annotations

import sqlalchemy as sa

from smartbot.auth.rbac import Grant, Principal
from smartbot.router.store import RULES_VERSION, load_rules
from smartbot.storage.runtime_settings import bump, version_reader
from smartbot.messages import InboundMessage
from smartbot.storage.tables import Rule
from smartbot.router import Router, RuleView, parse_command
from smartbot.router.engine import matches, validate_rule

GUEST = Principal(name="bob", roles=("guest",), grants=(Grant("chat", "guest"),))


def _msg(text: str, **kw) -> InboundMessage:
    return InboundMessage(channel=kw.pop("channel", "generic"), event_id="e", chat_id=kw.pop("chat_id", "c1"),
                          user_id="u", text=text, **kw)


def test_parse_command():
    assert parse_command("/help") .name == "help"
    cmd = parse_command("/run@SmartBot disk /var")
    assert (cmd.name, cmd.args, cmd.addressed_to) == ("run", "disk /var", "SmartBot")
    assert parse_command("hello /help") is None
    assert parse_command("/") is None


def test_each_condition():
    def rule(**match):
        return RuleView.build("r", 1, match, "chat", {})

    assert matches(rule(channel=["slack", "generic"]), _msg("x"), GUEST, None)
    assert not matches(rule(channel="slack"), _msg("x"), GUEST, None)
    assert matches(rule(chat_type="group", mentioned=True), _msg("x", chat_type="group", mentioned=True), GUEST, None)
    assert not matches(rule(mentioned=True), _msg("x"), GUEST, None)
    assert matches(rule(role="guest"), _msg("x"), GUEST, None)
    assert not matches(rule(role=["admin", "operator"]), _msg("x"), GUEST, None)
    assert matches(rule(regex=r"disk\s+usage"), _msg("show DISK  usage"), GUEST, None)
    assert matches(rule(keywords=["restart", "reboot"]), _msg("please Reboot it"), GUEST, None)
    assert not matches(rule(keywords=["restart"]), _msg("hello"), GUEST, None)
    assert matches(rule(prefix="!ops"), _msg("!ops status"), GUEST, None)
    assert not matches(rule(max_length=3), _msg("long text"), GUEST, None)
    assert matches(rule(command="help"), _msg("/help"), GUEST, parse_command("/help"))


def test_invalid_rules_are_explained():
    assert "unknown match key 'chanel'" in validate_rule({"chanel": "x"}, "chat")
    assert any("regex" in p for p in validate_rule({"regex": "("}, "chat"))
    assert any("action" in p for p in validate_rule({}, "launch"))


def test_default_rules_route_builtins_and_chat(db):
    router = Router(lambda: load_rules(db), version_reader(db, RULES_VERSION))
    assert router.route(_msg("/whoami"), GUEST).action == "builtin"
    assert router.route(_msg("what is the load?"), GUEST).action == "chat"
    assert router.route(_msg("chatter", chat_type="group", mentioned=False), GUEST).action == "ignore"
    assert router.route(_msg("/help", chat_type="group", mentioned=False), GUEST).action == "builtin"


def test_rule_change_applies_without_restart(db):
    router = Router(lambda: load_rules(db), version_reader(db, RULES_VERSION), check_every=0)
    assert router.route(_msg("faq: opening hours"), GUEST).rule == "chat"
    with db.write() as conn:
        conn.execute(sa.insert(Rule.__table__).values(name="faq", position=50, enabled=True, match={"prefix": "faq:"},
                                                      action="chat", params={}, source="db", created_at=0, updated_at=0))
        bump(conn, db, RULES_VERSION)
    assert router.route(_msg("faq: opening hours"), GUEST).rule == "faq"
