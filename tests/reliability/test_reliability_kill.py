"""kill -9 of the gunicorn workers, then of the whole app, during a burst of webhooks: after the
restart every acknowledged message has exactly one reply at the platform. The long version with
1,000 messages is bench/reliability_kill.py."""
from __future__ import annotations

from tests.support.crash_burst import kill_during_burst


def test_kill_9_of_workers_and_of_the_whole_app_mid_burst_leaves_one_reply_each(
        gunicorn_app, make_config, fake_model, fake_platform):
    fake_model.delay = 0.05             # replies lag the acks, so both kills find work in flight
    app = gunicorn_app(make_config(model=fake_model), workers=2)
    report = kill_during_burst(app, fake_platform, count=300)
    result = report.result
    print("\n".join(report.lines()))
    assert len(result.sent) == 300, report.lines()
    assert report.killed_workers == 2
    assert report.pending_at_app_kill > 0, "everything was answered before the kill; nothing was tested"
    assert result.unanswered == [], (result.unanswered[:10], app.log())
    assert result.answered_twice == {}
    assert result.unexpected == []
    assert report.server_errors == {}, report.statuses
    texts = {r["json"]["reply_to"]: r["json"]["text"] for r in fake_platform.received}
    assert all(texts[f"kill-{i}"] == f"echo: m{i}" for i in range(300))
