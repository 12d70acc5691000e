"""The `workflow` action: `/workflow <name> [key=value ...]` stores a run and answers at once; the
run is handed to the worker pool once that answer is stored, and posts its outcome here when it ends.

A message handled twice (after a crash) finds the run it started (the request key is the message's
key) instead of starting a second one.
"""
from __future__ import annotations

from ...auth.rbac import Principal
from ...errors import CommandRejected
from ...executor import catalogue
from ...i18n import t
from ...i18n.reasons import say
from ...messages import InboundMessage
from ..outcome import Outcome
from ...router import Route
from ...workflows.definition import DefinitionError, parse_chat_args
from ...workflows.runs import WORKFLOW, StartRefused, Trigger, start_now
from .base import HandlerContext


def handle_workflow(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    text = route.command.args if route.command is not None else ""
    name = str(route.params.get("workflow") or "")
    try:
        tokens = catalogue.parse_chat_args(text)
        if not name:
            if not tokens:
                return Outcome(texts=[t("workflow.usage", ctx.locale)], result="error")
            name, tokens = tokens[0].lower(), tokens[1:]
        args = parse_chat_args(tokens)
    except (CommandRejected, DefinitionError) as exc:
        return Outcome(texts=[t("workflow.usage", ctx.locale) + f" ({say(exc.reason, ctx.locale)})"], result="error")
    actor = principal.identity or f"{msg.channel}:{msg.user_id}"
    trigger = Trigger("chat", actor, f"{msg.channel}:{msg.event_id}", msg.channel, msg.chat_id,
                      dict(msg.reply_context), msg.event_id, ctx.locale)
    try:
        run_id, created = start_now(ctx.db, ctx.settings.workflows, name, principal, trigger, args)
    except StartRefused as exc:
        key = "denied" if exc.status == 403 else "workflow.not_started"
        return Outcome(texts=[t(key, ctx.locale, reason=exc.reason, name=name)],
                       result="denied" if exc.status == 403 else "error")
    return Outcome(texts=[t("workflow.started", ctx.locale, name=name, id=run_id)],
                   follow_up=[(WORKFLOW, run_id)] if created else [])
