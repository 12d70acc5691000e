"""CPU cost of the webhook side of Feishu, DingTalk and WeCom: verify + handshake + parse per request.

    python bench/channels_verify.py [--requests 5000]

In process, no HTTP and no database: what each platform's signature check, decryption and
parsing add to an ack (the platforms want an answer within 3-5 s; this should be microseconds).
Requests are built once by the tests' independent signers (wechatpy for WeCom).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wechatpy.enterprise.crypto import WeChatCrypto  # noqa: E402

from smartbot.channels.base import Headers, WebRequest  # noqa: E402
from smartbot.channels.dingtalk import DingTalkChannel, DingTalkConfig  # noqa: E402
from smartbot.channels.feishu import FeishuChannel, FeishuConfig  # noqa: E402
from smartbot.channels.wecom import WeComChannel, WeComConfig  # noqa: E402
from tests.support.platform_requests import (dingtalk_headers, dingtalk_message, feishu_event,  # noqa: E402
                                             feishu_request, wecom_message, wecom_post)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _cases() -> dict[str, tuple[object, WebRequest]]:
    feishu_plain = FeishuChannel(FeishuConfig(app_id="cli", app_secret="s", verification_token="verification-token",
                                              bot_open_id="ou_bot"))
    feishu_enc = FeishuChannel(FeishuConfig(app_id="cli", app_secret="s", verification_token="verification-token",
                                            encrypt_key="bench-key", bot_open_id="ou_bot"))
    dingtalk = DingTalkChannel(DingTalkConfig(app_key="k", app_secret="bench-secret"))
    wecom = WeComChannel(WeComConfig(corp_id="ww_test_corp", agent_id=1000002, secret="s", token="bench-token",
                                     encoding_aes_key=AES_KEY))
    event = feishu_event("feishu_group_mention.json")
    plain_body, plain_headers = feishu_request(event)
    enc_body, enc_headers = feishu_request(event, "bench-key")
    ding_body = json.dumps(dingtalk_message(), ensure_ascii=False).encode()
    query, wecom_body = wecom_post(WeChatCrypto("bench-token", AES_KEY, "ww_test_corp"), wecom_message())

    def req(body: bytes, headers: dict[str, str], args: dict[str, str] | None = None) -> WebRequest:
        return WebRequest("POST", "/webhooks/x", Headers(headers), body, args or {})

    return {"feishu (plain, token)": (feishu_plain, req(plain_body, plain_headers)),
            "feishu (encrypted, signed)": (feishu_enc, req(enc_body, enc_headers)),
            "dingtalk (HMAC sign)": (dingtalk, req(ding_body, dingtalk_headers("bench-secret"))),
            "wecom (SHA-1, AES, XML x2)": (wecom, req(wecom_body, {"Content-Type": "text/xml"}, query))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    print(f"{'platform':30} {'us/request':>11} {'requests/s':>11}")
    for name, (channel, template) in _cases().items():
        started = time.perf_counter()
        for _ in range(args.requests):
            req = WebRequest(template.method, template.path, template.headers, template.body, template.args)
            channel.verify(req)
            assert channel.handshake(req) is None
            assert len(channel.parse(req)) == 1
        per = (time.perf_counter() - started) / args.requests
        print(f"{name:30} {per * 1e6:11.1f} {1 / per:11.0f}")


if __name__ == "__main__":
    main()
