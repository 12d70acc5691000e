"""Attacks on the Feishu webhook with an encrypt key set, sent to the app under gunicorn.

The attacker holds a captured encrypted event (`{"encrypt": ...}`) but not the encrypt key. If
the server decrypts what it cannot authenticate and answers bad padding differently from other
failures, the answers are a padding oracle: the plaintext falls out a byte at a time. So a signed
request is authenticated before it is decrypted, and every way an encrypted body can fail gets
one and the same answer.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from typing import Any, Iterator

import pytest
import requests
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.support.fake_open_platforms import FakeFeishu, running
from tests.support.platform_requests import feishu_event, feishu_request, feishu_signature, sample

APP_ID, APP_SECRET = "cli_attack", "feishu-secret-under-attack"
TOKEN, ENCRYPT_KEY = "verification-token", "feishu-encrypt-key-under-attack"


@pytest.fixture
def feishu() -> Iterator[FakeFeishu]:
    with running(FakeFeishu(APP_ID, APP_SECRET)) as server:
        yield server


@pytest.fixture
def app(target, feishu) -> Any:
    return target(channels={"feishu": {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN,
                                       "encrypt_key": ENCRYPT_KEY, "bot_open_id": "ou_bot", "api_base": feishu.url}})


def _encrypt(plaintext: bytes, pad: bool = True, iv: bytes | None = None) -> bytes:
    """IV + AES-256-CBC ciphertext as Feishu builds it; pad=False leaves the blocks as given."""
    if pad:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    iv = iv or os.urandom(16)
    encryptor = Cipher(algorithms.AES(hashlib.sha256(ENCRYPT_KEY.encode()).digest()), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(plaintext) + encryptor.finalize()


def _envelope(raw: bytes | str) -> bytes:
    blob = raw if isinstance(raw, str) else base64.b64encode(raw).decode()
    return json.dumps({"encrypt": blob}).encode()


def _post(app: Any, body: bytes, signed: bool) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if signed:      # what only a holder of the encrypt key can do: sign a body
        ts, nonce = str(int(time.time())), secrets.token_hex(8)
        headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": feishu_signature(ts, nonce, ENCRYPT_KEY, body)})
    return requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)


def _answer(resp: requests.Response) -> tuple[int, str, bytes]:
    return resp.status_code, resp.headers.get("Content-Type", ""), resp.content


def _failures() -> dict[str, bytes]:
    """Encrypted bodies that fail in every way decryption can fail, one envelope each."""
    event = json.dumps(feishu_event("feishu_p2p_text.json")).encode()
    wrong_token = feishu_event("feishu_p2p_text.json")
    wrong_token["header"]["token"] = "not-the-token"
    return {
        "bad base64": _envelope("!!not base64!!"),
        "not a whole block": _envelope(os.urandom(16 + 7)),
        "bad padding": _envelope(_encrypt(b'{"type": "url_verification", "x": "0123456789"}\x00', pad=False)),
        "bad utf-8": _envelope(_encrypt(b'\xff\xfe{"type": "url_verification"}')),
        "bad json": _envelope(_encrypt(b'{"type": "url_verification", "token": ')),
        "not an object": _envelope(_encrypt(b'["url_verification"]')),
        "wrong token": _envelope(_encrypt(json.dumps(wrong_token).encode())),
        "url check with a wrong token": _envelope(_encrypt(json.dumps(
            dict(sample("feishu_url_verification.json"), token="not-the-token")).encode())),
        "encrypt is not text": json.dumps({"encrypt": 12345}).encode(),
        "a real event, unsigned": _envelope(_encrypt(event)),
    }


@pytest.mark.slow
def test_unsigned_encrypted_event_is_refused_without_telling_anything_about_its_plaintext(app, fake_model, feishu):
    body, _ = feishu_request(feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY)     # a captured event
    garbage = _envelope(os.urandom(64))
    resp = _post(app, body, signed=False)
    assert resp.status_code == 401
    assert "X-Lark-Signature" in resp.json()["error"] and "channels.feishu.encrypt_key" in resp.json()["error"]
    # The answer is the one random bytes get: nothing says whether it decrypted.
    assert _answer(resp) == _answer(_post(app, garbage, signed=False))
    rows = app.audit("webhook.refused")
    assert len(rows) == 2 and all(row["details"]["status"] == 401 for row in rows)
    assert all(ENCRYPT_KEY not in json.dumps(row["details"]) for row in rows)
    time.sleep(1.0)
    assert fake_model.calls() == 0 and feishu.requests == []


@pytest.mark.slow
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_every_decryption_failure_gets_byte_identical_answers(app, fake_model, feishu, signed):
    answers = {name: _answer(_post(app, body, signed)) for name, body in _failures().items()
               if not (signed and name == "a real event, unsigned")}
    assert len(set(answers.values())) == 1, answers
    status, _, content = next(iter(answers.values()))
    assert status == 401 and b"channels.feishu.verification_token" in content
    time.sleep(0.8)
    assert fake_model.calls() == 0 and feishu.requests == []


@pytest.mark.slow
def test_padding_oracle_on_a_captured_event_gets_one_answer_for_every_guess(app, fake_model, feishu):
    """The attack: vary the byte before the last block; a valid padding (\\x01) shows up as a
    different answer for one guess in 256, and from it the plaintext byte. Every guess must get
    the same answer."""
    body, _ = feishu_request(feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY)
    raw = base64.b64decode(json.loads(body)["encrypt"])
    previous, last = bytearray(raw[-32:-16]), raw[-16:]
    answers = set()
    for guess in range(256):
        previous[-1] = guess
        answers.add(_answer(_post(app, _envelope(bytes(previous) + last), signed=False)))
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 401
    assert fake_model.calls() == 0 and feishu.requests == []


@pytest.mark.slow
def test_forged_signature_is_refused_before_decryption(app, fake_model, feishu):
    body, headers = feishu_request(feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY)
    headers["X-Lark-Signature"] = hashlib.sha256(b"a guess").hexdigest()
    resp = requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)
    assert resp.status_code == 401
    assert "X-Lark-Signature does not match" in resp.json()["error"]
    assert "channels.feishu.encrypt_key" in resp.json()["error"]
    assert app.audit("webhook.refused")[0]["details"]["reason"] == resp.json()["error"]


@pytest.mark.slow
def test_console_url_check_is_answered_signed_or_unsigned_and_events_get_one_reply(app, fake_model, feishu):
    """The legitimate uses: the console's challenge (sent unsigned, as Feishu's SDKs expect, or
    signed) and a signed event, on two workers."""
    for signed in (False, True):
        body, headers = feishu_request(sample("feishu_url_verification.json"), ENCRYPT_KEY, signed=signed)
        resp = requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)
        assert resp.status_code == 200 and resp.json() == {"challenge": "ajls384kdjx98XX"}, signed
    for n in range(3):
        body, headers = feishu_request(feishu_event("feishu_p2p_text.json", message_id=f"om_attack_{n}"), ENCRYPT_KEY)
        resp = requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)
        assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert len(feishu.wait_delivered(3, timeout=20)) == 3
    time.sleep(0.5)
    assert len(feishu.delivered) == 3 and app.audit("webhook.refused") == []
