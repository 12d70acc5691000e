"""Password hashing (Werkzeug's scrypt) and the minimum a password must meet.

Checking a password always costs one hash, whether or not there is a stored hash to check it
against: a login for an unknown name must take as long as a wrong password for a real one, or the
time tells which names exist. Never logs or returns a password.
"""
from __future__ import annotations

import functools
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from ..i18n.reasons import reason

MIN_LENGTH = 10
METHOD = "scrypt"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=METHOD)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password nobody knows, made with today's method and cost (made once per
    process, on the first login that needs it)."""
    return hash_password(secrets.token_urlsafe(24))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no stored hash, False after the same work as a check."""
    if not stored_hash:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(stored_hash, password)


def weakness(password: str, name: str = "") -> str:
    """Why a password is too weak, or '' when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return reason("reason.password.short", n=MIN_LENGTH)
    if name and password.lower() == name.lower():
        return reason("reason.password.is_name")
    if len(set(password)) < 4:
        return reason("reason.password.variety")
    return ""
