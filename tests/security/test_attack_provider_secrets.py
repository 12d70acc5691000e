"""Attacks on model providers by someone holding `admin:providers` (finding 6, and 11's unaudited
provider tests): pointing a provider's key variable at one of SmartBot's own secrets or at another
provider's key, moving a provider's base_url to the attacker's server, and using the provider test
as an SSRF probe (redirects followed, the answer's body reflected, the path chosen with `?`/`#`).

The attacker's server is the `canary` listener: it must never receive a request carrying a secret.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.fake_model import FakeModel
from tests.support.httpserver import LoopbackServer, QuietHandler

SLACK_SECRET = "slack-signing-secret-ffee-0123456789"
MAIN_KEY = "sk-main-key-for-the-file-provider-0042"
OWN_KEY = "sk-pat-own-provider-key-7777"
ENV = {"SLACK_SIGNING_SECRET": SLACK_SECRET, "MAIN_API_KEY": MAIN_KEY, "PAT_API_KEY": OWN_KEY}
CANARY_TEXT = "CANARY-BODY-7f3a9c"


def _start(target: Any, fake_model: FakeModel, fake_chat_apis: Any, **overrides: Any) -> Any:
    """The app with a Slack channel (its signing secret in SLACK_SIGNING_SECRET), the file's
    provider `main` (its key in MAIN_API_KEY), and `pat`, who holds admin:providers only."""
    config = {
        "channels": {"slack": {"bot_token": "xoxb-test-token", "signing_secret_env": "SLACK_SIGNING_SECRET",
                               "api_base": fake_chat_apis.url + "/slack/api"}},
        "providers": [{"name": "main", "kind": "openai", "base_url": fake_model.base_url, "model": "fake-1",
                       "api_key_env": "MAIN_API_KEY", "max_retries": 0, "read_timeout": 5.0}],
        **overrides,
    }
    app = target(env=ENV, **config)
    app.add_user("pat", [], permissions=["admin:login", "admin:providers"])
    return app


def _provider(name: str, base_url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "openai", "base_url": base_url, "model": "m-1", "max_retries": 0,
            "read_timeout": 3.0, **extra}


def _everything_seen(canary: Any) -> str:
    return json.dumps([{**h, "body": h["body"].decode("utf-8", "replace")} for h in canary.hits])


def test_a_providers_admin_cannot_send_smartbots_own_secrets_or_another_providers_key_anywhere(
        target, fake_model, fake_chat_apis, canary):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    secrets = {"SLACK_SIGNING_SECRET": SLACK_SECRET, "SMARTBOT_SECRET_KEY": os.environ["SMARTBOT_SECRET_KEY"],
               "MAIN_API_KEY": MAIN_KEY}
    assert pat.post("/providers", _provider("mine", canary.url + "/v1")).status_code == 201
    for i, variable in enumerate(secrets):
        seq = app.last_seq()
        made = pat.post("/providers", _provider(f"steal{i}", canary.url + "/v1", api_key_env=variable))
        assert made.status_code == 422, (variable, made.text)
        assert made.json()["field"] == "api_key_env"
        reason = made.json()["error"]
        if variable == "MAIN_API_KEY":
            assert "main" in reason and "same" in reason, reason
        else:
            assert "SmartBot" in reason, reason
        changed = pat.patch("/providers/mine", {"api_key_env": variable})
        assert changed.status_code == 422 and changed.json()["field"] == "api_key_env", changed.text
        refused = app.audit("provider.refused", since_seq=seq)
        assert len(refused) == 2 and {r["actor"] for r in refused} == {"admin:pat"}
        assert refused[0]["target"] == f"steal{i}" and refused[0]["details"]["field"] == "api_key_env"
        assert pat.post(f"/providers/steal{i}/test").status_code == 404
    assert pat.get("/providers/mine").json()["api_key_env"] == ""
    pat.post("/providers/mine/test")
    for variable, secret in secrets.items():
        assert canary.carried(secret) == [], variable
    everything = json.dumps(app.audit())
    assert not any(secret in everything for secret in secrets.values())


def test_a_provider_row_naming_a_server_secret_before_the_upgrade_never_gets_the_secret(
        target, fake_model, fake_chat_apis, canary):
    """A row written before the key-variable check (or straight into the database) is refused
    where the key is read, not only where it is set."""
    from smartbot.assistant.provider_store import PROVIDERS_VERSION
    from smartbot.storage.runtime_settings import bump
    from smartbot.storage.tables import Provider

    app = _start(target, fake_model, fake_chat_apis)
    now = time.time()
    with app.db.write() as conn:
        conn.execute(sa.insert(Provider.__table__).values(
            name="legacy", kind="openai", base_url=canary.url + "/v1", api_key_env="SLACK_SIGNING_SECRET",
            key_origin=canary.url, model="m-1", params={"max_retries": 0}, enabled=True, source="db",
            created_at=now, updated_at=now))
        bump(conn, app.db, PROVIDERS_VERSION)
    result = app.login("pat").post("/providers/legacy/test").json()
    assert result["ok"] is False and "SmartBot" in result["reason"], result
    assert canary.hits == []


def test_a_new_base_url_gets_no_key_until_the_key_is_confirmed_for_it(target, fake_model, fake_chat_apis, canary,
                                                                      fake_platform):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    made = pat.post("/providers", _provider("own", fake_model.base_url, api_key_env="PAT_API_KEY"))
    assert made.status_code == 201, made.text
    assert pat.post("/providers/own/test").json()["ok"] is True
    assert fake_model.requests[-1]["headers"]["Authorization"] == f"Bearer {OWN_KEY}"

    moved = pat.patch("/providers/own", {"base_url": canary.url + "/v1"})
    assert moved.status_code == 200, moved.text
    tested = pat.post("/providers/own/test").json()
    assert canary.carried(OWN_KEY) == [] and canary.hits == []
    assert tested["ok"] is False and "confirm" in tested["reason"], tested
    assert made.json()["key_confirmed"] is True and moved.json()["key_confirmed"] is False
    # A real model call says why too, and sends nothing either.
    assert pat.put("/models/active", {"default": "own"}).status_code == 200
    assert app.app.post_generic({"event_id": "e1", "chat_id": "c1", "user_id": "u1", "text": "hi"}).status_code == 200
    assert fake_platform.wait_for(1, timeout=15)
    assert canary.hits == []
    assert any("confirm" in json.dumps(r["details"]) for r in app.audit("model.error"))

    seq = app.last_seq()
    confirmed = pat.patch("/providers/own", {"confirm_key": True})
    assert confirmed.status_code == 200 and confirmed.json()["key_confirmed"] is True
    audited = app.audit("provider.key_confirmed", since_seq=seq)
    assert [(r["actor"], r["target"]) for r in audited] == [("admin:pat", "own")]
    assert audited[0]["details"]["origin"] == canary.url and OWN_KEY not in json.dumps(audited)
    assert pat.post("/providers/own/test").json()["ok"] is False        # the canary is no model
    assert canary.carried(OWN_KEY)                                     # ...but it was confirmed


def test_the_provider_test_follows_no_redirect(target, fake_model, fake_chat_apis, canary, second_canary):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    canary.redirect_to(second_canary.url + "/v1/chat/completions", status=307)
    assert pat.post("/providers", _provider("hop", canary.url + "/v1", api_key_env="PAT_API_KEY")).status_code == 201
    result = pat.post("/providers/hop/test").json()
    assert result["ok"] is False and "307" in result["reason"], result
    assert len(canary.hits) == 1 and second_canary.hits == []


class _InternalHandler(QuietHandler):
    def _any(self) -> None:
        owner: InternalService = self.server.owner  # type: ignore[attr-defined]
        owner.hits += 1
        self.read_body()
        self.send(owner.status, owner.body, content_type=owner.content_type)

    do_GET = do_POST = _any


class InternalService(LoopbackServer):
    """A service inside the network that answers anyone: its answers must not come back to the caller."""

    def __init__(self) -> None:
        super().__init__(_InternalHandler)
        self.hits = 0
        self.status, self.body, self.content_type = 200, b"", "application/json"

    def answer(self, status: int, body: Any) -> None:
        if isinstance(body, (bytes, str)):
            self.status, self.body, self.content_type = status, body.encode() if isinstance(body, str) else body, \
                "text/plain"
        else:
            self.status, self.body, self.content_type = status, json.dumps(body).encode(), "application/json"


@pytest.fixture
def internal_service():
    server = InternalService().start()
    yield server
    server.stop()


def test_the_provider_test_reflects_nothing_of_the_answer(target, fake_model, fake_chat_apis, internal_service):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    assert pat.post("/providers", _provider("ssrf", internal_service.url + "/v1")).status_code == 201
    answers = [
        (404, f"internal admin console: {CANARY_TEXT}"),
        (403, {"error": {"message": f"forbidden: {CANARY_TEXT}"}}),
        (200, {"model": CANARY_TEXT, "choices": [{"message": {"role": "assistant", "content": CANARY_TEXT}}]}),
    ]
    for status, body in answers:
        internal_service.answer(status, body)
        resp = pat.post("/providers/ssrf/test")
        assert resp.status_code == 200 and CANARY_TEXT not in resp.text, resp.text
        if status != 200:
            assert resp.json() == {"ok": False, "provider": "ssrf", "kind": resp.json()["kind"],
                                   "reason": resp.json()["reason"]} and str(status) in resp.json()["reason"]
    assert internal_service.hits == len(answers)
    assert CANARY_TEXT not in json.dumps(app.audit())
    assert CANARY_TEXT not in json.dumps(pat.get("/providers").json())


BAD_BASE_URLS = ["{canary}/v1?x=", "{canary}/internal/admin#", "http://user@127.0.0.1:{port}/v1",
                 "http://user:pw@127.0.0.1:{port}/v1", "{canary}/v1\\@example.com", "{canary}/v1 x",
                 "file:///etc/passwd", "http:///v1"]


def test_a_base_url_that_could_choose_another_path_or_host_is_refused(target, fake_model, fake_chat_apis, canary):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    assert pat.post("/providers", _provider("fine", canary.url + "/v1")).status_code == 201
    for template in BAD_BASE_URLS:
        url = template.format(canary=canary.url, port=canary.port)
        seq = app.last_seq()
        made = pat.post("/providers", _provider("odd", url, api_key_env="PAT_API_KEY"))
        assert made.status_code == 422 and made.json()["field"] == "base_url", (url, made.text)
        changed = pat.patch("/providers/fine", {"base_url": url})
        assert changed.status_code == 422 and changed.json()["field"] == "base_url", (url, changed.text)
        refused = app.audit("provider.refused", since_seq=seq)
        assert [r["target"] for r in refused] == ["odd", "fine"], url
        assert "pw" not in json.dumps(refused)
    pat.post("/providers/fine/test")
    assert [h["path"] for h in canary.hits] == ["/v1/chat/completions"]
    assert canary.carried(OWN_KEY) == []


def test_provider_tests_are_audited_without_the_key_and_cannot_flood_the_log(target, fake_model, fake_chat_apis):
    app = _start(target, fake_model, fake_chat_apis, audit={"refusal_audit_interval": 60.0})
    pat = app.login("pat")
    assert pat.post("/providers", _provider("own", fake_model.base_url, api_key_env="PAT_API_KEY")).status_code == 201
    seq = app.last_seq()
    assert pat.post("/providers/own/test").json()["ok"] is True
    first = app.audit("provider.tested", since_seq=seq)
    assert len(first) == 1 and first[0]["actor"] == "admin:pat" and first[0]["target"] == "own"
    assert first[0]["result"] == "ok" and OWN_KEY not in json.dumps(first)
    for _ in range(20):
        assert pat.post("/providers/own/test").status_code == 200
    assert len(app.audit("provider.tested", since_seq=seq)) <= 2       # one per gunicorn worker at most
    fake_model.down = True
    assert pat.post("/providers/own/test").json()["ok"] is False
    failed = [r for r in app.audit("provider.tested", since_seq=seq) if r["result"] != "ok"]
    assert len(failed) == 1 and "503" in failed[0]["details"]["reason"]


def test_a_provider_with_a_key_of_its_own_works_and_may_share_a_key_at_the_same_address(
        target, fake_model, fake_chat_apis, fake_platform):
    app = _start(target, fake_model, fake_chat_apis)
    pat = app.login("pat")
    made = pat.post("/providers", _provider("own", fake_model.base_url, api_key_env="PAT_API_KEY"))
    assert made.status_code == 201 and made.json()["api_key_set"] is True, made.text
    result = pat.post("/providers/own/test").json()
    assert result["ok"] is True and result["model"] == "m-1", result
    shared = pat.post("/providers", _provider("main-mini", fake_model.base_url, api_key_env="MAIN_API_KEY"))
    assert shared.status_code == 201, shared.text
    assert pat.post("/providers/main-mini/test").json()["ok"] is True
    assert fake_model.requests[-1]["headers"]["Authorization"] == f"Bearer {MAIN_KEY}"
    assert pat.put("/models/active", {"default": "own"}).status_code == 200
    assert app.app.post_generic({"event_id": "h1", "chat_id": "c1", "user_id": "u1", "text": "hello"}).status_code \
        == 200
    assert fake_platform.wait_for(1, timeout=15) and fake_platform.texts() == ["echo: hello"]
