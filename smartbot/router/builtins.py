"""Built-in commands that need no model: /help, /whoami, /reset."""
from __future__ import annotations

from typing import Callable

from ..auth import rbac
from ..auth.rbac import Principal
from ..i18n import t
from ..pipeline.outcome import Outcome


def help_text(principal: Principal, locale: str, bot_name: str) -> Outcome:
    lines = [t("help.title", locale, bot_name=bot_name), t("help.builtins", locale), t("help.commands", locale)]
    lines.append(t("help.chat" if rbac.check(principal, "chat").allowed else "help.no_chat", locale))
    return Outcome(texts=["\n".join(lines)])


def whoami(principal: Principal, locale: str, bot_name: str) -> Outcome:
    return Outcome(texts=[t("whoami", locale, name=principal.name, roles=principal.role_label)])


def reset(principal: Principal, locale: str, bot_name: str) -> Outcome:
    return Outcome(texts=[t("reset.done", locale)], reset_memory=True)


BUILTINS: dict[str, Callable[[Principal, str, str], Outcome]] = {
    "help": help_text,
    "whoami": whoami,
    "reset": reset,
}
