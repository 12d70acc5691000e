"""Working one run: claim it, then each step in order with its state written before and after,
retries with backoff, on_error, conditions; finally the outcome, posted to the chat that asked.

A run taken over after a crash starts again at the first step that is not finished. A step found
`running` was interrupted: it runs again, except a command step, which might have done its work
already; then the run fails with that reason and the chat is told. Nothing is ever left silent.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import audit
from ..audit import actors
from ..auth import identities
from ..auth.rbac import Principal
from ..executor.approvals import Origin
from ..gateway import outbox
from ..pipeline.handlers.base import HandlerContext
from ..i18n import t
from ..jobs.local import Dispatch
from ..messages import Reply
from ..storage.tables import User
from . import store
from .definition import Definition, DefinitionError, Step, load
from .steps import RunEnv, StepResult, post_replies, run_step
from .store import FAILED, PENDING, RUNNING, SKIPPED, STOPPED, SUCCEEDED

log = logging.getLogger(__name__)
RETRY_BACKOFF = 0.5
RETRY_BACKOFF_MAX = 10.0
NOTICE_LIMIT = 3500
_users = User.__table__


class _LeaseLost(Exception):
    """Another worker took the run over (this one was presumed dead); stop without writing more."""


def _control_of(step: Step, state: Row[Any]) -> str:
    """What a condition step that finished before a restart decided."""
    if step.kind == "condition" and state.status == SUCCEEDED and state.output == "true":
        return str(step.params["then"])
    return ""


class WorkflowEngine:
    def __init__(self, ctx: HandlerContext, channels: dict[str, Any], owner: str, lease_seconds: float,
                 dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.channels = channels
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.dispatch = dispatch      # hands the replies a run leased to this process to its job pool
        self.active: set[int] = set()          # runs this process is working now (their leases are renewed)
        self._lock = threading.Lock()

    def run(self, run_id: int) -> None:
        db = self.ctx.db
        with db.write() as conn:
            if not store.claim(conn, run_id, self.owner, time.time() + self.lease_seconds):
                return
            with self._lock:
                self.active.add(run_id)
            row = store.get_run(conn, run_id)
            states = store.steps_of(conn, run_id)
            principal = self._principal(conn, row)
        try:
            self._work(row, states, principal)
        except _LeaseLost:
            log.warning("workflow run %s was taken over by another worker", run_id)
        except Exception as exc:     # a bug or the database: end the run with the reason, never silently
            log.exception("workflow run %s failed unexpectedly", run_id)
            try:
                self._finish(row, FAILED, f"internal error ({type(exc).__name__}); see the server log")
            except Exception:
                log.exception("could not record the failure of workflow run %s; its lease will expire", run_id)
        finally:
            with self._lock:
                self.active.discard(run_id)

    def active_runs(self) -> set[int]:
        with self._lock:
            return set(self.active)

    def _work(self, row: Row[Any], states: list[Row[Any]], principal: Principal | None) -> None:
        try:
            definition = load(row.source, self.ctx.settings.workflows, row.workflow)
        except DefinitionError as exc:
            return self._finish(row, FAILED, f"the definition is invalid ({exc.field}: {exc.reason})")
        if principal is None:
            return self._finish(row, FAILED, "whoever started the run may no longer use this assistant")
        env = self._env(row, principal, definition, states)
        skip_next = False
        for position, step in enumerate(definition.steps):
            state = states[position]
            if state.status in (SUCCEEDED, FAILED, SKIPPED):     # done before a restart
                if state.status == FAILED and step.on_error == "stop":
                    return self._finish(row, FAILED, f"step {step.name} failed: {state.error}", position)
                control = _control_of(step, state)
                if control == "stop":
                    return self._finish(row, STOPPED, f"stopped by condition {step.name}", position)
                skip_next = control == "skip_next"
                continue
            if skip_next:
                self._write(row.id, lambda c, p=position: store.step_finished(c, row.id, p, SKIPPED))
                env.context["steps"][step.name]["status"] = SKIPPED
                skip_next = False
                continue
            if state.status == RUNNING and step.kind == "command":
                reason = f"step {step.name} (a command) was interrupted by a restart; it is not run twice"
                self._write(row.id, lambda c, p=position: store.step_finished(c, row.id, p, FAILED, error=reason))
                return self._finish(row, FAILED, reason, position)
            result = self._attempt(env, step, position)
            env.context["steps"][step.name] = {"output": result.output, "status": SUCCEEDED if result.ok else FAILED}
            if result.outbox_ids:
                self.dispatch(outbox.KIND, result.outbox_ids, 0.0)
            if not result.ok and step.on_error == "stop":
                return self._finish(row, FAILED, f"step {step.name} failed: {result.error}", position)
            if result.control == "stop":
                return self._finish(row, STOPPED, f"stopped by condition {step.name}", position)
            skip_next = result.control == "skip_next"
        self._finish(row, SUCCEEDED, "")

    def _attempt(self, env: RunEnv, step: Step, position: int) -> StepResult:
        """Run a step up to 1 + retries times; its state is written before and after every attempt."""
        cap = self.ctx.settings.workflows.output_cap
        result = StepResult(False, error="not run")
        for attempt in range(step.retries + 1):
            self._write(env.run.id, lambda c: store.step_started(c, env.run.id, position))
            result = run_step(env, step, position)
            result.output = result.output[:cap]
            last = attempt == step.retries or result.ok or not result.retryable
            status = SUCCEEDED if result.ok else FAILED if last else RUNNING
            self._write(env.run.id,
                        lambda c: store.step_finished(c, env.run.id, position, status, result.output, result.error))
            if last:
                return result
            time.sleep(min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2 ** attempt))
        return result

    def _write(self, run_id: int, fn: Callable[[Any], Any]) -> None:
        with self.ctx.db.write() as conn:
            if not store.still_ours(conn, run_id, self.owner):
                raise _LeaseLost()
            fn(conn)

    def _env(self, row: Row[Any], principal: Principal, definition: Definition, states: list[Row[Any]]) -> RunEnv:
        steps = {s.name: {"output": "", "status": PENDING} for s in definition.steps}
        for state in states:
            if state.name in steps and state.status != RUNNING:
                steps[state.name] = {"output": state.output, "status": state.status}
        context = {"args": dict(row.args or {}), "steps": steps,
                   "user": {"name": principal.name, "roles": list(principal.roles)},
                   "chat": {"channel": row.channel, "id": row.chat_id}}
        origin = Origin(actors.of_caller(principal.identity, principal.name), principal.name, row.channel, row.chat_id,
                        dict(row.reply_context or {}), row.locale or "")
        return RunEnv(self.ctx, principal, origin, row, self.channels, context, self.owner, self.lease_seconds)

    def _principal(self, conn: Connection, row: Row[Any]) -> Principal | None:
        """Who the run's steps run as, with their rights as they are now."""
        security = self.ctx.settings.security
        if row.trigger == "chat":
            channel, _, platform_user = row.triggered_by.partition(":")
            return identities.resolve(conn, channel, platform_user, "", security.default_role)
        if row.user_id is None:
            return None
        user = conn.execute(sa.select(_users.c.name, _users.c.is_active).where(_users.c.id == row.user_id)).first()
        if user is None or not user.is_active:
            return None
        return identities.principal_for_user(conn, row.user_id, user.name)

    def _finish(self, row: Row[Any], status: str, error: str, position: int = -1) -> None:
        """Record the outcome, skip the steps never reached, audit it and tell the chat, in one transaction."""
        locale = row.locale or self.ctx.settings.default_locale      # the language of who started it
        text = t(f"workflow.{status}", locale, name=row.workflow, id=row.id, reason=error)
        ids: list[int] = []
        with self.ctx.db.write() as conn:
            if not store.finish(conn, row.id, self.owner, status, error):
                raise _LeaseLost()
            store.skip_rest(conn, row.id, position if position >= 0 else 10**6)
            audit.record(conn, "workflow_run.finished", row.triggered_by, f"workflow_run:{row.id}",
                         "ok" if status == SUCCEEDED else status, {"workflow": row.workflow, "error": error})
            if row.channel and row.channel in self.channels:
                if len(text) > NOTICE_LIMIT:
                    text = text[:NOTICE_LIMIT] + "\n[...]"
                reply = Reply(row.channel, row.chat_id, text, reply_context=row.reply_context or {},
                              reply_to=row.reply_to)
                ids = post_replies(conn, [reply], f"workflow:{row.id}:result", self.owner, self.lease_seconds)
        log.info("workflow run %s (%s) %s%s", row.id, row.workflow, status, f": {error}" if error else "")
        if ids:
            self.dispatch(outbox.KIND, ids, 0.0)
