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
    "alert.raised": "a monitor found a problem; the admins' chats were sent one alert (once per cluster)",
    "alert.resolved": "a problem an alert was raised for is over; the admins' chats were told",
}


def is_known(action: str) -> bool:
    return action in EVENTS
