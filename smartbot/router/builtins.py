"""Built-in commands that need no model: /help, /whoami, /reset (and the text of /profile). Each answers with plain data (the
text, and whether the conversation's memory is cleared); the pipeline's `builtin` handler turns
that into the message's outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..auth import rbac
from ..auth.rbac import Principal
from ..i18n import t
from .profiles import Profile


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


def profile_text(profile: Profile | None, locale: str) -> str:
    """/profile: the profile in force in this chat. The persona is only said to be there, never
    shown: it is the business's instructions to the model, not the customer's to read."""
    if profile is None:
        return t("profile.none", locale)
    unset = t("profile.unset", locale)
    tools = unset if profile.tools is None else t("profile.on" if profile.tools else "profile.off", locale)
    limits = [t("profile.per_minute", locale, n=profile.messages_per_minute)] if profile.messages_per_minute else []
    limits += [t("profile.per_day", locale, n=profile.tokens_per_day)] if profile.tokens_per_day else []
    return t("profile.in_force", locale, name=profile.name,
             persona=t("profile.own_persona" if profile.system_prompt else "profile.default_persona", locale),
             language=profile.locale or unset, route=profile.model_route or unset,
             knowledge=", ".join(profile.knowledge) or unset, tools=tools, quotas=", ".join(limits) or unset)


BUILTINS: dict[str, Callable[[Principal, str, str], BuiltinAnswer]] = {
    "help": help_text,
    "whoami": whoami,
    "reset": reset,
}
