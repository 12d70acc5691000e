"""[channels.feishu|dingtalk|wecom]: the platforms' own key names, env overrides, secrets from the
environment, errors that name the key, and what `smartbot check-config` says about each."""
from __future__ import annotations

from typing import Any

import pytest

from smartbot.settings import loading
from smartbot.settings.sections import Settings
from smartbot.settings.checks import run_checks
from smartbot.errors import ConfigError

FEISHU = {"app_id": "cli_x", "app_secret": "s" * 20, "verification_token": "v" * 20}
DINGTALK = {"app_key": "ding_x", "app_secret": "d" * 20}
WECOM = {"corp_id": "ww_x", "agent_id": 1000002, "secret": "w" * 20, "token": "t" * 10,
         "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


def _load(tmp_path, env: dict[str, str] | None = None, **channels: dict[str, Any]) -> Settings:
    data = {"database_url": f"sqlite:///{tmp_path / 'x.db'}", "channels": channels}
    return loading.load(data, env={"SMARTBOT_SECRET_KEY": "k" * 40, **(env or {})})


def test_defaults_point_at_the_real_platforms(tmp_path):
    s = _load(tmp_path, feishu=FEISHU, dingtalk=DINGTALK, wecom=WECOM)
    assert s.channels["feishu"].api_base == "https://open.feishu.cn"
    assert s.channels["dingtalk"].api_base == "https://api.dingtalk.com"
    assert s.channels["dingtalk"].session_webhook_hosts == ["oapi.dingtalk.com", "api.dingtalk.com"]
    assert s.channels["wecom"].api_base == "https://qyapi.weixin.qq.com"
    assert s.channels["feishu"].group_trigger == s.channels["dingtalk"].group_trigger == "mention"


def test_secrets_come_from_env_overrides_or_named_variables(tmp_path):
    feishu = {k: v for k, v in FEISHU.items() if k != "app_secret"}
    dingtalk = {"app_key": "ding_x", "app_secret_env": "DING_SECRET"}
    env = {"SMARTBOT_CHANNELS__FEISHU__APP_SECRET": "from-env-override", "DING_SECRET": "from-named-var",
           "SMARTBOT_CHANNELS__WECOM__AGENT_ID": "1000009",
           "SMARTBOT_CHANNELS__DINGTALK__SESSION_WEBHOOK_HOSTS": "oapi.dingtalk.com, Hooks.Example.COM"}
    s = _load(tmp_path, env, feishu=feishu, dingtalk=dingtalk, wecom=WECOM)
    assert s.channels["feishu"].app_secret == "from-env-override"
    assert s.channels["dingtalk"].app_secret == "from-named-var"
    assert s.channels["dingtalk"].session_webhook_hosts == ["oapi.dingtalk.com", "hooks.example.com"]
    assert s.channels["wecom"].agent_id == 1000009


@pytest.mark.parametrize("channel, section, key, words", [
    ("feishu", {k: v for k, v in FEISHU.items() if k != "verification_token"}, "channels.feishu.verification_token",
     "Verification Token"),
    ("feishu", {**FEISHU, "group_trigger": "sometimes"}, "channels.feishu.group_trigger", "mention, always"),
    ("feishu", {**FEISHU, "api_base": "open.feishu.cn"}, "channels.feishu.api_base", "https://"),
    ("dingtalk", {**DINGTALK, "session_webhook_hosts": []}, "channels.dingtalk.session_webhook_hosts", "oapi.dingtalk"),
    ("dingtalk", {"app_secret": "x" * 20}, "channels.dingtalk.app_key", "AppKey"),
    ("dingtalk", {**DINGTALK, "session_webhook_hosts": ["http://hooks.example.com"]},
     "channels.dingtalk.session_webhook_hosts[0]", "plain http is allowed only on 127.0.0.1"),
    ("dingtalk", {**DINGTALK, "session_webhook_hosts": ["oapi.dingtalk.com", "https://oapi.dingtalk.com/robot"]},
     "channels.dingtalk.session_webhook_hosts[1]", "bare host names"),
    ("dingtalk", {**DINGTALK, "session_webhook_hosts": ["user@oapi.dingtalk.com"]},
     "channels.dingtalk.session_webhook_hosts[0]", "bare host names"),
    ("dingtalk", {**DINGTALK, "replay_window": 7200}, "channels.dingtalk.replay_window", "10 to 3600"),
    ("dingtalk", {**DINGTALK, "replay_window": "nan"}, "channels.dingtalk.replay_window", "10 to 3600"),
    ("dingtalk", {**DINGTALK, "replay_window": 1}, "channels.dingtalk.replay_window", "at least 10"),
    ("wecom", {**WECOM, "agent_id": "first"}, "channels.wecom.agent_id", "number"),
    ("wecom", {**WECOM, "encoding_aes_key": "!" * 43}, "channels.wecom.encoding_aes_key", "base64"),
    ("wecom", {**WECOM, "corpid": "typo"}, "channels.wecom.corpid", "corp_id"),
])
def test_bad_settings_name_the_key_and_the_fix(tmp_path, channel, section, key, words):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, **{channel: section})
    assert key in str(err.value) and words in str(err.value)


def test_dingtalk_replay_window_defaults_to_five_minutes_and_the_old_key_only_narrows_it(tmp_path):
    assert _load(tmp_path, dingtalk=DINGTALK).channels["dingtalk"].replay_window == 300
    assert _load(tmp_path, dingtalk={**DINGTALK, "replay_window": 90}).channels["dingtalk"].replay_window == 90
    old = _load(tmp_path, dingtalk={**DINGTALK, "tolerance_seconds": 3600})
    assert old.channels["dingtalk"].replay_window == 300
    assert _load(tmp_path, dingtalk={**DINGTALK, "tolerance_seconds": 120}).channels["dingtalk"].replay_window == 120
    lines: list[str] = []
    run_checks(old, online=False, out=lines.append)
    assert any(line.startswith("[FAIL] channel dingtalk") and "rename it" in line and "replay_window" in line
               for line in lines)


def test_dingtalk_session_webhook_origins_for_a_local_proxy(tmp_path):
    hosts = ["oapi.dingtalk.com", "HTTP://127.0.0.1:8089", "https://proxy.example.com:8443"]
    s = _load(tmp_path, dingtalk={**DINGTALK, "session_webhook_hosts": hosts})
    assert s.channels["dingtalk"].session_webhook_hosts == [h.lower() for h in hosts]


def test_check_config_reports_each_channel(tmp_path):
    s = _load(tmp_path, feishu=FEISHU, dingtalk=DINGTALK, wecom=WECOM)
    lines: list[str] = []
    problems = run_checks(s, online=False, out=lines.append)
    assert any(line.startswith("[FAIL] channel feishu") and "bot_open_id" in line for line in lines)
    assert "[ok] channel dingtalk configured" in lines and "[ok] channel wecom configured" in lines
    assert any("feishu" in p for p in problems)
    fixed = _load(tmp_path, feishu={**FEISHU, "bot_open_id": "ou_bot"})
    lines.clear()
    run_checks(fixed, online=False, out=lines.append)
    assert "[ok] channel feishu configured" in lines
