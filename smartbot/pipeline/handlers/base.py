"""What handlers get to work with: plain services, never Flask or a platform's payload."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...settings.sections import Settings
from ...storage.db import Database
from ...executor.runner import CommandRunner
from ...assistant.provider_store import ProviderStore
from ...llm.service import ModelService
from ...storage.shared_state import LocalStore
from ...mcp.registry import McpRegistry
from ...router.profiles import Profile


@dataclass
class HandlerContext:
    settings: Settings
    db: Database
    models: ModelService
    providers: ProviderStore
    locale: str
    commands: CommandRunner | None = None     # None: this process runs no commands
    store: Any = field(default_factory=LocalStore)   # rate-limit counters (shared with Redis)
    profile: Profile | None = None     # the per-chat profile in force (router/profiles.py)
    # By name: where a reply can be shown while written, and where a message's files are fetched.
    channels: dict[str, Any] = field(default_factory=dict)
    mcp: McpRegistry | None = None            # the [[mcp_servers]]; None: this process calls none
