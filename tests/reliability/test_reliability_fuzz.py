"""Fuzzing with hypothesis, bounded in time: every webhook parser and the command argument parser.

Webhooks go through the Flask test client of one app with all seven channels configured, with
valid signatures (computed by the platforms' documented algorithms or their SDKs) over fuzzed
bodies, near-valid bodies (a real sample with some fields replaced by anything JSON can hold) and
fuzzed authentication headers. Whatever arrives, the answer is a 2xx or a 4xx with a reason:
never a 500, never an exception. The command parser gets fuzzed chat text and values: it answers
with arguments or CommandRejected, nothing else.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey
from slack_sdk.signature import SignatureVerifier
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.conftest import GENERIC_SECRET
from tests.support.fake_chat_apis import (DISCORD_APP_ID, DISCORD_SIGNING_SEED, SLACK_SIGNING_SECRET,
                                          SLACK_TOKEN, TELEGRAM_SECRET, TELEGRAM_TOKEN, TELEGRAM_USERNAME)
from tests.support.platform_clients import sample
from tests.support.platform_requests import (dingtalk_headers, dingtalk_message, feishu_encrypt, feishu_event,
                                             feishu_request, feishu_signature, wecom_message, wecom_post)
from tests.support.signing import generic_request

NOWHERE = "http://127.0.0.1:9"          # replies to fuzzed messages go nowhere, quickly
FEISHU_KEY = "feishu-encrypt-key-for-fuzz"
DINGTALK_SECRET = "dingtalk-app-secret-for-fuzz-0123456789"
WECOM_TOKEN, WECOM_AES, WECOM_CORP = "wecom-fuzz-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww_fuzz"
FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                      st.text(max_size=40), st.sampled_from(["", "0", "-1", "ou_bot", "p2p", "group", "text",
                                                             "\ud800", "9" * 40, "im.message.receive_v1"]))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) |
                          st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)


def near(value: Any) -> st.SearchStrategy:
    """`value` with any of its fields (at any depth) replaced by arbitrary JSON, or dropped."""
    if isinstance(value, dict):
        keys = st.fixed_dictionaries({}, optional={k: near(v) for k, v in value.items()})
        return st.one_of(keys, st.fixed_dictionaries({k: near(v) for k, v in value.items()}), json_value)
    return st.one_of(st.just(value), json_value)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from smartbot import create_app

    work = tmp_path_factory.mktemp("fuzz")
    config = {
        "database_url": f"sqlite:///{work / 'fuzz.db'}",
        "jobs": {"threads": 2},
        "quotas": {"messages_per_minute_per_role": {}},
        "channels": {
            "generic": {"secret": GENERIC_SECRET, "callback_url": NOWHERE + "/hook"},
            "telegram": {"bot_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET,
                         "bot_username": TELEGRAM_USERNAME, "api_base": NOWHERE},
            "slack": {"bot_token": SLACK_TOKEN, "signing_secret": SLACK_SIGNING_SECRET, "api_base": NOWHERE},
            "discord": {"application_id": DISCORD_APP_ID, "api_base": NOWHERE,
                        "public_key": SigningKey(DISCORD_SIGNING_SEED).verify_key.encode().hex()},
            "feishu": {"app_id": "cli_fuzz", "app_secret": "feishu-fuzz-secret", "verification_token": "verification-token",
                       "encrypt_key": FEISHU_KEY, "bot_open_id": "ou_bot", "api_base": NOWHERE},
            "dingtalk": {"app_key": "ding_fuzz", "app_secret": DINGTALK_SECRET, "api_base": NOWHERE},
            "wecom": {"corp_id": WECOM_CORP, "agent_id": 1000002, "secret": "wecom-fuzz-secret",
                      "token": WECOM_TOKEN, "encoding_aes_key": WECOM_AES, "api_base": NOWHERE},
        },
    }
    app = create_app(config)
    yield app.test_client()
    runtime = app.extensions["smartbot"]
    runtime.stop(timeout=5)
    runtime.db.dispose()


def _check(resp) -> None:
    assert resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    if resp.status_code >= 400:
        assert resp.get_json()["error"], resp.get_data(as_text=True)


def _body(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


# -- signed requests over fuzzed bodies, one per channel --------------------------------------
def post_generic(client, payload):
    body, headers = generic_request(GENERIC_SECRET, _body(payload))
    return client.post("/webhooks/generic", data=body, headers=headers)


def post_telegram(client, payload):
    return client.post("/webhooks/telegram", data=_body(payload), headers={
        "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})


def post_slack(client, payload):
    body, ts = _body(payload), str(int(time.time()))
    try:
        signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(timestamp=ts, body=body.decode())
    except UnicodeDecodeError:          # the SDK signs text only; Slack's v0 scheme is over the raw bytes
        mac = hmac.new(SLACK_SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        signature = "v0=" + mac.hexdigest()
    return client.post("/webhooks/slack", data=body, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature})


def post_discord(client, payload):
    body, ts = _body(payload), str(int(time.time()))
    signed = SigningKey(DISCORD_SIGNING_SEED).sign(ts.encode() + body)
    return client.post("/webhooks/discord", data=body, headers={
        "Content-Type": "application/json", "X-Signature-Ed25519": signed.signature.hex(),
        "X-Signature-Timestamp": ts})


def post_feishu(client, payload):
    """Encrypted and signed as Feishu does it; raw bytes are signed as the envelope itself."""
    if isinstance(payload, bytes):
        body = payload
    else:                                   # ASCII escapes carry even lone surrogates, as JSON allows
        body = json.dumps({"encrypt": feishu_encrypt(FEISHU_KEY, json.dumps(payload))}).encode()
    ts, nonce = str(int(time.time())), "fuzz-nonce"
    return client.post("/webhooks/feishu", data=body, headers={
        "Content-Type": "application/json", "X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": feishu_signature(ts, nonce, FEISHU_KEY, body)})


def post_dingtalk(client, payload):
    return client.post("/webhooks/dingtalk", data=_body(payload), headers=dingtalk_headers(DINGTALK_SECRET))


def post_wecom(client, payload):
    crypto = WeChatCrypto(WECOM_TOKEN, WECOM_AES, WECOM_CORP)
    xml = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    query, body = wecom_post(crypto, xml)
    return client.post("/webhooks/wecom", query_string=query, data=body)


CHANNELS = {
    "generic": (post_generic, lambda: {"event_id": "e1", "chat_id": "c", "user_id": "u", "text": "hi"}),
    "telegram": (post_telegram, lambda: sample("telegram_group_mention.json")),
    "slack": (post_slack, lambda: sample("slack_app_mention.json")),
    "discord": (post_discord, lambda: sample("discord_slash_ask.json")),
    "feishu": (post_feishu, lambda: feishu_event("feishu_group_mention.json")),
    "dingtalk": (post_dingtalk, lambda: dingtalk_message()),
}


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_signed_fuzzed_bodies_never_get_a_500(client, name):
    post, base = CHANNELS[name]

    @FUZZ
    @given(payload=st.one_of(near(base()), json_value, st.binary(max_size=200)))
    def run(payload):
        _check(post(client, payload))

    run()


XML_FIELD = st.sampled_from(["MsgType", "Content", "MsgId", "FromUserName", "CreateTime", "AgentID", "ToUserName"])
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00]"), max_size=40)


@FUZZ
@given(fields=st.dictionaries(XML_FIELD, xml_text, max_size=4), raw=st.one_of(st.none(), xml_text))
def test_wecom_signed_fuzzed_xml_never_gets_a_500(client, fields, raw):
    if raw is not None:
        _check(post_wecom(client, raw))                          # whatever text, encrypted and signed
        return
    try:
        xml = wecom_message(**fields)
    except AssertionError:
        return
    _check(post_wecom(client, xml))


AUTH_HEADERS = {
    "generic": ["X-SmartBot-Timestamp", "X-SmartBot-Signature"],
    "telegram": ["X-Telegram-Bot-Api-Secret-Token"],
    "slack": ["X-Slack-Request-Timestamp", "X-Slack-Signature"],
    "discord": ["X-Signature-Ed25519", "X-Signature-Timestamp"],
    "feishu": ["X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"],
    "dingtalk": ["timestamp", "sign"],
}


@pytest.mark.parametrize("name", sorted(AUTH_HEADERS))
def test_fuzzed_authentication_headers_are_refused_with_a_reason(client, name):
    _, base = CHANNELS[name]
    body = json.dumps(base()).encode()
    if name == "feishu":
        body = feishu_request(base(), FEISHU_KEY)[0]

    @FUZZ
    @given(values=st.fixed_dictionaries({h: header_text for h in AUTH_HEADERS[name]}))
    def run(values):
        resp = client.post(f"/webhooks/{name}", data=body, headers={"Content-Type": "application/json", **values})
        assert resp.status_code in (400, 401), (resp.status_code, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["error"]

    run()


@pytest.mark.parametrize("name,header", [("generic", "X-SmartBot-Timestamp"), ("slack", "X-Slack-Request-Timestamp"),
                                         ("discord", "X-Signature-Timestamp")])
@pytest.mark.parametrize("digits", ["\u00b2", "\u0661\u0662\u0663", "\uff11\uff12"])
def test_timestamps_in_other_scripts_digits_are_refused_not_a_500(client, name, header, digits):
    """Found by the fuzzer: str.isdigit() accepts superscripts and other scripts' digits, int() not."""
    _, base = CHANNELS[name]
    headers = {h: "0" for h in AUTH_HEADERS[name]}
    headers[header] = digits
    resp = client.post(f"/webhooks/{name}", data=json.dumps(base()).encode(), headers=headers)
    assert resp.status_code == 401 and "unix seconds" in resp.get_json()["error"], resp.get_data(as_text=True)


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["msg_signature", "timestamp", "nonce", "echostr"]), header_text),
       method=st.sampled_from(["GET", "POST"]), body=st.binary(max_size=100))
