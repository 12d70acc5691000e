"""/admin: the server-rendered admin page. Each module adds its pages to the one blueprint."""
from __future__ import annotations

# Importing a module registers its pages.
from . import dashboard, glance, model_routes, operations, people, queues, records, rules, session  # noqa: F401
from . import figures, mcp_servers, tokens, usage, workflows  # noqa: F401
from . import knowledge, profiles  # noqa: F401
from .base import bp

__all__ = ["bp"]
