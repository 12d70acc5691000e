"""Users, their platform identities, and roles (permission strings as data)."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, ForeignKey, Integer, String, UniqueConstraint

from .base import Base, Mapped, mapped_column, now


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # In every token's claims; raised when the password, roles or active flag change, which
    # refuses every token issued before (see auth/tokens.py).
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locale: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    permissions: Mapped[list] = mapped_column(JSON, default=list)
    chat_scope: Mapped[list | None] = mapped_column(JSON, nullable=True)
    is_template: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class UserRole(Base):
    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class Identity(Base):
    """A sender on one platform; bound to a user by an admin, or unbound (default role)."""
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "platform_user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    platform_user_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Double, default=now)


class RevokedToken(Base):
    """Sessions (`session:<sid>`, every token of one login) ended by logout, and JWTs revoked
    before sessions existed; kept until they would have expired anyway."""
    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Double)


class LoginFailure(Base):
    """Failed logins counted per address and per name at an address (`key`), shared by every
    process and node; `locked_until` is when the key may try again (see auth/login_guard.py)."""
    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[float] = mapped_column(Double, index=True)
    locked_until: Mapped[float] = mapped_column(Double, default=0.0)
