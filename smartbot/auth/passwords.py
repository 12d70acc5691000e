"""Password hashing (Werkzeug's scrypt) and the minimum a password must meet."""
from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        return False
    return check_password_hash(stored_hash, password)


def weakness(password: str, name: str = "") -> str:
    """Why a password is too weak, or '' when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"use at least {MIN_LENGTH} characters"
    if name and password.lower() == name.lower():
        return "the password must not be the user name"
    if len(set(password)) < 4:
        return "use more different characters"
    return ""
