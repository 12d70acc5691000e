"""Helpers for the workflow tests: a report command, the three-step workflow (command -> model
summary -> message), storing workflows as the API would, and waiting for a run to end."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tests.support.executor import add_command, script

REPORT = """\
name: disk-report
description: Disk usage, summarised by the model
steps:
  - name: usage
    kind: command
    command: report
  - name: summary
    kind: model
    prompt: "Summarise for {{ user.name }}: {{ steps.usage.output }}"
  - name: tell
    kind: message
    text: "Summary: {{ steps.summary.output }}"
"""


def add_report_command(db: Any, text: str = "disk 42% used") -> None:
    add_command(db, "report", [script(f"print({text!r})")])


def save(db: Any, source: str) -> str:
    """Store a workflow through the same check the API uses; its name."""
    from smartbot.workflows import store
    from smartbot.workflows.definition import load
    from smartbot.workflows.settings import WorkflowSettings

    definition = load(source, WorkflowSettings(http_allow=["127.0.0.1"]))
    with db.write() as conn:
        store.save_workflow(conn, definition.name, definition.description, source, True)
    return definition.name


def wait_run(db: Any, run_id: int | None = None, timeout: float = 15.0,
             statuses: tuple[str, ...] = ("succeeded", "failed", "stopped")) -> Any:
    """The run (the newest when `run_id` is None) once it has ended."""
    deadline = time.monotonic() + timeout
    while True:
        with db.read() as conn:
            query = "SELECT * FROM workflow_runs " + ("WHERE id = :id" if run_id else "ORDER BY id DESC LIMIT 1")
            row = conn.execute(sa.text(query), {"id": run_id}).first()
        if row is not None and row.status in statuses:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"run did not end: {row.status if row else 'no run'}")
        time.sleep(0.05)


def steps(db: Any, run_id: int) -> list[tuple[str, str]]:
    with db.read() as conn:
        return [(r.name, r.status) for r in conn.execute(
            sa.text("SELECT name, status FROM workflow_steps WHERE run_id = :r ORDER BY position"), {"r": run_id})]


def step_rows(db: Any, run_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return {r.name: r for r in conn.execute(
            sa.text("SELECT * FROM workflow_steps WHERE run_id = :r ORDER BY position"), {"r": run_id})}


def replies(platform: Any, event_id: str, count: int, timeout: float = 10.0) -> list[str]:
    """The texts sent in answer to `event_id`, once there are `count` of them (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r["json"]["text"] for r in platform.replies_to(event_id)]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.05)
