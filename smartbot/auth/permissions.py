"""Every permission string SmartBot checks, declared once with what it allows.

Roles hold patterns over these (`command:*`, `*`); a check for a name that is not declared here is
a programming error and fails loudly rather than silently allowing or denying.
"""
from __future__ import annotations

import re

PERMISSIONS: dict[str, str] = {
    "chat": "talk to the model",
    "command:run:<name>": "run the catalogue command <name>",
    "workflow:run:<name>": "run the workflow <name>",
    "approval:decide": "approve or deny pending command requests",
    "admin:login": "log in to the admin page and API",
    "admin:<area>": "change <area> in the admin page or API (users, roles, rules, providers, commands, ...)",
}

# The areas of the admin page and API; `admin:<area>` grants reading and changing that area.
ADMIN_AREAS: tuple[str, ...] = ("users", "roles", "rules", "providers", "usage", "commands", "approvals", "workflows",
                                "audit", "queues", "conversations", "metrics")

_DECLARED = [re.compile("^" + re.sub(r"<[a-z]+>", "[^:]+", re.escape(p).replace(r"\<", "<").replace(r"\>", ">"))
                        + "$") for p in PERMISSIONS]


def is_declared(permission: str) -> bool:
    return any(p.match(permission) for p in _DECLARED)
