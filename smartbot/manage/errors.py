"""What a management call can refuse; the API and the page turn these into 403 / 404 / 409 / 422."""
from __future__ import annotations


class ManageError(Exception):
    status = 400

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


class Forbidden(ManageError):
    """The caller may not do this (beyond the permission the face already checked)."""

    status = 403


class NotFound(ManageError):
    status = 404


class Conflict(ManageError):
    status = 409


class Invalid(ManageError):
    status = 422


def with_status(status: int, reason: str, field: str | None = None) -> ManageError:
    """The refusal for a status another layer decided (a workflow run that could not start)."""
    for kind in (Forbidden, NotFound, Conflict, Invalid):
        if kind.status == status:
            return kind(reason, field)
    refusal = ManageError(reason, field)
    refusal.status = status
    return refusal
