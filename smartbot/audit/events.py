"""Every audit event name, registered once with what it records. `record()` refuses other names."""
from __future__ import annotations

EVENTS: dict[str, str] = {
    "webhook.refused": "an inbound request failed verification or validation (rate-limited per source)",
    "connection.refused": "a frame or update arriving on a channel's connection was forged or malformed and "
                          "dropped; the connection was kept (rate-limited per reason)",
    "metrics.refused": "/metrics was refused (wrong token, or no token from an address not allowed), or /readyz "
                       "got a wrong token (rate-limited per source)",
    "message.handled": "a message was routed and answered (action, rule, provider, result)",
    "message.failed": "a message could not be handled after its retries; the user was told",
    "message.denied": "a sender or an action was refused by the permission check",
    "model.error": "a model call failed (timeout, bad answer, unavailable)",
    "media.refused": "a file a user sent was not used: too large, not what its type says, or not to be had from "
                     "the platform (kind, name, code, reason)",
    "media.transcribed": "a voice note was transcribed and handled as the user's text (provider, model, size)",
    "reply.failed": "a reply could not be delivered after its retries",
    "queue.retried": "an admin queued a failed reply again (queue, channel, chat, its attempts and last error)",
    "queue.dropped": "an admin deleted a failed inbox or outbox entry (queue, channel, chat, attempts, last error)",
    "conversation.reset": "a user cleared their conversation memory",
    "admin.created": "an admin account was created from the command line",
    "admin.login": "an admin logged in (or failed to)",
    "admin.logout": "an admin logged out (every token of that session is revoked)",
    "api.denied": "an API call was refused by the permission check",
    "api.unauthorized": "an API or admin page request had no valid token: missing, forged, expired, logged out "
                        "or older than its account's last change (rate-limited per address and reason)",
    "delegation.denied": "a change was refused because it would grant, or touch, rights the caller does not hold "
                         "(caller, target, the permission lacked)",
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
    "command.definition_refused": "a catalogue definition was refused for safety: a wrapper, interpreter or "
                                  "placeholder as the program, or one of SmartBot's own variables in env (field, reason)",
    "profile.created": "a per-chat profile was added (before/after)",
    "profile.updated": "a per-chat profile was changed (before/after)",
    "profile.deleted": "a per-chat profile was removed (before/after)",
    "handoff.requested": "a conversation was handed to a person (/human, a rule, no answer); the agents were notified",
    "handoff.replied": "an agent answered a handed-off conversation (from the admin page, the API or their chat)",
    "handoff.released": "an agent gave a handed-off conversation back to the bot",
    "handoff.expired": "a handed-off conversation went back to the bot after [handoff] timeout_minutes of quiet",
    "handoff.refused": "someone without handoff:answer (or about an unknown or closed hand-off) tried to answer "
                       "or release one",
    "mcp.called": "an MCP tool was called: server, tool, arguments (secrets masked), result size, duration, "
                  "whether the tool reported an error",
    "mcp.denied": "an MCP tool call was refused: a tool outside the server's allow-list, or the caller lacks "
                  "mcp:<server>:<tool> (nothing was sent to the server)",
    "mcp.rejected": "an MCP tool call was refused before sending: unknown server or tool, or arguments that do "
                    "not fit the tool's input schema",
    "mcp.approval_requested": "an MCP tool that needs approval was asked for; the approvers were notified",
    "mcp.tested": "an admin tested an MCP server's connection (the error, if any, and how many tools it lists)",
    "mcp.failed": "an MCP tool call failed: timeout, the server unreachable or gone, or a protocol error",
    "mcp.server_created": "an MCP server was added through the admin page or API (before/after)",
    "mcp.server_updated": "an MCP server added through the admin page or API was changed (before/after)",
    "mcp.server_deleted": "an MCP server added through the admin page or API was removed (before/after)",
    "mcp.definition_refused": "an MCP server definition was refused for safety: a stdio server (file only), a "
                              "host outside [mcp] client_hosts, or a variable SmartBot or another server owns",
    "approval.requested": "a command that needs approval was asked for; the approvers were notified",
    "approval.approved": "an approver approved a pending request",
    "approval.denied": "an approver denied a pending request",
    "approval.expired": "a pending request expired without a decision",
    "approval.refused": "someone without the right (or the requester) tried to decide a request",
    "approval.press_refused": "an approval button press was refused: forged or mismatched data, or too late",
    "provider.down": "a model provider's circuit opened after repeated failures (calls skip it)",
    "provider.up": "a model provider answered again and its circuit closed",
    "provider.created": "a model provider was added in the admin API (before/after)",
    "provider.updated": "a model provider was changed in the admin API (before/after)",
    "provider.deleted": "a model provider was removed in the admin API (before/after)",
    "provider.refused": "a provider change was refused: a key variable not its own, or an unsafe base_url",
    "provider.key_confirmed": "a provider's key was confirmed for a new origin (scheme://host:port) of its base_url",
    "provider.tested": "a provider was tested from the admin API or page (rate-limited per caller, provider, result)",
    "models.switched": "the default provider and fallback chain were changed (before/after)",
    "model_route.created": "a model route was added in the admin API (before/after)",
    "model_route.updated": "a model route was changed in the admin API (before/after)",
    "model_route.deleted": "a model route was removed in the admin API (before/after)",
    "model.rate_limited": "a user sent more chat messages a minute than their limit (first one per minute)",
    "model.quota_exceeded": "a user at their daily token quota was answered without a model call",
    "webchat.refused": "a web chat message was over a guest limit (per chat, per address or all guests; "
                       "first one per address and minute)",
    "alert.raised": "a monitor found a problem; the admins' chats were sent one alert (once per cluster)",
    "knowledge.space_created": "a knowledge space was added (before/after)",
    "knowledge.space_updated": "a knowledge space's description or threshold was changed (before/after)",
    "knowledge.space_deleted": "a knowledge space was removed with its documents (before/after)",
    "knowledge.document_added": "a document was added to a knowledge space, or replaced one of its title (before/after)",
    "knowledge.document_removed": "a document was removed from a knowledge space (before/after)",
    "knowledge.fetch_refused": "a document URL was refused for where it points (a host not in fetch_allow)",
    "knowledge.unanswered": "a question on a knowledge route found nothing relevant; the bot said it does not know",
    "workflow.created": "a workflow was added through the API or admin page (before/after)",
    "workflow.updated": "a workflow's YAML or enabled flag was changed (before/after)",
    "workflow.deleted": "a workflow was removed (before/after)",
    "workflow.imported": "a workflow was created or replaced from an imported YAML document (before/after)",
    "workflow.denied": "starting a workflow was refused by the permission check (with the reason)",
    "workflow_run.started": "a workflow run was started from chat, the API or a schedule",
    "workflow_run.finished": "a workflow run ended: succeeded, failed (with the reason) or stopped",
    "schedule.created": "a workflow schedule was added (before/after)",
    "schedule.updated": "a workflow schedule was changed (before/after)",
    "schedule.deleted": "a workflow schedule was removed (before/after)",
    "alert.resolved": "a problem an alert was raised for is over; the admins' chats were told",
    "api_token.created": "a personal API token was made (whose, its name and expiry; never the token)",
    "api_token.revoked": "a personal API token was revoked (whose, its name)",
    "mcp.unauthorized": "a request to SmartBot's /mcp was refused before anyone was known: no, malformed, unknown, "
                        "revoked or expired token, a disabled or changed account, or a foreign Origin "
                        "(rate-limited per address and reason)",
    "mcp.served_call": "a tool call to SmartBot's /mcp was served (tool, status), the token's user as the actor",
    "mcp.served_denied": "a tool call to SmartBot's /mcp was refused: not a tool this user may use, or its "
                         "arguments were refused (tool, reason)",
    "audit.key_rotated": "the audit chain moved to another key (its id and the previous one's, never a key); "
                         "rows before the first one are legacy (plain SHA-256)",
}

