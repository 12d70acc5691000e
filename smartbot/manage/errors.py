"""What a management call can refuse; the API and the page turn these into 404 / 409 / 422."""
from __future__ import annotations


class ManageError(Exception):
    status = 400

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


class NotFound(ManageError):
    status = 404


class Conflict(ManageError):
    status = 409


class Invalid(ManageError):
    status = 422
