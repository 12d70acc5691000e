"""What each routing action does. One module per action; `HANDLERS` maps action -> function."""
from __future__ import annotations

from .base import HandlerContext
from .builtin import handle_builtin
from .chat import handle_chat

HANDLERS = {
    "builtin": handle_builtin,
    "chat": handle_chat,
}

__all__ = ["HANDLERS", "HandlerContext"]
