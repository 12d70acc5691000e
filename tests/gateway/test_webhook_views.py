"""The webhook route answers alike through the fast WSGI route and through Flask, and
`[server] fast_webhook_route = false` sends every webhook through Flask with the same answers.

With the fast route on, requests with a Content-Length take `WebhookRoute` (gateway/views.py) and a
chunked body (no Content-Length) goes on to Flask and the gateway blueprint; with it off, both go to
Flask. Each case is sent both ways over real HTTP, with the setting on and off, and the test checks
which way each took by counting calls of the blueprint's view.
"""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from smartbot.web.security import HEADERS
from tests.conftest import GENERIC_SECRET
from tests.support.signing import generic_request, signature

# What differs between any two answers, whichever route gave them.
_PER_ANSWER = {"date", "server", "x-request-id", "connection", "keep-alive"}


def _msg(event_id: str, text: str = "hello") -> dict[str, str]:
    return {"event_id": event_id, "chat_id": "chat-1", "user_id": "u-1", "text": text}


@pytest.fixture(params=[True, False], ids=["fast-route-on", "fast-route-off"])
def fast(request: pytest.FixtureRequest) -> bool:
    return request.param


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


def _answer(resp: requests.Response) -> tuple[int, Any, dict[str, str]]:
    """Status, body and every header but those that differ between any two answers."""
    headers = {k.lower(): v for k, v in resp.headers.items() if k.lower() not in _PER_ANSWER}
    return resp.status_code, resp.json(), headers


def _app(live_app: Any, make_config: Any, fast: bool, **overrides: Any) -> Any:
    return live_app(make_config(server={"fast_webhook_route": fast}, **overrides))


def test_both_routes_answer_every_case_alike(live_app, make_config, fast):
    app = _app(live_app, make_config, fast, max_body_bytes=4096)
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
        assert sender.flask_calls - calls_before == (0 if fast and not chunked else len(answers[chunked]))
    assert answers[False] == answers[True]
    for status, _, headers in answers[False].values():
        assert headers["content-type"] == "application/json", status
        assert {name.lower(): value for name, value in HEADERS}.items() <= headers.items(), status
    assert answers[False]["new event"][:2] == (200, {"status": "accepted"})
    assert answers[False]["retry of the other route's event"][1] == {"status": "duplicate"}
    assert answers[False]["wrong signature"][0] == 401
    assert answers[False]["malformed json"][0] == 400
    assert answers[False]["oversized"][:2] == (413, {"error": "body larger than 4096 bytes"})
    assert answers[False]["unknown channel"][0] == 404


def test_either_route_echoes_request_ids_and_counts_requests(live_app, make_config, fast):
    app = _app(live_app, make_config, fast)
    sender = _Sender(app)
    given = sender.signed(False, _msg("ev-id"), **{"X-Request-ID": "trace-42"})
    made = sender.signed(False, _msg("ev-id-2"))
    refused = sender.signed(False, _msg("ev-id-3"), secret="wrong-secret")
    assert sender.flask_calls == (0 if fast else 3)
    assert given.headers["X-Request-ID"] == "trace-42"
    assert len(made.headers["X-Request-ID"]) == 32 and made.headers["X-Request-ID"] != "trace-42"
    assert refused.status_code == 401 and refused.headers["X-Request-ID"]
    counts = {}
    for family in text_string_to_metric_families(app.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "smartbot_http_requests_total" and sample.labels["route"] == "/webhooks/<channel>":
                counts[(sample.labels["method"], sample.labels["status"])] = sample.value
    assert counts == {("POST", "200"): 2, ("POST", "401"): 1}


def test_odd_paths_and_methods_are_left_to_flask(live_app, make_config, fast):
    app = _app(live_app, make_config, fast)
    sender = _Sender(app)
    assert requests.post(app.url + "/webhooks/generic/extra", data=b"{}", timeout=10).status_code == 404
    assert requests.post(app.url + "/webhooks/gen%20eric", data=b"{}", timeout=10).status_code == 404
    assert requests.put(app.url + "/webhooks/generic", data=b"{}", timeout=10).status_code == 405
    assert sender.flask_calls == 1       # only the space-named channel matched Flask's route (and is unknown)


def test_an_unexpected_error_is_a_json_500_without_details(live_app, make_config, fast, caplog):
    app = _app(live_app, make_config, fast)
    sender = _Sender(app)

    def broken(channel: str, req: Any) -> Any:
        raise RuntimeError("something private broke")
    app.runtime.ingest.handle = broken
    answers = []
    for chunked in (False, True):
        resp = sender.signed(chunked, _msg(f"ev-500-{chunked}"))
        answers.append(_answer(resp))
        assert "private" not in resp.text
    assert answers[0] == answers[1]
    assert answers[0][:2] == (500, {"error": "internal error; the details are in the server log"})
    assert sender.flask_calls == (1 if fast else 2)
    assert "something private broke" in caplog.text
