"""Approvals from request to outcome: decide, run, expire (asking is approval_asks.py).
An MCP tool request (`mcp:<server>:<tool>`) is run by mcp_approved.py, checked again the same way.

Whoever approved, the command runs with the requester's permissions as they are at run time: a
requester whose role lost the command meanwhile gets nothing run. Nobody decides their own request.
Notices go through the outbox (to the chats in [approvals] notify, and to the requester's chat),
written in the same transaction as the state change they announce, under keys that make a repeat
a no-op. Runs happen on the worker pool: an approval given through the API is handed to it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ... import audit
from ...audit import AuditEvent, actors
from ...auth import identities, rbac, requesters
from ...auth.rbac import Principal
from ...errors import CommandRejected
from ...executor import approvals, catalogue
from ...executor.catalogue import CommandSpec
from ...executor.environment import OwnVariables, own_variables
from ...gateway import outbox
from ...i18n import t
from ...i18n.reasons import Reason, reason, say
from ...jobs.local import Dispatch
from ...messages import Reply
from ...storage.tables import Identity, User
from .base import HandlerContext
from .mcp_approved import is_mcp, run_approved_mcp
from .command_runs import format_result, ran_event, run_spec

log = logging.getLogger(__name__)
NOTICE_LIMIT = 3500
_identities, _users = Identity.__table__, User.__table__


def requester_locale(ctx: HandlerContext, row: Row[Any]) -> str:
    """The language the requester asked in (requests from before it was kept: default_locale)."""
    return row.locale or ctx.settings.default_locale


@dataclass
class Settled:
    """What an attempt to decide a request came to."""

    outcome: str                # decided | not_found | own | already
    row: Row[Any] | None = None
    status: str = ""            # the request's status after the attempt


@dataclass
class Verdict:
    """What /approve, /deny or a decision button came to: the decider's text, what to audit with
    it, and whether this decision settled the request (the first decider's)."""

    text: str
    audit: list[AuditEvent]
    outcome: str = "refused"    # refused (no right) | Settled.outcome: decided | not_found | own | already
    ran: str = ""               # the approved command's outcome, when it ran here

    @property
    def decided(self) -> bool:
        return self.outcome == "decided"


def decide(ctx: HandlerContext, principal: Principal, chat_key: str, approval_id: int, approve: bool) -> Verdict:
    """/approve or /deny in chat, and a pressed Approve / Deny button: the one way a person in a
    chat decides a request (approval:decide, not their own, not expired, not decided already)."""
    decision = rbac.check(principal, "approval:decide", chat_key)
    if not decision.allowed:
        return Verdict(t("denied", ctx.locale, reason=decision.reason),
                       [AuditEvent("approval.refused", principal.identity, f"approval:{approval_id}", "denied",
                                   {"reason": decision.reason, "approve": approve})])
    settled = settle(ctx, principal, approval_id, approve, decision.reason)
    if settled.outcome == "not_found":
        return Verdict(t("approval.not_found", ctx.locale, id=approval_id), [], settled.outcome)
    if settled.outcome == "own":
        return Verdict(t("approval.own", ctx.locale, id=approval_id), [], settled.outcome)
    if settled.outcome == "already":
        return Verdict(t("approval.already", ctx.locale, id=approval_id, status=settled.status), [], settled.outcome)
    name = settled.row.command
    if not approve:
        return Verdict(t("approval.denied", ctx.locale, id=approval_id, name=name), [], settled.outcome)
    ran = run_approved(ctx, approval_id)
    return Verdict(t("approval.approved", ctx.locale, id=approval_id, name=name) + ("\n" + ran if ran else ""), [],
                   settled.outcome, ran)


def settle(ctx: HandlerContext, principal: Principal, approval_id: int, approve: bool, reason: str) -> Settled:
    """Record a decision once (the first decider wins; nobody decides their own request). The
    caller has checked approval:decide; an approved request is run by the caller or the pool."""
    with ctx.db.write() as conn:
        row = approvals.get(conn, approval_id)
        if row is None:
            return Settled("not_found")
        if _is_own(conn, row, principal):
            audit.record(conn, "approval.refused", actors.of_caller(principal.identity, principal.name),
                         f"approval:{approval_id}", "denied",
                         {"reason": Reason("reason.approval.own"), "approve": approve})
            return Settled("own", row, row.status)
        new_status = approvals.APPROVED if approve else approvals.DENIED
        if not approvals.transition(conn, approval_id, approvals.PENDING, new_status, decided_at=time.time(),
                                    decided_by=actors.of_caller(principal.identity, principal.name)):
            current = approvals.get(conn, approval_id)
            overdue = current.status == approvals.PENDING
            return Settled("already", row, approvals.EXPIRED if overdue else current.status)
        event = "approval.approved" if approve else "approval.denied"
        audit.record_all(conn, [AuditEvent(event, actors.of_caller(principal.identity, principal.name),
                                           f"approval:{approval_id}", new_status,
                                           {"command": row.command, "requester": row.requester, "reason": reason})])
        if not approve:
            _tell_requester(conn, ctx, row, "denied", t("approval.denied_notice", requester_locale(ctx, row),
                                                        id=approval_id, name=row.command, by=principal.name))
    return Settled("decided", row, new_status)


def _is_own(conn: Connection, row: Row[Any], principal: Principal) -> bool:
    """The request was made by this principal, through this identity or another bound to the same user."""
    if principal.identity and row.requester == principal.identity:
        return True
    if principal.user_id is None:
        return False
    return requesters.user_of(conn, row.requester) == principal.user_id


def run_approved(ctx: HandlerContext, approval_id: int) -> str:
    """Claim an approved request and run it as its requester; the outcome text ('' if not ours), in
    the language of `ctx` (the approver's), while the requester is told it in theirs."""
    with ctx.db.write() as conn:
        if not approvals.transition(conn, approval_id, approvals.APPROVED, approvals.RUNNING):
            return ""
        row = approvals.get(conn, approval_id)
    locale = requester_locale(ctx, row)
    base = {"via": row.via, "chat": f"{row.channel}:{row.chat_id}", "approval": approval_id,
            "approved_by": row.decided_by}
    if is_mcp(row.command):
        status, summary, events, said = run_approved_mcp(ctx, row)
        _finish(ctx, row, status, summary, events, said(locale))
        return said(ctx.locale)
    try:
        spec, argv, checked, own = _prepare(ctx, row)
    except CommandRejected as exc:
        event = AuditEvent("command.denied", row.requester, row.command, "denied", {**base, "reason": exc.reason})
        def not_run(loc: str) -> str:
            return t("approval.not_run", loc, id=approval_id, name=row.command, reason=say(exc.reason, loc))
        _finish(ctx, row, approvals.FAILED, {"reason": exc.reason}, [event], not_run(locale))
        return not_run(ctx.locale)
    result = run_spec(ctx, spec, argv, checked, own)
    event = ran_event(row.requester, spec, catalogue.redacted_argv(spec, argv, checked), result, base)
    def outcome(loc: str) -> str:
        return t("approval.result", loc, id=approval_id) + "\n" + format_result(loc, spec.name, result)
    summary = {"exit_code": result.exit_code, "duration": round(result.duration, 3),
               "output_bytes": result.output_bytes, "truncated": result.truncated, "stopped": result.stopped,
               "error": result.error}
    _finish(ctx, row, approvals.DONE if result.ok else approvals.FAILED, summary, [event], outcome(locale))
    return outcome(ctx.locale)


def _prepare(ctx: HandlerContext, row: Row[Any]) -> tuple[CommandSpec, list[str], dict[str, str], OwnVariables]:
    """The command as it stands now, checked again for the requester as they stand now."""
    with ctx.db.read() as conn:
        own = own_variables(ctx.settings, conn)
        try:
            spec = catalogue.get(conn, row.command, own)
        except catalogue.DefinitionError as exc:
            raise CommandRejected(reason("reason.approval.definition_refused", field=exc.field,
                                         problem=exc.reason)) from None
        requester = requesters.principal_of(conn, row.requester, row.requester_name,
                                            ctx.settings.security.default_role)
    if spec is None or not spec.enabled:
        raise CommandRejected(reason("reason.approval.command_gone"))
    if requester is None:
        raise CommandRejected(reason("reason.approval.requester_gone"))
    decision = rbac.check(requester, spec.required_permission, f"{row.channel}:{row.chat_id}")
    if not decision.allowed:
        raise CommandRejected(decision.reason)
    argv, checked = catalogue.build_argv(spec, row.args or {}, ctx.settings.executor.allow_list)
    return spec, argv, checked, own


def _finish(ctx: HandlerContext, row: Row[Any], status: str, summary: dict[str, Any], events: list[AuditEvent],
            text: str) -> None:
    with ctx.db.write() as conn:
        approvals.transition(conn, row.id, approvals.RUNNING, status, result=summary)
        audit.record_all(conn, events)
        _tell_requester(conn, ctx, row, "outcome", text)


def _tell_requester(conn: Connection, ctx: HandlerContext, row: Row[Any], what: str, text: str) -> None:
    if not row.channel:         # asked outside any chat (the API, /mcp): the approvals list tells them
        return
    if len(text) > NOTICE_LIMIT:
        text = text[:NOTICE_LIMIT] + "\n[...]"
    reply = Reply(row.channel, row.chat_id, text, reply_context=row.reply_context or {})
    outbox.add(conn, [reply], f"approval:{row.id}:{what}", f"{row.channel}:{row.chat_id}")


def expire_due(ctx: HandlerContext) -> int:
    """Expire overdue requests and tell their requesters; cheap when there are none."""
    now = time.time()
    with ctx.db.read() as conn:
        if not approvals.any_due(conn, now):
            return 0
    with ctx.db.write() as conn:
        expired = approvals.expire_due(conn, now)
        for row in expired:
            audit.record(conn, "approval.expired", "system", f"approval:{row.id}", "expired",
                         {"command": row.command, "requester": row.requester})
            _tell_requester(conn, ctx, row, "expired", t("approval.expired", requester_locale(ctx, row),
                                                         id=row.id, name=row.command))
    return len(expired)


APPROVAL = "approval"       # the job kind that runs an approved request on the worker pool


class ApprovalJobs:
    """The worker pool's side of approvals: expire overdue requests, run approved ones.
    `dispatch(kind, ids, delay)` hands approved requests to whichever backend runs the pool."""

    def __init__(self, ctx: HandlerContext, dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.dispatch = dispatch

    def recover(self) -> list[int]:
        """Expire what is overdue, and hand out approved requests waiting for a worker (one that was
        handed out before and is still waiting is claimed once, whoever runs it)."""
        expire_due(self.ctx)
        with self.ctx.db.read() as conn:
            waiting = approvals.approved_waiting(conn)
        if waiting:
            self.dispatch(APPROVAL, waiting, 0.0)
        return waiting

    def run(self, approval_id: int) -> None:
        run_approved(self.ctx, approval_id)
