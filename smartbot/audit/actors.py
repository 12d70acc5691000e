"""How the audit log names who did something, so that one person has one name in it.

What new rows say:
- `admin:<user name>`: a SmartBot user acting outside a chat: the admin page, the admin API, a
  login (refused ones name the user name tried), a decision on the page, a schedule's owner.
  (Most rows written before this module already said so; hence the prefix, for every user.)
- `<channel>:<platform user id>`: a chat sender, bound to a user or not: the identity says more
  than the user, and the admin page shows the user it is bound to.
- `system`, `schedule:<id>`, `cli` (the command line: `smartbot create-admin`), and a client
  address for refusals made before anyone is known.

Older rows also say `user:<name>` and a bare `<name>` (logins); the admin page reads them all as
the same person (manage/names.py). Rows are never rewritten: that would break the hash chain.
"""
from __future__ import annotations

USER_PREFIX = "admin:"
LEGACY_USER_PREFIX = "user:"
SYSTEM = "system"
COMMAND_LINE = "cli"


def of_user(name: str) -> str:
    """A SmartBot user acting outside a chat."""
    return USER_PREFIX + name


def of_caller(identity: str, name: str) -> str:
    """Whoever asked: their chat identity when they asked from a chat, else them as a user."""
    return identity or of_user(name)
