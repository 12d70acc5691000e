"""The exceptions SmartBot's layers raise to each other.

Each failure a caller may want to handle differently has its own class; blueprints turn them into
a status code and a reason, so no library exception ever reaches a user as a traceback.

    SmartBotError
     +-- ConfigError            a setting is missing or wrong (names the key and the fix)
     +-- StartupError           the environment is not ready (database schema, secret key)
     +-- RequestRefused         an inbound request is refused; carries the HTTP status
     |    +-- SignatureError        authenticity failed (401)
     |    +-- PayloadError          the body is malformed or incomplete (400)
     |    +-- ChannelNotConfigured  no such channel, or not configured here (404)
     |    +-- StorageUnavailable    the database cannot take it now: disk full, locked (503)
     +-- DeliveryError          a reply could not be delivered (retryable or not)
     +-- ProviderError          a model call failed (retryable or not)
     +-- MediaRefused           a file a user sent was not used (too large, mislabelled, unavailable)
     +-- PermissionDenied       RBAC said no (with the reason)
     +-- CommandRejected        a command request failed validation
"""
from __future__ import annotations


class SmartBotError(Exception):
    """Base of every error SmartBot raises on purpose."""


class ConfigError(SmartBotError):
    """A configuration value is missing or invalid; the message names the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str = "") -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        text = f"config key '{key}': {problem}"
        if fix:
            text += f" -- {fix}"
        super().__init__(text)


class StartupError(SmartBotError):
    """The process cannot start serving (e.g. the database schema is behind the code)."""


class RequestRefused(SmartBotError):
    """An inbound request is refused before anything is stored; `reason` is safe to show."""

    status = 400
    metric_reason = "refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SignatureError(RequestRefused):
    """The request's signature, token or timestamp did not verify."""

    status = 401
    metric_reason = "signature"


class PayloadError(RequestRefused):
    """The request body is malformed, too large, or lacks a required field."""

    status = 400
    metric_reason = "payload"

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


class ChannelNotConfigured(RequestRefused):
    """The channel does not exist or has no configuration on this server."""

    status = 404
    metric_reason = "unknown_channel"


class StorageUnavailable(RequestRefused):
    """The database could not store the message (disk full, locked too long, unreachable). Nothing
    was stored; the platform should deliver it again later, which a 503 with Retry-After asks for."""

    status = 503
    metric_reason = "storage"
    retry_after = 5


class DeliveryError(SmartBotError):
    """Sending a reply failed. `retryable` says whether trying again can help."""

    def __init__(self, reason: str, retryable: bool = True, retry_after: float | None = None) -> None:
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(reason)


class ProviderError(SmartBotError):
    """A model provider call failed. `kind` is timeout | rate_limited | server | client | auth | malformed |
    unavailable | key_withheld (the key's rules stopped the call before anything was sent)."""

    def __init__(self, reason: str, kind: str, retryable: bool, retry_after: float | None = None,
                 provider: str = "") -> None:
        self.reason = reason
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.provider = provider
        super().__init__(f"{provider or 'provider'}: {reason}")


class MediaRefused(SmartBotError):
    """A file a user sent was not used. `code` says why, for the user and the audit log: too_large,
    mislabelled (its bytes are not what it claims), unavailable (the platform would not give it),
    not_supported (this channel cannot fetch files)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class PermissionDenied(SmartBotError):
    """An action was refused by the permission check; `reason` is recorded in the audit log."""

    def __init__(self, permission: str, reason: str) -> None:
        self.permission = permission
        self.reason = reason
        super().__init__(f"{permission}: {reason}")


class CommandRejected(SmartBotError):
    """A command request failed validation before anything ran."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
