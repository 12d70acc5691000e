"""Whether a group message is addressed to the bot: the per-channel `group_trigger` setting.

"mention" (the default): only messages that mention the bot count, and the router's
"group-not-addressed" rule ignores the rest (commands excepted). "always": every group message
the platform delivers counts as addressed. Direct messages are always addressed. This module
decides nothing else: the mention itself is found by each channel in its platform's own way.
"""
from __future__ import annotations

from typing import Any

from ...messages import DIRECT
from ...settings.schema import setting

MENTION = "mention"
ALWAYS = "always"


def group_trigger_setting() -> Any:
    """The `group_trigger` field of a channel's config dataclass."""
    return setting(MENTION, choices=(MENTION, ALWAYS),
                   help='"mention": answer in groups only when mentioned; "always": every group message')


def addressed(chat_type: str, mentioned: bool, trigger: str) -> bool:
    """The InboundMessage.mentioned value: the router reads it as "addressed to the bot"."""
    return chat_type == DIRECT or mentioned or trigger == ALWAYS
