"""Built-in commands that need no model: /help, /whoami, /reset. Each answers with plain data (the
text, and whether the conversation's memory is cleared); the pipeline's `builtin` handler turns
that into the message's outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..auth import rbac
from ..auth.rbac import Principal
from ..i18n import t


@dataclass(frozen=True)
class BuiltinAnswer:
    text: str
    reset_memory: bool = False


def help_text(principal: Principal, locale: str, bot_name: str) -> BuiltinAnswer:
    lines = [t("help.title", locale, bot_name=bot_name), t("help.builtins", locale), t("help.commands", locale)]
    lines.append(t("help.chat" if rbac.check(principal, "chat").allowed else "help.no_chat", locale))
    return BuiltinAnswer("\n".join(lines))


def whoami(principal: Principal, locale: str, bot_name: str) -> BuiltinAnswer:
    """A bound user by name; a sender not bound yet also gets the `channel:id` identity an admin
    binds, since the display name a platform sends cannot be bound."""
    if principal.user_id is None and principal.identity:
        return BuiltinAnswer(t("whoami.unbound", locale, name=principal.name, roles=principal.role_label,
                               identity=principal.identity))
    return BuiltinAnswer(t("whoami", locale, name=principal.name, roles=principal.role_label))


def reset(principal: Principal, locale: str, bot_name: str) -> BuiltinAnswer:
    return BuiltinAnswer(t("reset.done", locale), reset_memory=True)


BUILTINS: dict[str, Callable[[Principal, str, str], BuiltinAnswer]] = {
    "help": help_text,
    "whoami": whoami,
    "reset": reset,
}
