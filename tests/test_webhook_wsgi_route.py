"""The webhook route answered at the WSGI layer gives the same answers as Flask's route.

Requests with a Content-Length take `gateway/wsgi_route.py`; a chunked body (no Content-Length)
goes on to Flask and the gateway blueprint. Each case is sent both ways over real HTTP, and the
test checks which way each took by counting calls of the blueprint's view.
"""
from __future__ import annotations

import json
import time
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GENERIC_SECRET
from tests.support.signing import generic_request, signature


def _msg(event_id: str, text: str = "hello") -> dict[str, str]:
    return {"event_id": event_id, "chat_id": "chat-1", "user_id": "u-1", "text": text}


class _Sender:
    """Posts to the live app either with a Content-Length or chunked, counting Flask's view calls."""

    def __init__(self, app: Any) -> None:
        self.url = app.url
        self.flask_calls = 0
        view = app.app.view_functions["gateway.webhook"]

        def counted(**kwargs: Any) -> Any:
            self.flask_calls += 1
            return view(**kwargs)
        app.app.view_functions["gateway.webhook"] = counted

    def post(self, chunked: bool, body: bytes, headers: dict[str, str], channel: str = "generic") -> requests.Response:
        data: Any = iter([body]) if chunked else body
        return requests.post(f"{self.url}/webhooks/{channel}", data=data, timeout=10,
                             headers={"Content-Type": "application/json", **headers})

    def signed(self, chunked: bool, payload: Any, secret: str = GENERIC_SECRET, **headers: str) -> requests.Response:
        body, signed = generic_request(secret, payload)
        return self.post(chunked, body, {**signed, **headers})


def _answer(resp: requests.Response) -> tuple[int, Any, str]:
    return resp.status_code, resp.json(), resp.headers["Content-Type"]


def test_both_routes_answer_every_case_alike(live_app, make_config):
    app = live_app(make_config(max_body_bytes=4096))
    sender = _Sender(app)
    now = str(int(time.time()))
    body = json.dumps(_msg("unsigned")).encode()
    answers: dict[bool, dict[str, tuple]] = {}
    for chunked in (False, True):
        tag = "chunked" if chunked else "sized"
        calls_before = sender.flask_calls
        answers[chunked] = {
            "new event": _answer(sender.signed(chunked, _msg(f"ev-{tag}"))),
            "retry of the other route's event": _answer(sender.signed(chunked, _msg("ev-sized"))),
            "wrong signature": _answer(sender.post(chunked, body, {
                "X-SmartBot-Timestamp": now, "X-SmartBot-Signature": signature("wrong", now, body)})),
            "malformed json": _answer(sender.signed(chunked, b'{"event_id": "x",')),
            "oversized": _answer(sender.signed(chunked, _msg(f"big-{tag}", "x" * 8000))),
            "unknown channel": _answer(sender.post(chunked, body, {}, channel="nosuchchannel")),
        }
        assert sender.flask_calls - calls_before == (len(answers[chunked]) if chunked else 0)
    assert answers[False] == answers[True]
    assert answers[False]["new event"] == (200, {"status": "accepted"}, "application/json")
    assert answers[False]["retry of the other route's event"][1] == {"status": "duplicate"}
    assert answers[False]["wrong signature"][0] == 401
    assert answers[False]["malformed json"][0] == 400
    assert answers[False]["oversized"][:2] == (413, {"error": "body larger than 4096 bytes"})
    assert answers[False]["unknown channel"][0] == 404


def test_the_fast_route_echoes_request_ids_and_counts_requests(live_app, make_config):
    app = live_app(make_config())
    sender = _Sender(app)
    given = sender.signed(False, _msg("ev-id"), **{"X-Request-ID": "trace-42"})
    made = sender.signed(False, _msg("ev-id-2"))
    refused = sender.signed(False, _msg("ev-id-3"), secret="wrong-secret")
    assert sender.flask_calls == 0
    assert given.headers["X-Request-ID"] == "trace-42"
    assert len(made.headers["X-Request-ID"]) == 32 and made.headers["X-Request-ID"] != "trace-42"
    assert refused.status_code == 401 and refused.headers["X-Request-ID"]
    counts = {}
    for family in text_string_to_metric_families(app.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "smartbot_http_requests_total" and sample.labels["route"] == "/webhooks/<channel>":
                counts[(sample.labels["method"], sample.labels["status"])] = sample.value
    assert counts == {("POST", "200"): 2, ("POST", "401"): 1}


def test_odd_paths_and_methods_are_left_to_flask(live_app, make_config):
    app = live_app(make_config())
    sender = _Sender(app)
    assert requests.post(app.url + "/webhooks/generic/extra", data=b"{}", timeout=10).status_code == 404
    assert requests.post(app.url + "/webhooks/gen%20eric", data=b"{}", timeout=10).status_code == 404
    assert requests.put(app.url + "/webhooks/generic", data=b"{}", timeout=10).status_code == 405
    assert sender.flask_calls == 1       # only the space-named channel matched Flask's route (and is unknown)


def test_an_unexpected_error_is_a_json_500_without_details(live_app, make_config, caplog):
    app = live_app(make_config())
    sender = _Sender(app)

    def broken(channel: str, req: Any) -> Any:
        raise RuntimeError("something private broke")
    app.runtime.ingest.handle = broken
    for chunked in (False, True):
        resp = sender.signed(chunked, _msg(f"ev-500-{chunked}"))
        assert resp.status_code == 500
        assert resp.json() == {"error": "internal error; the details are in the server log"}
        assert "private" not in resp.text
    assert sender.flask_calls == 1
    assert "something private broke" in caplog.text
