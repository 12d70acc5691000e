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
from .handlers.handoff_flow import forward
from .handlers.press import handle_press
from ..i18n import normalize, t
from ..assistant import handoffs
from ..assistant.provider_store import ProviderStore
from ..llm.service import ModelService
from ..messages import InboundMessage
from .outcome import Outcome
from ..router import Router
from ..router.profiles import ProfileBook
from ..storage.shared_state import LocalStore

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, settings: Settings, db: Database, router: Router, models: ModelService,
                 providers: ProviderStore, commands: CommandRunner | None = None, store: Any = None,
                 profiles: ProfileBook | None = None, channels: dict[str, Any] | None = None,
                 mcp: McpRegistry | None = None) -> None:
        self.settings = settings
        self.channels = channels or {}
        self.store = store if store is not None else LocalStore()
        self.commands = commands
        self.mcp = mcp
        self.db = db
        self.router = router
        self.models = models
        self.providers = providers
        self.profiles = profiles

    def handle(self, msg: InboundMessage) -> Outcome:
        with self.db.read() as conn:
            principal = identities.resolve(conn, msg.channel, msg.user_id, msg.user_name,
                                           self.settings.security.default_role, msg.locale)
            # A person holds this conversation: the bot stays quiet in it (one indexed read).
            held = handoffs.open_for(conn, msg.conversation_key, self.settings.handoff.timeout_minutes * 60)
        profile = self.profiles.for_message(msg) if self.profiles is not None else None
        locale = normalize((profile.locale if profile else "") or msg.locale or (principal.locale if principal else ""),
                           self.settings.default_locale)
        actor = f"{msg.channel}:{msg.user_id}"
        if msg.press:       # a decision button: never routed, never read as text
            ctx = HandlerContext(self.settings, self.db, self.models, self.providers, locale, self.commands, self.store,
                                 channels=self.channels, mcp=self.mcp)
            return handle_press(ctx, msg, principal)
        if principal is None:
            return Outcome(texts=[t("denied.sender", locale)], result="denied",
                           audit=[AuditEvent("message.denied", actor, msg.chat_key, "denied",
                                             {"reason": "unknown sender and no default role (allowlist mode)",
                                              "event_id": msg.event_id})])
        ctx = HandlerContext(self.settings, self.db, self.models, self.providers, locale, self.commands, self.store,
                             profile=profile, channels=self.channels, mcp=self.mcp)
        if held is not None:
            return self._handled(forward(ctx, msg, held), actor, msg, "held", f"handoff:{held.id}", principal)
        route = self.router.route(msg, principal)
        if route.action == "ignore":
            return Outcome(result="ignored")
        handler = HANDLERS.get(route.action)
        if handler is None:
            outcome = Outcome(texts=[t("action.unavailable", locale)], result="error")
        else:
            outcome = handler(ctx, msg, principal, route)
        return self._handled(outcome, actor, msg, route.action, route.rule, principal)

    @staticmethod
    def _handled(outcome: Outcome, actor: str, msg: InboundMessage, action: str, rule: str, principal: Any) -> Outcome:
        outcome.audit.append(AuditEvent(
            "message.handled", actor, msg.chat_key, outcome.result,
            {"event_id": msg.event_id, "action": action, "rule": rule,
             "provider": outcome.provider, "model": outcome.model, "tokens": outcome.tokens,
             "role": principal.role_label}))
        return outcome
