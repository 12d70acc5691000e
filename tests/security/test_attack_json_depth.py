"""Attack: JSON nested thousands of levels deep, sent to every surface that parses a request body as
JSON without a login (the login API, the web chat, the unsigned Feishu webhook) and with one (the
signed generic webhook). Python's parser recurses once per level: past about a thousand it raised
RecursionError, a 500 with a traceback in the log. Each must be a 400 with the reason, before
parsing, and a webhook's refusal is audited like any other."""
from __future__ import annotations

import json

import pytest
import requests

from tests.support.fake_open_platforms import FakeFeishu, running
from tests.support.signing import generic_request

DEEP = b"[" * 5000 + b"]" * 5000
UNCLOSED = b'{"text": ' + b"[" * 5000
REASON = "nested deeper than 64 levels"
JSON_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def feishu():
    with running(FakeFeishu("cli_test", "feishu-app-secret-for-tests")) as server:
        yield server


@pytest.fixture
def app(target, feishu):
    """The app with the Feishu channel unsigned (no encrypt key), as tests/test_channel_feishu.py sets it."""
    return target(channels={"feishu": {"app_id": "cli_test", "app_secret": "feishu-app-secret-for-tests",
                                       "verification_token": "verification-token", "bot_open_id": "ou_bot",
                                       "api_base": feishu.url}})


def _assert_refused(resp: requests.Response) -> None:
    assert resp.status_code == 400, (resp.status_code, resp.text[:300])
    assert REASON in resp.json()["error"]


def _clean_log(app) -> None:
    log = app.app.log()
    assert "RecursionError" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("body", [DEEP, UNCLOSED], ids=["balanced", "unclosed"])
def test_deep_json_to_the_login_api_is_refused_before_parsing(app, body):
    _assert_refused(requests.post(app.url + "/api/v1/auth/login", data=body, headers=JSON_HEADERS, timeout=10))
    _clean_log(app)


@pytest.mark.parametrize("body", [DEEP, UNCLOSED], ids=["balanced", "unclosed"])
def test_deep_json_to_the_web_chat_is_refused_before_parsing(app, fake_model, body):
    resp = requests.post(app.url + "/chat/api/messages", data=body,
                         headers={**JSON_HEADERS, "X-Requested-With": "smartbot"}, timeout=10)
    _assert_refused(resp)
    assert fake_model.calls() == 0
    _clean_log(app)


def test_deep_json_to_the_unsigned_feishu_webhook_is_refused_and_audited(app):
    resp = requests.post(app.url + "/webhooks/feishu", data=DEEP, headers=JSON_HEADERS, timeout=10)
    _assert_refused(resp)
    rows = app.audit("webhook.refused")
    assert [(r["target"], r["details"]["status"]) for r in rows] == [("channel:feishu", 400)]
    assert REASON in rows[0]["details"]["reason"]
    _clean_log(app)


def test_deep_json_to_the_generic_webhook_is_refused_and_audited(app, fake_model):
    body, headers = generic_request(app.app.secret, DEEP)
    _assert_refused(requests.post(app.url + "/webhooks/generic", data=body, headers=headers, timeout=10))
    rows = app.audit("webhook.refused")
    assert [(r["target"], r["details"]["status"]) for r in rows] == [("channel:generic", 400)]
    assert fake_model.calls() == 0
    _clean_log(app)


def test_brackets_inside_strings_and_sixty_levels_of_real_nesting_are_accepted(app, fake_model):
    nested: object = "leaf"
    for _ in range(30):
        nested = {"n": [nested]}                    # 60 levels, 61 inside the payload object
    payload = {"event_id": "deep-ok", "chat_id": "c1", "user_id": "u1", "text": "[" * 5000 + "{" * 5000,
               "extra": nested}
    body, headers = generic_request(app.app.secret, json.dumps(payload).encode())
    resp = requests.post(app.url + "/webhooks/generic", data=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "accepted"
    _clean_log(app)
