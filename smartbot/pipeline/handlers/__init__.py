"""What each routing action does. One module per action; `HANDLERS` maps action -> function."""
from __future__ import annotations

from .base import HandlerContext
from .builtin import handle_builtin
from .chat import handle_chat
from .command import handle_command
from .handoff import handle_handoff
from .workflow import handle_workflow

HANDLERS = {
    "builtin": handle_builtin,
    "chat": handle_chat,
    "command": handle_command,
    "workflow": handle_workflow,
    "handoff": handle_handoff,
}

__all__ = ["HANDLERS", "HandlerContext"]
