"""Every audit event name, registered once with what it records. `record()` refuses other names."""
from __future__ import annotations

EVENTS: dict[str, str] = {
    "webhook.refused": "an inbound request failed verification or validation (rate-limited per source)",
    "message.handled": "a message was routed and answered (action, rule, provider, result)",
    "message.failed": "a message could not be handled after its retries; the user was told",
    "message.denied": "a sender or an action was refused by the permission check",
    "model.error": "a model call failed (timeout, bad answer, unavailable)",
    "reply.failed": "a reply could not be delivered after its retries",
    "conversation.reset": "a user cleared their conversation memory",
    "admin.created": "an admin account was created from the command line",
    "admin.login": "an admin logged in (or failed to)",
    "admin.logout": "an admin logged out (their tokens are revoked)",
    "api.denied": "an API call was refused by the permission check",
    "user.create": "an admin created a user",
    "user.update": "an admin changed a user (roles, password, active flag)",
    "user.delete": "an admin deleted a user",
    "identity.bind": "a platform identity was bound to a user (or unbound)",
    "identity.delete": "a platform identity was removed",
    "role.create": "a role was created or copied",
    "role.update": "a role's permissions, scope or description changed",
    "role.delete": "a role was deleted",
    "rule.create": "a routing rule was created",
    "rule.update": "a routing rule was changed",
    "rule.delete": "a routing rule was deleted",
    "config.provisioned": "settings from smartbot.toml were written to the database at start",
    "command.requested": "a user (or the model for them) asked to run a catalogue command with checked arguments",
    "command.rejected": "a command request was refused: no such command, or its arguments failed their checks",
    "command.denied": "a command request was refused by the permission check (with the reason)",
    "command.ran": "a command ran: argv (secrets masked), exit code, duration, output size, why it stopped",
    "command.created": "a catalogue command was added through the API (before/after)",
    "command.updated": "a catalogue command was changed through the API (before/after)",
    "command.deleted": "a catalogue command was removed through the API (before/after)",
    "approval.requested": "a command that needs approval was asked for; the approvers were notified",
    "approval.approved": "an approver approved a pending request",
    "approval.denied": "an approver denied a pending request",
    "approval.expired": "a pending request expired without a decision",
    "approval.refused": "someone without the right (or the requester) tried to decide a request",
}


def is_known(action: str) -> bool:
    return action in EVENTS
