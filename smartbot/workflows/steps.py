"""What each step kind does, given the run it belongs to. One function per kind, each returning a
StepResult; none of them writes step state (the engine does, before and after).

A command step asks for the catalogue command exactly as `/run` does (an mcp step for its MCP tool
as the model's tool call does), with the permissions of who
started the run (or the schedule's owner); commands that need an approval are refused here. A
message step queues its text in the outbox under a key made of the run and the step, so running
it again after a crash cannot send it twice. An http step may only call hosts in [workflows]
http_allow, and follows no redirects (a redirect could leave the allow list).
"""
from __future__ import annotations

import concurrent.futures
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
import urllib3

from .. import audit
from ..audit import actors
from ..assistant import usage
from ..auth.rbac import Principal
from ..errors import ProviderError
from ..executor import catalogue
from ..executor.approvals import Origin
from ..gateway import outbox
from ..httputil import fetch_capped
from ..pipeline.handlers.base import HandlerContext
from ..pipeline.handlers.command_requests import RAN, request_command
from ..pipeline.handlers.mcp_calls import request_mcp
from ..llm.base import ModelRequest
from ..messages import Reply
from . import templates
from .definition import DefinitionError, Step, check_url

log = logging.getLogger(__name__)
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="smartbot-step")


@dataclass
class StepResult:
    ok: bool
    output: str = ""
    error: str = ""
    retryable: bool = True
    control: str = ""                           # condition steps: "" | stop | skip_next
    outbox_ids: list[int] = field(default_factory=list)


@dataclass
class RunEnv:
    """Everything a step may use: the services, who it runs as, where the run answers, the context."""

    ctx: HandlerContext
    principal: Principal
    origin: Origin
    run: Any
    channels: dict[str, Any]
    context: dict[str, Any]                     # what templates see
    owner: str = ""                             # this worker: replies are leased to it for delivery
    lease_seconds: float = 30.0

    @property
    def cap(self) -> int:
        return self.ctx.settings.workflows.render_cap

    def render(self, source: str) -> str:
        return templates.render(source, self.context, self.cap)


def run_step(env: RunEnv, step: Step, position: int) -> StepResult:
    try:
        return _KINDS[step.kind](env, step, position)
    except templates.TemplateRefused as exc:
        return StepResult(False, error=f"template {exc.reason}", retryable=False)
    except DefinitionError as exc:
        return StepResult(False, error=exc.reason, retryable=False)


def _command(env: RunEnv, step: Step, position: int) -> StepResult:
    name = step.params["command"]
    named = {key: env.render(value) for key, value in step.params.get("args", {}).items()}
    with env.ctx.db.read() as conn:
        try:
            spec = catalogue.get(conn, name) if catalogue.NAME.match(name) else None
        except catalogue.DefinitionError:
            spec = None                 # refused with its reason by request_command below
    if spec is not None and spec.needs_approval:
        return StepResult(False, error=f"command {name!r} needs an approval, which a workflow cannot wait for",
                          retryable=False)
    asked = request_command(env.ctx, env.principal, env.origin, name, named=named, via="workflow",
                            request_key=f"workflow:{env.run.id}:{position}", max_timeout=step.timeout)
    with env.ctx.db.write() as conn:
        audit.record_all(conn, asked.audit)
    if asked.status != RAN or asked.result is None:
        return StepResult(False, error=asked.reason or asked.text, retryable=False)
    result = asked.result
    output = result.stdout.rstrip()
    if result.stderr.strip():
        output = (output + "\n" if output else "") + result.stderr.rstrip()
    if not result.ok:
        why = result.error or (f"stopped: {result.stopped}" if result.stopped else f"exit code {result.exit_code}")
        return StepResult(False, output, f"command {name} failed ({why})")
    return StepResult(True, output)


def _mcp(env: RunEnv, step: Step, position: int) -> StepResult:
    """An MCP tool call, checked like a command step: the run's user needs mcp:<server>:<tool> and
    the tool must pass the server's allow-list; a tool that needs approval is refused here."""
    server, tool = step.params["server"], step.params["tool"]
    handle = env.ctx.mcp.get(server) if env.ctx.mcp is not None else None
    if handle is not None and tool in handle.config.needs_approval:
        return StepResult(False, error=f"MCP tool {server}/{tool} needs an approval, which a workflow cannot wait "
                                       "for", retryable=False)
    args = {key: env.render(value) if isinstance(value, str) else value
            for key, value in step.params.get("args", {}).items()}
    asked = request_mcp(env.ctx, env.principal, env.origin, server, tool, args, "workflow",
                        f"workflow:{env.run.id}:{position}", max_timeout=step.timeout, coerce=True)
    with env.ctx.db.write() as conn:
        audit.record_all(conn, asked.audit)
    if asked.status != RAN or asked.outcome is None:
        return StepResult(False, error=asked.reason or asked.text, retryable=asked.timed_out)
    if asked.outcome.is_error:
        return StepResult(False, asked.outcome.text, f"MCP tool {server}/{tool} reported an error")
    return StepResult(True, asked.outcome.text)


