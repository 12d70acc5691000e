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
    "provider.down": "a model provider's circuit opened after repeated failures (calls skip it)",
    "provider.up": "a model provider answered again and its circuit closed",
    "provider.created": "a model provider was added in the admin API (before/after)",
    "provider.updated": "a model provider was changed in the admin API (before/after)",
    "provider.deleted": "a model provider was removed in the admin API (before/after)",
    "models.switched": "the default provider and fallback chain were changed (before/after)",
    "model_route.created": "a model route was added in the admin API (before/after)",
    "model_route.updated": "a model route was changed in the admin API (before/after)",
    "model_route.deleted": "a model route was removed in the admin API (before/after)",
    "model.quota_exceeded": "a user at their daily token quota was answered without a model call",
}


def is_known(action: str) -> bool:
    return action in EVENTS
