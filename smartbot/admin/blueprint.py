"""/admin: the server-rendered admin page. Each module adds its pages to the one blueprint."""
from __future__ import annotations

from . import operations, people, records, rules, session, workflows  # noqa: F401 - importing registers the pages
from .base import bp

__all__ = ["bp"]
