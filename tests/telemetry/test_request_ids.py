"""One request id follows a message from the webhook to the reply: in the logs and on the reply."""
from __future__ import annotations

import json
import time


def _log_lines(app) -> list[dict]:
    lines = []
    for raw in app.log_path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue            # gunicorn's own lines are not JSON
    return lines


def test_request_id_follows_a_message_from_webhook_to_reply(gunicorn_app, make_config, fake_platform):
    app = gunicorn_app(make_config(log_format="json", log_level="DEBUG"), workers=2)
    given = app.post_generic({"event_id": "rid-1", "chat_id": "c", "user_id": "u", "text": "/help"},
                             headers={"X-Request-ID": "req-from-nginx-1"})
    made = app.post_generic({"event_id": "rid-2", "chat_id": "c", "user_id": "u", "text": "/help"})
    assert given.headers["X-Request-ID"] == "req-from-nginx-1"
    generated = made.headers["X-Request-ID"]
    fake_platform.wait_for(2, timeout=20)
    by_event = {r["json"]["reply_to"]: r for r in fake_platform.received}
    assert by_event["rid-1"]["headers"]["X-Request-ID"] == "req-from-nginx-1"
    assert by_event["rid-2"]["headers"]["X-Request-ID"] == generated
    time.sleep(0.3)
    lines = [entry for entry in _log_lines(app) if entry.get("request_id") == "req-from-nginx-1"]
    messages = " | ".join(entry["msg"] for entry in lines)
    assert "accepted generic/rid-1" in messages                  # the webhook request
    assert "message rid-1 handled" in messages                   # the worker
    assert "delivered" in messages                               # the reply send
    assert len({entry["pid"] for entry in lines}) >= 1
