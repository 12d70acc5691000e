"""Feishu, DingTalk and WeCom under gunicorn with the shipped config: handshakes and one reply each,
with secrets given the ways an operator would (env override, `_env` variable) in smartbot.toml."""
from __future__ import annotations

import json

import pytest
import requests
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.support.fake_open_platforms import FakeDingTalk, FakeFeishu, FakeWeCom, running
from tests.support.platform_requests import (dingtalk_headers, dingtalk_message, feishu_event, feishu_request,
                                             sample, wecom_get, wecom_message, wecom_post)

FEISHU_SECRET, ENCRYPT_KEY, DING_SECRET, WECOM_SECRET = "fs-secret-gunicorn", "fs-encrypt", "dt-secret", "wc-secret"
WECOM_TOKEN, AES_KEY, CORP_ID = "wc-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww_test_corp"


@pytest.mark.slow
def test_three_platforms_answer_under_gunicorn(gunicorn_app, make_config, fake_model):
    with running(FakeFeishu("cli_test", FEISHU_SECRET)) as feishu, \
            running(FakeDingTalk("ding_test", DING_SECRET)) as dingtalk, \
            running(FakeWeCom(CORP_ID, WECOM_SECRET)) as wecom:
        config = make_config(model=fake_model, log_level="DEBUG", channels={      # DEBUG: still no token in the log
            "feishu": {"app_id": "cli_test", "app_secret": FEISHU_SECRET, "verification_token": "verification-token",
                       "encrypt_key_env": "TEST_FEISHU_ENCRYPT_KEY", "bot_open_id": "ou_bot", "api_base": feishu.url},
            "dingtalk": {"app_key": "ding_test", "app_secret": DING_SECRET, "api_base": dingtalk.url,
                         "session_webhook_hosts": [dingtalk.url]},
            "wecom": {"corp_id": CORP_ID, "agent_id": 1000002, "token": WECOM_TOKEN, "encoding_aes_key": AES_KEY,
                      "api_base": wecom.url},
        })
        app = gunicorn_app(config, env={"TEST_FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
                                        "SMARTBOT_CHANNELS__WECOM__SECRET": WECOM_SECRET})
        crypto = WeChatCrypto(WECOM_TOKEN, AES_KEY, CORP_ID)

        body, headers = feishu_request(sample("feishu_url_verification.json"), ENCRYPT_KEY, signed=False)
        assert requests.post(app.url + "/webhooks/feishu", data=body, headers=headers,
                             timeout=10).json() == {"challenge": "ajls384kdjx98XX"}
        assert app.get("/webhooks/wecom", params=wecom_get(crypto, "echo-123")).text == "echo-123"

        body, headers = feishu_request(feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY)
        assert requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10).status_code == 200
        message = dingtalk_message(sessionWebhook=dingtalk.session_webhook)
        assert requests.post(app.url + "/webhooks/dingtalk", data=json.dumps(message).encode(),
                             headers=dingtalk_headers(DING_SECRET), timeout=10).status_code == 200
        query, body = wecom_post(crypto, wecom_message())
        assert requests.post(app.url + "/webhooks/wecom", params=query, data=body, timeout=10).status_code == 200

        assert json.loads(feishu.wait_delivered(1, timeout=20)[0]["json"]["content"])
        assert dingtalk.wait_delivered(1, timeout=20)[0]["json"]["markdown"]["text"] == "echo: 服务状态"
        assert wecom.wait_delivered(1, timeout=20)[0]["json"]["markdown"]["content"] == "echo: 查看负载"
        log = app.log()
        assert FEISHU_SECRET not in log and WECOM_SECRET not in log and "tok-" not in log
