"""Channel kinds by name. Adding a platform: one module with a Channel subclass, one row here."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

_MODULES: dict[str, str] = {
    "generic": "smartbot.channels.generic:GenericChannel",
    "webchat": "smartbot.channels.webchat:WebChatChannel",
    "telegram": "smartbot.channels.telegram:TelegramChannel",
    "slack": "smartbot.channels.slack:SlackChannel",
    "discord": "smartbot.channels.discord:DiscordChannel",
}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    channel_class: type
    config_class: type


def names() -> list[str]:
    return sorted(_MODULES)


def spec(name: str) -> ChannelSpec | None:
    target = _MODULES.get(name)
    if target is None:
        return None
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return ChannelSpec(name, cls, cls.config_class)


def build_all(configs: dict[str, Any]) -> dict[str, Any]:
    """Channel instances for every configured channel (plus the always-present web chat)."""
    built = {}
    for name, config in configs.items():
        s = spec(name)
        if s is not None:
            built[name] = s.channel_class(config)
    return built
