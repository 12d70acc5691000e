"""Connectors by channel name, imported only when a channel is in connect mode.

A connector may need a websocket library that the default install leaves out; naming the class by
dotted path keeps those imports away from every server that uses webhooks only. A module that is
missing (a platform without a connector in this version) or whose library is not installed is
refused by `check` at start and by `smartbot check-config`, naming what to install.
"""
from __future__ import annotations

import importlib
import importlib.util

from ...errors import ConfigError

# channel -> (module:class, the optional extra whose libraries the module needs, "" for none)
_CONNECTORS: dict[str, tuple[str, str]] = {
    "telegram": ("smartbot.channels.connect.telegram:TelegramPolling", ""),
    "slack": ("smartbot.channels.connect.slack:SlackSocketMode", "slack"),
    "discord": ("smartbot.channels.connect.discord:DiscordGateway", "discord"),
    "dingtalk": ("smartbot.channels.connect.dingtalk:DingTalkStream", "dingtalk"),
    "feishu": ("smartbot.channels.connect.feishu:FeishuLongConnection", "feishu"),
    "wecom": ("smartbot.channels.connect.wecom:WeComLongConnection", "wecom"),
}


def names() -> list[str]:
    return sorted(_CONNECTORS)


def check(channel: str) -> None:
    """ConfigError unless `channel` can run in connect mode here (imports its connector)."""
    connector_class(channel)


def connector_class(channel: str) -> type:
    """The Connector class of `channel`; ConfigError naming the fix when there is none here."""
    key = f"channels.{channel}.mode"
    entry = _CONNECTORS.get(channel)
    if entry is None:
        raise ConfigError(key, f"channel {channel} has no connect mode",
                          f'use mode = "webhook"; connect mode exists for {", ".join(names())}')
    target, extra = entry
    module_name, _, class_name = target.partition(":")
    if importlib.util.find_spec(module_name) is None:
        raise ConfigError(key, f"this version of SmartBot has no connector for {channel} yet",
                          'use mode = "webhook" for it')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        install = f"pip install 'smartbot[{extra}]'" if extra else "reinstall SmartBot"
        raise ConfigError(key, f"the {channel} connector needs a library that is not installed ({exc.name or exc})",
                          install) from None
    return getattr(module, class_name)
