"""Templates that would keep a worker busy for hours: a workflow author (admin:workflows) saves a
message step with nested loops and a condition whose filter chain runs a billion times. Each run
must fail its step within a bounded time with the reason, and the app keeps answering chat."""
from __future__ import annotations

import time

from tests.support.waiting import wait_until
from tests.support.workflows import step_rows, wait_run

NESTED_LOOPS = ("{% for a in 'x' * 16000 %}{% for b in 'x' * 16000 %}{% for c in 'x' * 16000 %}"
                "{% endfor %}{% endfor %}{% endfor %}done")
BILLION_SLICES = "'abc'|slice(10 ** 9)|select|list|length > 0"
BOUND = 20.0        # seconds from start to the failed run, on a loaded test machine


def _workflow(name: str, step: str) -> str:
    return f"name: {name}\nsteps:\n{step}"


# name -> (the workflow, what the failed step says)
SLOW = {
    "slow-message": (_workflow("slow-message", f'  - name: loops\n    kind: message\n    text: "{NESTED_LOOPS}"\n'),
                     "template did too much work"),
    "slow-condition": (_workflow("slow-condition", f'  - name: gate\n    kind: condition\n    when: "{BILLION_SLICES}"\n'
                                 "    then: stop\n  - name: after\n    kind: message\n    text: never\n"),
                       "template was refused by the sandbox: the result would be 1000000000 long"),
}


def _author(app):
    app.add_user("wf-author", [], permissions=["admin:login", "admin:workflows", "workflow:run:*"])
    return app.login("wf-author")


def _start(session, name: str) -> int:
    resp = session.post(f"/workflows/{name}/runs", {"channel": "generic", "chat_id": "room"})
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def test_long_running_templates_fail_their_step_in_bounded_time_and_chat_goes_on(target, fake_platform):
    app = target()
    author = _author(app)
    for name, (source, _) in SLOW.items():
        saved = author.post("/workflows", {"yaml": source})
        assert saved.status_code == 201, saved.text
    for name, (_, reason) in SLOW.items():
        started = time.monotonic()
        run_id = _start(author, name)
        event = f"meanwhile-{name}"
        assert app.app.post_generic({"event_id": event, "chat_id": "c1", "user_id": "u1", "text": "still there?"}
                                    ).status_code == 200
        assert wait_until(lambda: fake_platform.replies_to(event), timeout=BOUND)
        assert fake_platform.replies_to(event)[0]["json"]["text"] == "echo: still there?"
        run = wait_run(app.db, run_id, timeout=BOUND)
        assert time.monotonic() - started < BOUND
        assert run.status == "failed", run.status
        assert reason in run.error, run.error
        step = next(iter(step_rows(app.db, run_id).values()))
        assert step.status == "failed" and step.error in run.error
        finished = [r for r in app.audit("workflow_run.finished") if r["target"] == f"workflow_run:{run_id}"]
        assert [r["result"] for r in finished] == ["failed"] and step.error in finished[0]["details"]["error"]
    told = [r["json"]["text"] for r in fake_platform.received if r["json"] and r["json"].get("chat_id") == "room"]
    assert "done" not in told and "never" not in told


def test_a_loop_that_does_little_work_still_renders(target, fake_platform):
    app = target()
    author = _author(app)
    source = _workflow("greet", '  - name: hello\n    kind: message\n'
                       '    text: "{% for a in \'x\' * 3 %}-{% endfor %} {{ user.name }}"\n'
                       '  - name: gate\n    kind: condition\n    when: "\'abc\'|slice(2)|list|length == 2"\n'
                       '    then: skip_next\n  - name: skipped\n    kind: message\n    text: never\n')
    assert author.post("/workflows", {"yaml": source}).status_code == 201
    run = wait_run(app.db, _start(author, "greet"), timeout=BOUND)
    assert run.status in ("succeeded", "stopped"), run.error
    assert wait_until(lambda: any(r["json"] and r["json"].get("text") == "--- wf-author"
                                  for r in fake_platform.received), timeout=BOUND)
