"""/metrics under gunicorn: every worker's scrape shows the counts of all workers, dead ones included."""
from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families


def _samples(text: str, name: str) -> list:
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def _accepted(text: str) -> float:
    return sum(s.value for s in _samples(text, "smartbot_webhook_requests_total") if s.labels["outcome"] == "accepted")


def test_every_scrape_shows_all_workers_counts(gunicorn_app, make_config, fake_platform):
    app = gunicorn_app(make_config(), workers=2)
    sent = 40
    for i in range(sent):
        resp = app.post_generic({"event_id": f"w{i}", "chat_id": f"c{i % 5}", "user_id": "u", "text": "/help"},
                                headers={"Connection": "close"})
        assert resp.status_code == 200
    fake_platform.wait_for(sent, timeout=30)
    for scrape in range(8):
        text = app.get("/metrics", headers={"Connection": "close"}).text
        assert _accepted(text) == sent, text
        scrapes = [s for s in _samples(text, "smartbot_http_requests_total") if s.labels["route"] == "/metrics"]
        assert sum(s.value for s in scrapes) == scrape      # earlier scrapes, whichever worker answered them
    pids = {s.labels["pid"] for s in _samples(text, "smartbot_process_resident_memory_bytes")}
    assert len(pids) == 2, pids

    old = set(app.kill_workers())                 # both workers die; their counts must stay
    app.wait_ready(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = app.get("/metrics", headers={"Connection": "close"}).text
        pids = {int(s.labels["pid"]) for s in _samples(text, "smartbot_process_resident_memory_bytes")}
        if pids and not pids & old:
            break
        time.sleep(0.2)
    assert pids and not pids & old, "dead workers' live gauges were not dropped"
    assert _accepted(text) == sent, "counts of exited workers were lost"
