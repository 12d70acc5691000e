"""The worker's one job: identity -> router -> permission -> handler, giving an Outcome.

Only this module (and workflows) composes the router, auth, the model service and the executor.
It decides and reads; it writes nothing. `outcome.store` stores the Outcome.
"""
from __future__ import annotations

import logging
from typing import Any

from ..audit import AuditEvent
from ..auth import identities
from ..settings.sections import Settings
from ..storage.db import Database
from ..executor.runner import CommandRunner
from ..mcp.registry import McpRegistry
from .handlers import HANDLERS, HandlerContext
from ..i18n import normalize, t
from ..assistant.provider_store import ProviderStore
from ..llm.service import ModelService
from ..messages import InboundMessage
from .outcome import Outcome
from ..router import Router
from ..storage.shared_state import LocalStore

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: Settings, db: Database, router: Router, models: ModelService,
                 providers: ProviderStore, commands: CommandRunner | None = None, store: Any = None,
                 mcp: McpRegistry | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else LocalStore()
        self.commands = commands
        self.mcp = mcp
        self.db = db
        self.router = router
        self.models = models
        self.providers = providers

    def handle(self, msg: InboundMessage) -> Outcome:
        with self.db.read() as conn:
            principal = identities.resolve(conn, msg.channel, msg.user_id, msg.user_name,
                                           self.settings.security.default_role, msg.locale)
        locale = normalize(msg.locale or (principal.locale if principal else ""), self.settings.default_locale)
        actor = f"{msg.channel}:{msg.user_id}"
        if principal is None:
            return Outcome(texts=[t("denied.sender", locale)], result="denied",
                           audit=[AuditEvent("message.denied", actor, msg.chat_key, "denied",
                                             {"reason": "unknown sender and no default role (allowlist mode)",
                                              "event_id": msg.event_id})])
        route = self.router.route(msg, principal)
        if route.action == "ignore":
            return Outcome(result="ignored")
        handler = HANDLERS.get(route.action)
        ctx = HandlerContext(self.settings, self.db, self.models, self.providers, locale, self.commands, self.store,
                             self.mcp)
        if handler is None:
            outcome = Outcome(texts=[t("action.unavailable", locale)], result="error")
        else:
            outcome = handler(ctx, msg, principal, route)
        outcome.audit.append(AuditEvent(
            "message.handled", actor, msg.chat_key, outcome.result,
            {"event_id": msg.event_id, "action": route.action, "rule": route.rule,
             "provider": outcome.provider, "model": outcome.model, "tokens": outcome.tokens,
             "role": principal.role_label}))
        return outcome