def _with_timeout(fn: Callable[[], StepResult], seconds: float) -> StepResult:
    future = _pool.submit(fn)
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        return StepResult(False, error=f"timed out after {seconds:g} s")


def _model(env: RunEnv, step: Step, position: int) -> StepResult:
    messages = []
    if "system" in step.params:
        messages.append({"role": "system", "content": env.render(step.params["system"])})
    messages.append({"role": "user", "content": env.render(step.params["prompt"])})
    chain = env.ctx.providers.chain()
    if not chain:
        return StepResult(False, error="no model provider is configured", retryable=False)
    user = env.principal.identity or f"user:{env.principal.name}"
    refused = _over_quota(env, position)
    if refused is not None:
        return refused

    def call() -> StepResult:
        try:
            answer = env.ctx.models.complete(ModelRequest(messages=messages, user=user), chain)
        except ProviderError as exc:
            return StepResult(False, error=f"model {exc.kind}: {exc.reason}")
        spent = usage.spent(usage.user_key(env.principal), [answer])     # counted against the same quota
        env.ctx.db.run_write(lambda conn: usage.record_all(conn, spent))
        return StepResult(True, answer.text.strip())
    return _with_timeout(call, step.timeout)


def _over_quota(env: RunEnv, position: int) -> StepResult | None:
    """The trigger's daily token quota holds for a workflow's model steps as for their chat."""
    with env.ctx.db.read() as conn:
        quota = usage.quota_state(conn, env.ctx.settings.quotas, env.principal)
    if quota is None or not quota.exceeded:
        return None
    with env.ctx.db.write() as conn:
        audit.record(conn, "model.quota_exceeded", actors.of_caller(env.principal.identity, env.principal.name),
                     usage.user_key(env.principal), "denied",
                     {"used": quota.used, "limit": quota.limit, "workflow_run": env.run.id, "step": position})
    return StepResult(False, error=f"the daily model token quota ({quota.limit}) is used up", retryable=False)


def _message(env: RunEnv, step: Step, position: int) -> StepResult:
    text = env.render(step.params["text"])
    run = env.run
    if "channel" in step.params:
        channel, chat_id, context, reply_to = env.render(step.params["channel"]), \
            env.render(step.params["chat_id"]), {}, ""
    elif run.channel:
        channel, chat_id, context, reply_to = run.channel, run.chat_id, run.reply_context or {}, run.reply_to
    else:
        channel, chat_id, context, reply_to = "", "", {}, ""
    if not text.strip():
        return StepResult(False, error="the message is empty", retryable=False)
    if not channel:
        # A run started with no chat (from the admin page or the API) is read where it was
        # started: the message is the step's output, shown with the run.
        return StepResult(True, text)
    adapter = env.channels.get(channel)
    if adapter is None:
        return StepResult(False, error=f"channel {channel!r} is not configured", retryable=False)
    parts = adapter.split(Reply(channel, chat_id, text, reply_context=context, reply_to=reply_to))
    with env.ctx.db.write() as conn:
        ids = post_replies(conn, parts, f"workflow:{run.id}:{position}", env.owner, env.lease_seconds)
    return StepResult(True, text, outbox_ids=ids)


def post_replies(conn: Any, replies: list[Reply], key: str, owner: str, lease_seconds: float) -> list[int]:
    """Queue replies in the outbox under `key` (a repeat adds nothing); the ids leased to `owner`
    for delivery at once (those first in line for their chat; the others follow in order)."""
    chat_key = f"{replies[0].channel}:{replies[0].chat_id}"
    ids = outbox.add(conn, replies, key, chat_key)
    return outbox.queue.lease_if_head(conn, ids, owner, time.time() + lease_seconds)


def _http(env: RunEnv, step: Step, position: int) -> StepResult:
    settings = env.ctx.settings.workflows
    url = env.render(step.params["url"])
    check_url(url, settings, "url")
    body = env.render(step.params["body"]).encode() if "body" in step.params else None
    headers = {k: env.render(v) for k, v in step.params.get("headers", {}).items()}
    try:
        resp = fetch_capped(step.params.get("method", "GET"), url, settings.output_cap * 4, step.timeout, body,
                            headers)
    except (requests.Timeout, urllib3.exceptions.TimeoutError):
        return StepResult(False, error=f"timed out after {step.timeout:g} s")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        return StepResult(False, error=f"could not reach the URL ({type(exc).__name__})")
    output = resp.body.decode(resp.encoding or "utf-8", "replace")[:settings.output_cap]
    if resp.status >= 400:
        return StepResult(False, output, f"HTTP {resp.status}", retryable=resp.status >= 500)
    return StepResult(True, output)


def _condition(env: RunEnv, step: Step, position: int) -> StepResult:
    holds = templates.evaluate(step.params["when"], env.context, env.cap)
    return StepResult(True, "true" if holds else "false", control=step.params["then"] if holds else "")


_KINDS: dict[str, Callable[[RunEnv, Step, int], StepResult]] = {
    "command": _command, "model": _model, "message": _message, "http": _http, "condition": _condition,
    "mcp": _mcp,
}

