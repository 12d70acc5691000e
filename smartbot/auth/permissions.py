"""Every permission string SmartBot checks, declared once with what it allows.

Roles hold patterns over these (`command:*`, `*`); a check for a name that is not declared here is
a programming error and fails loudly rather than silently allowing or denying. Each admin area says
what its holder can and cannot do (shown by GET /api/v1/permissions).
"""
from __future__ import annotations

import re

# What each area of the admin page and API allows, and where it stops. Every area is bounded by
# delegation (auth/delegation.py): whoever holds `admin:<area>` can do <area>, never become more.
ADMIN_AREA_RIGHTS: dict[str, str] = {
    "users": "create, change, disable and delete users and bind chat identities to them; only with roles "
             "whose permissions it holds itself, and only for users (and identities bound to users) who hold "
             "nothing it lacks: it cannot make an admin, reset or disable the admin, or take over an identity",
    "roles": "create, change, copy and delete roles; only with permissions (in the chats) it holds itself, and "
             "only roles that give nothing it lacks: it cannot widen its own role or strip the admin role",
    "rules": "add, change and delete routing rules (which action answers which message); a rule never widens "
             "what a sender may do: commands and workflows are still checked against the sender's own rights",
    "providers": "add, change, test and switch model providers and model routes (where chat text is sent); "
                 "a provider's key comes only from a key variable (never one of SmartBot's own) and goes only to "
                 "the origin it was confirmed for; the test reflects no answer and follows no redirect",
    "usage": "read token and cost usage per user, provider and day",
    "commands": "define the catalogue of commands, i.e. what runs on this server (argv, parameters, "
                "environment, timeouts); never a shell, wrapper or interpreter, never a parameter as the program, "
                "never SmartBot's own variables, never the starter or file commands; running one still needs "
                "command:run:<name>",
    "approvals": "reserved for approval settings; deciding pending requests is approval:decide",
    "workflows": "define, change and start workflows and their schedules; a workflow may hold only commands "
                 "it may run itself, a run started from the API runs as the caller, and a schedule runs as its "
                 "creator or as a named owner whose every right it holds, who must hold workflow:run:<name>",
    "audit": "read, search, export and verify the audit log",
    "queues": "read the inbox and outbox queues (depth, age, rows), retry failed replies and drop failed entries",
    "conversations": "read conversations: what senders wrote and everything the bot sent back (answers, command output, notices)",
    "metrics": "read the operational summary (messages per minute, errors, latency)",
    "profiles": "add, change and delete per-chat profiles (persona, language, model route, knowledge spaces, tools "
                "on or off, quotas); tools on offers only the commands the sender may already run, quotas only "
                "lower the server's own, and choosing a model route also needs admin:providers",
    "mcp": "see the MCP servers (state, tools, last error), test their connection, and add, change and remove "
           "Streamable HTTP servers at hosts [mcp] client_hosts lists, with headers only from variables that are "
           "not SmartBot's own; never a stdio server (a program: smartbot.toml only), and calling a tool still "
           "needs mcp:<server>:<tool>",
    "knowledge": "add, change and remove knowledge spaces and their documents, fetch documents from hosts in "
                 "[knowledge] fetch_allow only, and test searches; what a space holds is shown to the model on "
                 "routes whose rule names it, never a way to run anything",
}

# The areas of the admin page and API; `admin:<area>` grants reading and changing that area.
ADMIN_AREAS: tuple[str, ...] = tuple(ADMIN_AREA_RIGHTS)

PERMISSIONS: dict[str, str] = {
    "chat": "talk to the model",
    "command:run:<name>": "run the catalogue command <name>",
    "workflow:run:<name>": "run the workflow <name>",
    "mcp:<server>:<tool>": "call the tool <tool> of the MCP server <server> (as a model tool or a workflow step)",
    "approval:decide": "approve or deny pending command requests",
    "handoff:answer": "be notified of conversations handed to a person, answer them and give them back to the bot",
    "admin:login": "log in to the admin page and API",
    **{f"admin:{area}": text for area, text in ADMIN_AREA_RIGHTS.items()},
    "admin:<area>": "change <area> in the admin page or API (see each admin:<area> above); no admin area lets "
                    "its holder grant, set or bind a permission it does not hold itself",
}

_DECLARED = [re.compile("^" + re.sub(r"<[a-z]+>", "[^:]+", re.escape(p).replace(r"\<", "<").replace(r"\>", ">"))
                        + "$") for p in PERMISSIONS]


def is_declared(permission: str) -> bool:
    return any(p.match(permission) for p in _DECLARED)


_PART = re.compile(r"^[A-Za-z0-9_\-.*]+$")


def valid_pattern(pattern: str) -> bool:
    """A pattern is valid when it could grant at least one declared permission."""
    if pattern == "*":
        return True
    parts = pattern.split(":")
    if not all(_PART.match(p) for p in parts):
        return False
    for declared in PERMISSIONS:
        shape = declared.split(":")
        if parts[-1] == "*" and len(parts) - 1 <= len(shape):
            head = parts[:-1]
        elif len(parts) == len(shape):
            head = parts
        else:
            continue
        if all(p == "*" or s.startswith("<") or p == s for p, s in zip(head, shape)):
            return True
    return False
