"""Attacks on the DingTalk callback, sent as an attacker sends them to the app under gunicorn.

DingTalk's `sign` covers only the timestamp, so whoever holds one captured (timestamp, sign) pair
can put any body under it. Two things follow: a body can name any `sessionWebhook` (where the
reply, command output included, is sent), and a body can claim any sender (an admin-bound staff
id). The first is stopped by checking the reply URL as the HTTP client reads it; the second by
accepting each pair once, within a short window.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Iterator

import pytest
import requests

from tests.support.executor import add_command
from tests.support.fake_open_platforms import FakeDingTalk, running
from tests.support.platform_requests import dingtalk_headers, dingtalk_message
from tests.support.waiting import wait_until

APP_KEY, APP_SECRET = "ding_attack", "dingtalk-secret-under-attack"
ADMIN_STAFF_ID = "staff-admin-1"


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalk]:
    with running(FakeDingTalk(APP_KEY, APP_SECRET)) as server:
        yield server


@pytest.fixture
def canary_dir() -> Iterator[str]:
    """A folder the command user ("nobody" when the tests run as root) can write a canary file in."""
    path = tempfile.mkdtemp(prefix="smartbot-canary-")
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _section(dingtalk: FakeDingTalk, **extra: Any) -> dict[str, Any]:
    return {"dingtalk": {"app_key": APP_KEY, "app_secret": APP_SECRET, "api_base": dingtalk.url, **extra}}


def _post(url: str, message: Any, headers: dict[str, str] | None = None) -> requests.Response:
    body = message if isinstance(message, bytes) else json.dumps(message, ensure_ascii=False).encode()
    return requests.post(url + "/webhooks/dingtalk", data=body, headers=headers or dingtalk_headers(APP_SECRET),
                         timeout=10)


def _direct(text: str, msg_id: str, staff_id: str, webhook: str) -> dict[str, Any]:
    return dingtalk_message(conversationType="1", msgId=msg_id, senderStaffId=staff_id, senderId=f"$:LWCP:${staff_id}",
                            text={"content": text}, sessionWebhook=webhook)


# -- the reply host check (finding 7) --------------------------------------------------------------
def _attack_urls(port: int) -> dict[str, str]:
    path = "/robot/sendBySession?session=stolen-session-77"
    return {
        "backslash before the allowed host": f"http://127.0.0.1:{port}\\@oapi.dingtalk.com{path}",
        "userinfo naming the allowed host": f"https://oapi.dingtalk.com@127.0.0.1:{port}{path}",
        "http scheme on an allowed host": f"http://127.0.0.1:{port}{path}",
        "another port on an allowed host": f"https://127.0.0.1:{port}{path}",
        "trailing-dot host": f"https://oapi.dingtalk.com.{path}",
        "unicode host": f"https://oapi.dingtalk.c\u03bfm{path}",
        "fullwidth host": f"https://\uff4f\uff41\uff50\uff49.dingtalk.com{path}",
        "@ in the path": f"http://127.0.0.1:{port}/@oapi.dingtalk.com{path}",
        "tab before @": f"http://127.0.0.1:{port}\t@oapi.dingtalk.com{path}",
        "encoded backslash": f"http://127.0.0.1:{port}%5C@oapi.dingtalk.com{path}",
    }


@pytest.mark.slow
def test_session_webhook_pointing_elsewhere_is_refused_audited_and_never_called(target, canary, fake_model,
                                                                                dingtalk):
    # A bare host in the list means https on the default port, nothing else: 127.0.0.1 is listed
    # so that the http, other-port and userinfo variants would reach the canary if that leaked.
    t = target(channels=_section(dingtalk, session_webhook_hosts=["oapi.dingtalk.com", "api.dingtalk.com",
                                                                  "127.0.0.1"]))
    t.add_user("boss", ["admin"], identities=[("dingtalk", ADMIN_STAFF_ID)])
    for n, (name, url) in enumerate(_attack_urls(canary.port).items()):
        resp = _post(t.url, _direct("/uptime", f"msgHost{n}", ADMIN_STAFF_ID, url))
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        error = resp.json()["error"]
        assert "sessionWebhook" in error and "channels.dingtalk.session_webhook_hosts" in error, (name, error)
        assert "stolen-session-77" not in error, name
    refused = [row for row in t.audit("webhook.refused") if "sessionWebhook" in row["details"]["reason"]]
    assert len(refused) == len(_attack_urls(canary.port))
    assert all("stolen-session-77" not in json.dumps(row["details"]) for row in refused)
    time.sleep(1.5)
    assert canary.hits == [] and dingtalk.requests == [] and fake_model.calls() == 0
    assert t.audit("command.ran") == [] and t.audit("command.requested") == []


def test_a_stored_reply_is_not_sent_to_a_url_that_fails_the_check_at_send_time(canary, dingtalk):
    """Defence in depth: a reply whose stored context names a bad session webhook (a row written
    before an upgrade, or by a bug) goes through the open API instead, never to that URL."""
    from smartbot.channels.dingtalk import DingTalkChannel, DingTalkConfig
    from smartbot.messages import Reply

    channel = DingTalkChannel(DingTalkConfig(app_key=APP_KEY, app_secret=APP_SECRET, api_base=dingtalk.url,
                                             session_webhook_hosts=["oapi.dingtalk.com", "127.0.0.1"]))
    try:
        for url in _attack_urls(canary.port).values():
            channel.send(Reply("dingtalk", "cid1", "the command output", {
                "session_webhook": url, "session_webhook_expires": time.time() + 3600,
                "conversation_type": "1", "conversation_id": "cid1", "staff_id": "staff001",
                "robot_code": "dingrobot_test"}))
    finally:
        channel.close()
    assert canary.hits == []
    assert len(dingtalk.calls("/v1.0/robot/oToMessages/batchSend")) == len(_attack_urls(canary.port))


@pytest.mark.slow
def test_legitimate_messages_get_one_reply_each_through_the_session_webhook_on_two_workers(target, fake_model,
                                                                                           dingtalk):
    t = target(channels=_section(dingtalk, session_webhook_hosts=[dingtalk.url]))
    for n in range(4):
        message = _direct(f"hello {n}", f"msgLegit{n}", f"staff{n}", dingtalk.session_webhook)
        assert _post(t.url, message).status_code == 200
        assert _post(t.url, message).status_code == 200      # DingTalk's resend: new timestamp, same msgId
    delivered = dingtalk.wait_delivered(4, timeout=20)
    time.sleep(0.8)
    assert len(dingtalk.delivered) == 4 and fake_model.calls() == 4
    assert sorted(d["json"]["markdown"]["text"] for d in delivered) == [f"echo: hello {n}" for n in range(4)]
    assert all(d["path"] == FakeDingTalk.SESSION_PATH for d in delivered)


# -- a captured (timestamp, sign) pair (finding 8) ---------------------------------------------------
def _start_with_admin(target: Any, dingtalk: FakeDingTalk, canary_dir: str, **section: Any) -> Any:
    t = target(channels=_section(dingtalk, session_webhook_hosts=[dingtalk.url], **section))
    t.add_user("boss", ["admin"], identities=[("dingtalk", ADMIN_STAFF_ID)])
    add_command(t.db, "pwn", ["touch", os.path.join(canary_dir, "pwned")], permission="command:run:pwn")
    return t


@pytest.mark.slow
def test_captured_header_pair_with_a_forged_body_is_refused_and_nothing_runs(target, fake_model, dingtalk,
                                                                             canary_dir):
    t = _start_with_admin(target, dingtalk, canary_dir)
    captured = dingtalk_headers(APP_SECRET)
    legit = _direct("服务状态", "msgCaptured", "staff-intern-9", dingtalk.session_webhook)
    assert _post(t.url, legit, captured).status_code == 200
    dingtalk.wait_delivered(1, timeout=20)

    # The same pair within the hour DingTalk allows, under a body of the attacker's: the admin's
    # staff id asks for the admin-only command. Sent several times, so both workers see it.
    forged = _direct("/pwn", "msgForged", ADMIN_STAFF_ID, dingtalk.session_webhook)
    for _ in range(4):
        resp = _post(t.url, forged, captured)
        assert resp.status_code == 401, (resp.status_code, resp.text)
        assert "replayed signature" in resp.json()["error"]
    rows = [row for row in t.audit("webhook.refused") if "replayed signature" in row["details"]["reason"]]
    assert rows and rows[0]["details"]["status"] == 401 and rows[0]["target"] == "channel:dingtalk"

    # The captured request itself, resent unchanged (what DingTalk's own retry would look like if
    # it kept the headers), is no forgery: it is the same message, answered once.
    assert _post(t.url, legit, captured).status_code == 200
    time.sleep(1.5)
    assert not os.path.exists(os.path.join(canary_dir, "pwned"))
    assert t.audit("command.requested") == [] and t.audit("command.ran") == []
    assert len(dingtalk.delivered) == 1 and fake_model.calls() == 1


@pytest.mark.slow
def test_the_admin_command_runs_for_a_freshly_signed_callback(target, fake_model, dingtalk, canary_dir):
    """The control for the test above: the same body under a fresh signature does run."""
    t = _start_with_admin(target, dingtalk, canary_dir)
    assert _post(t.url, _direct("/pwn", "msgFresh", ADMIN_STAFF_ID, dingtalk.session_webhook)).status_code == 200
    assert wait_until(lambda: os.path.exists(os.path.join(canary_dir, "pwned")), timeout=20)
    assert len(dingtalk.wait_delivered(1, timeout=20)) == 1


@pytest.mark.slow
def test_signature_older_than_the_replay_window_is_refused(target, fake_model, dingtalk, canary_dir):
    t = _start_with_admin(target, dingtalk, canary_dir)
    now_ms = int(time.time() * 1000)
    forged = _direct("/pwn", "msgOld", ADMIN_STAFF_ID, dingtalk.session_webhook)
    for name, offset in {"ten minutes old": -600, "ten minutes ahead": 600}.items():
        resp = _post(t.url, forged, dingtalk_headers(APP_SECRET, now_ms + offset * 1000))
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert "window" in resp.json()["error"] and "replay_window" in resp.json()["error"], name
    assert len(t.audit("webhook.refused")) == 2
    time.sleep(1.0)
    assert not os.path.exists(os.path.join(canary_dir, "pwned"))
    assert t.audit("command.ran") == [] and dingtalk.requests == [] and fake_model.calls() == 0


@pytest.mark.slow
def test_replay_window_is_configurable(target, fake_model, dingtalk, canary_dir):
    t = _start_with_admin(target, dingtalk, canary_dir, replay_window=30)
    old = dingtalk_headers(APP_SECRET, int((time.time() - 60) * 1000))
    resp = _post(t.url, _direct("hello", "msgMinute", "staff-7", dingtalk.session_webhook), old)
    assert resp.status_code == 401 and "30 s window" in resp.json()["error"]


# -- the ledger behind it, on SQLite and PostgreSQL ------------------------------------------------
def _use(signature: str, body: bytes, keep_for: float = 300.0) -> Any:
    import hashlib

    from smartbot.channels.base import SingleUse

    return SingleUse(signature, hashlib.sha256(body).hexdigest(), time.time() + keep_for)


def test_ledger_lets_one_of_many_concurrent_forgeries_through_and_keeps_retries(db):
    from concurrent.futures import ThreadPoolExecutor

    from smartbot.gateway.signatures import ReplayedSignature, SignatureLedger

    ledgers = [SignatureLedger(db) for _ in range(2)]       # two processes sharing the database

    def claim(n: int) -> str:
        try:
            ledgers[n % 2].claim("dingtalk", _use("1796600000000\nsig", f"body {n}".encode()))
            return f"body {n}"
        except ReplayedSignature:
            return ""

    with ThreadPoolExecutor(8) as pool:
        winners = [body for body in pool.map(claim, range(16)) if body]
    assert len(winners) == 1
    ledgers[1].claim("dingtalk", _use("1796600000000\nsig", winners[0].encode()))    # the same request again
    ledgers[0].claim("slack", _use("1796600000000\nsig", b"another channel"))        # keys are per channel


def test_ledger_forgets_a_signature_once_it_has_left_the_window(db):
    import sqlalchemy as sa

    from smartbot.gateway.signatures import ReplayedSignature, SignatureLedger
    from smartbot.storage.tables import SeenSignature

    ledger = SignatureLedger(db)
    ledger.claim("dingtalk", _use("old\nsig", b"first", keep_for=-1))      # kept until a second ago
    ledger.claim("dingtalk", _use("old\nsig", b"second"))                   # a leftover does not count
    with pytest.raises(ReplayedSignature):
        ledger.claim("dingtalk", _use("old\nsig", b"third"))
    ledger.claim("dingtalk", _use("gone\nsig", b"x", keep_for=-1))
    ledger._next_sweep = 0.0
    ledger.claim("dingtalk", _use("new\nsig", b"y"))                        # sweeps expired rows as it writes
    with db.read() as conn:
        left = conn.execute(sa.select(SeenSignature.__table__.c.expires_at)).scalars().all()
    assert len(left) == 2 and all(expires > time.time() for expires in left)