def test_wecom_fuzzed_query_is_refused_with_a_reason(client, query, method, body):
    resp = client.open("/webhooks/wecom", method=method, query_string=query, data=body)
    assert resp.status_code in (400, 401), (resp.status_code, resp.get_data(as_text=True)[:300])


# -- the command argument parser ----------------------------------------------------------------
@pytest.fixture(scope="module")
def catalogue_spec(tmp_path_factory):
    from smartbot.executor.catalogue import check_definition

    root = tmp_path_factory.mktemp("logs")
    (root / "app.log").write_text("x\n")
    spec = check_definition({"name": "fuzzcmd", "argv": ["tail", "-n", "{lines}", "{file}", "{mode}", "{tag}"],
                          "permission": "command:run:fuzzcmd", "params": [
                              {"name": "file", "type": "path", "roots": [str(root)]},
                              {"name": "lines", "type": "int", "min": 1, "max": 500, "default": 20,
                               "required": False},
                              {"name": "mode", "type": "enum", "choices": ["short", "long"], "required": False},
                              {"name": "tag", "type": "regex", "pattern": "[a-z]{1,8}", "required": False}]})
    return spec


def _no_lists(name: str) -> list[str]:
    return []


@FUZZ
@given(text=st.text(max_size=120))
def test_command_argument_parser_answers_arguments_or_a_refusal(catalogue_spec, text):
    from smartbot.errors import CommandRejected
    from smartbot.executor.catalogue import bind_args, build_argv, parse_chat_args

    try:
        argv, checked = build_argv(catalogue_spec, bind_args(catalogue_spec, parse_chat_args(text)), _no_lists)
    except CommandRejected as exc:
        assert exc.reason
        return
    assert argv[0] == "tail" and all(isinstance(a, str) and "\x00" not in a for a in argv)
    assert not any(a.startswith("-") for a in argv[3:])


@FUZZ
@given(named=st.dictionaries(st.sampled_from(["file", "lines", "mode", "tag", "other"]), json_value, max_size=4))
def test_tool_call_arguments_of_any_json_type_are_checked_or_refused(catalogue_spec, named):
    from smartbot.errors import CommandRejected
    from smartbot.executor.catalogue import bind_args, build_argv

    try:
        build_argv(catalogue_spec, bind_args(catalogue_spec, named=named), _no_lists)
    except CommandRejected as exc:
        assert exc.reason


def test_a_lone_surrogate_in_a_tool_argument_is_refused_not_a_crash(catalogue_spec):
    """Found by the fuzzer: a model's tool call is JSON, and JSON may carry "\\ud800"; the path check
    then crashed encoding it for the file system."""
    from smartbot.errors import CommandRejected
    from smartbot.executor.catalogue import bind_args, build_argv

    for value in ("\ud800", "app\udfff.log"):
        with pytest.raises(CommandRejected):
            build_argv(catalogue_spec, bind_args(catalogue_spec, named={"file": value}), _no_lists)
