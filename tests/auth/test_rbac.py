"""Permission patterns, scoped grants, and the deny-by-default check."""
from __future__ import annotations

import pytest

from smartbot.auth.rbac import Grant, Principal, check, pattern_matches, require
from smartbot.errors import PermissionDenied


@pytest.mark.parametrize("pattern,permission,expected", [
    ("*", "command:run:disk", True),
    ("chat", "chat", True),
    ("chat", "chatty", False),
    ("command:*", "command:run:disk", True),
    ("command:run:*", "command:run:disk", True),
    ("command:run:*", "command:run", False),
    ("command:run:disk", "command:run:disk", True),
    ("command:run:disk", "command:run:restart", False),
    ("command:*:disk", "command:run:disk", True),
    ("admin:*", "command:run:disk", False),
    ("workflow:run:deploy", "workflow:run:deploy:now", False),
])
def test_pattern_matching(pattern, permission, expected):
    assert pattern_matches(pattern, permission) is expected


def _who(*grants: Grant) -> Principal:
    return Principal(name="alice", roles=tuple(sorted({g.role for g in grants})), grants=grants)


def test_no_grant_means_denied_with_a_reason():
    decision = check(_who(Grant("chat", "guest")), "command:run:disk")
    assert not decision.allowed
    assert "guest" in decision.reason and "command:run:disk" in decision.reason


def test_grant_explains_itself():
    decision = check(_who(Grant("command:*", "operator")), "command:run:disk")
    assert decision.allowed and "operator" in decision.reason


def test_scoped_grant_applies_only_in_its_chats():
    who = _who(Grant("command:*", "ops-room", chat_scope=("slack:C1",)))
    assert check(who, "command:run:disk", "slack:C1").allowed
    denied = check(who, "command:run:disk", "slack:C2")
    assert not denied.allowed and "other chats" in denied.reason


def test_require_raises_with_the_reason():
    with pytest.raises(PermissionDenied) as err:
        require(_who(Grant("chat", "guest")), "approval:decide")
    assert "guest" in err.value.reason


def test_undeclared_permissions_are_a_programming_error():
    with pytest.raises(ValueError, match="not declared"):
        check(_who(Grant("*", "admin")), "launch:rockets")
