"""Requests as Feishu, DingTalk and WeCom send them, built without SmartBot's code.

Feishu: the documented algorithms (AES-256-CBC with key SHA-256(encrypt_key) and a random IV
prefix; X-Lark-Signature = hex SHA-256(timestamp + nonce + encrypt_key + body)), checked in the
tests against Feishu's published vector and against lark-oapi's own event dispatcher.
DingTalk: the documented sign, base64(HMAC-SHA256(app_secret, timestamp + "\\n" + app_secret)).
WeCom: wechatpy's WeChatCrypto (the SDK the platform's docs point to) does all the crypto.
Samples are the platforms' sample payloads (tests/samples, from shared/platforms/samples).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(name: str) -> Any:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else text


# -- Feishu -------------------------------------------------------------------------------------
def feishu_event(name: str, **message: Any) -> dict[str, Any]:
    """A Feishu sample event, created now, with fields of event.message replaced by `message`."""
    event = copy.deepcopy(sample(name))
    now_ms = str(int(time.time() * 1000))
    event["header"]["create_time"] = now_ms
    event["header"]["event_id"] = secrets.token_hex(16)
    event["event"]["message"]["create_time"] = now_ms
    event["event"]["message"].update(message)
    return event


def feishu_encrypt(encrypt_key: str, plaintext: str) -> str:
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def feishu_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def feishu_request(payload: Any, encrypt_key: str = "", signed: bool = True,
                   timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) as Feishu posts `payload`: encrypted and signed when an encrypt key is given."""
    headers = {"Content-Type": "application/json"}
    if not encrypt_key:
        return json.dumps(payload, ensure_ascii=False).encode(), headers
    body = json.dumps({"encrypt": feishu_encrypt(encrypt_key, json.dumps(payload, ensure_ascii=False))}).encode()
    if signed:
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(8)
        headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": feishu_signature(ts, nonce, encrypt_key, body)})
    return body, headers


# -- DingTalk -----------------------------------------------------------------------------------
def dingtalk_message(**fields: Any) -> dict[str, Any]:
    """The DingTalk group sample with fields replaced (e.g. conversationType="1" for a direct chat)."""
    message = copy.deepcopy(sample("dingtalk_group_at.json"))
    message["createAt"] = int(time.time() * 1000)
    message["sessionWebhookExpiredTime"] = int((time.time() + 5400) * 1000)
    message.update(fields)
    return message


def dingtalk_headers(app_secret: str, timestamp_ms: int | None = None) -> dict[str, str]:
    ts = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    mac = hmac.new(app_secret.encode(), f"{ts}\n{app_secret}".encode(), hashlib.sha256).digest()
    return {"Content-Type": "application/json", "timestamp": ts, "sign": base64.b64encode(mac).decode()}


# -- WeCom --------------------------------------------------------------------------------------
def wecom_message(name: str = "wecom_text_plain.xml", **fields: str) -> str:
    """A WeCom sample message XML, created now, with simple elements replaced."""
    import re

    xml = sample(name)
    fields.setdefault("CreateTime", str(int(time.time())))
    for tag, value in fields.items():
        element = f"<{tag}><![CDATA[{value}]]></{tag}>"      # a function: the value is never a template
        xml, n = re.subn(rf"<{tag}>(<!\[CDATA\[)?.*?(\]\]>)?</{tag}>", lambda _: element, xml)
        assert n == 1, f"the sample has no <{tag}>"
    return xml


def wecom_post(crypto: Any, xml: str, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """(query, body) of a callback POST: wechatpy encrypts and signs, WeCom's server adds AgentID."""
    from xml.etree import ElementTree

    ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(5)
    envelope = ElementTree.fromstring(crypto.encrypt_message(xml, nonce, ts))
    encrypted = envelope.findtext("Encrypt")
    body = (f"<xml><ToUserName><![CDATA[{crypto.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<AgentID><![CDATA[1000002]]></AgentID></xml>").encode()
    return {"msg_signature": envelope.findtext("MsgSignature"), "timestamp": ts, "nonce": nonce}, body


def wecom_get(crypto: Any, echo: str, timestamp: int | None = None) -> dict[str, str]:
    """The query of the console's URL check: echostr is `echo` encrypted, signed like a message."""
    from xml.etree import ElementTree

    ts, nonce = str(int(time.time()) if timestamp is None else timestamp), secrets.token_hex(5)
    envelope = ElementTree.fromstring(crypto.encrypt_message(echo, nonce, ts))
    return {"msg_signature": envelope.findtext("MsgSignature"), "timestamp": ts, "nonce": nonce,
            "echostr": envelope.findtext("Encrypt")}
