"""A pressed Approve / Deny button: checked, then decided exactly as `/approve` and `/deny` are.

A press is an inbox message like any other (stored once under the platform's callback id), but it
never reaches the router: its text is not read, only the button's data. The data must name a
request and carry that request's digest (executor/approval_buttons.py); anything else, a forged
digest, a press for another request or a mangled one, is refused and audited as
`approval.press_refused`, and so is a press that comes too late (decided already, or expired).
Who may decide, and the compare-and-set that lets the first decider win, are `decide`'s, the
function `/approve` uses. The answer goes back to the pressed message: `update` shows the decision
and who made it in place of the buttons; any refusal is `private`, for the presser's eyes only
where the platform can do that.
"""
from __future__ import annotations

from typing import Any

from ...audit import AuditEvent
from ...auth.rbac import Principal
from ...channels.support import buttons
from ...executor import approval_buttons, approvals
from ...i18n import t
from ...messages import InboundMessage
from ..outcome import Outcome
from .approval_flow import decide
from .base import HandlerContext

REFUSED = "approval.press_refused"
SHOWN_OUTPUT = 1500             # characters of a command's output shown in place of the buttons
_LATE = {"not_found": "no such request", "already": "the request was decided already or has expired"}


def handle_press(ctx: HandlerContext, msg: InboundMessage, principal: Principal | None) -> Outcome:
    actor = principal.identity if principal and principal.identity else f"{msg.channel}:{msg.user_id}"
    press = buttons.decode(msg.press)
    if press is None:
        return _refused(ctx, msg, actor, 0, "the button's data is not an approval button's")
    with ctx.db.read() as conn:
        row = approvals.get(conn, press.approval_id)
    key = approval_buttons.button_key(ctx.settings.secret_key)
    if row is None or not approval_buttons.matches(key, press.digest, row.id, row.command, row.args):
        return _refused(ctx, msg, actor, press.approval_id, "the button's digest does not match the request")
    if principal is None:
        return _private(t("denied.sender", ctx.locale), "denied",
                        [AuditEvent(REFUSED, actor, f"approval:{row.id}", "denied",
                                    {"reason": "unknown sender and no default role (allowlist mode)",
                                     **_where(msg)})])
    verdict = decide(ctx, principal, msg.chat_key, row.id, press.approve)
    if not verdict.decided:     # no right, or their own request: audited by decide as approval.refused
        late = [AuditEvent(REFUSED, actor, f"approval:{row.id}", "denied",
                           {"reason": _LATE[verdict.outcome], **_where(msg)})] if verdict.outcome in _LATE else []
        return _private(verdict.text, "denied", verdict.audit + late)
    shown = t("approval.decided_by", ctx.locale, id=row.id, name=row.command, by=principal.name,
              verdict=t("approval.verdict.approved" if press.approve else "approval.verdict.denied", ctx.locale))
    ran = verdict.ran if len(verdict.ran) <= SHOWN_OUTPUT else verdict.ran[:SHOWN_OUTPUT] + "\n[...]"
    text = shown + ("\n" + ran if ran else "")     # one message: it replaces the notice, so it is never split
    return Outcome(texts=[text], audit=verdict.audit, reply_context={"press_answer": buttons.UPDATE})


def _refused(ctx: HandlerContext, msg: InboundMessage, actor: str, approval_id: int, why: str) -> Outcome:
    return _private(t("approval.press_refused", ctx.locale, id=approval_id), "denied",
                    [AuditEvent(REFUSED, actor, f"approval:{approval_id}", "denied", {"reason": why, **_where(msg)})])


def _private(text: str, result: str, events: list[AuditEvent]) -> Outcome:
    return Outcome(texts=[text], audit=events, result=result, reply_context={"press_answer": buttons.PRIVATE})


def _where(msg: InboundMessage) -> dict[str, Any]:
    return {"chat": msg.chat_key, "event_id": msg.event_id}