# Every result a row records, with what it means (the admin page filters on them).
RESULTS: dict[str, str] = {
    "ok": "done as asked",
    "denied": "refused by a permission or delegation check",
    "refused": "refused before anyone's rights were looked at: a bad signature or token, a wrong password, "
               "a guest limit, an unsafe provider setting",
    "error": "went wrong: a model call, a command, a delivery, a message that could not be handled",
    "failed": "tried and did not work: a provider test, a workflow run",
    "pending": "asked for and waiting for an approver",
    "approved": "an approver said yes",
    "expired": "nobody decided an approval in time",
    "stopped": "a workflow run was stopped",
    "ignored": "a rule chose not to answer a message",
    "unconfigured": "no model provider could answer",
    "quota": "a user's daily token quota was used up",
    "rate_limited": "a user sent more chat messages a minute than allowed",
    "waiting": "a conversation waits for a person (handed off); the bot stays quiet in it",
    "held": "a message came into a conversation a person holds: stored and passed to the agents, no model call",
    "media_refused": "a file sent in chat was not read: too large, not what it claimed to be, or not obtainable",
    "unanswered": "nothing in the knowledge spaces answered the question; the bot said it does not know",
    "firing": "an alert was raised",
    "resolved": "a problem an alert was raised for is over",
}


def is_known(action: str) -> bool:
    return action in EVENTS
