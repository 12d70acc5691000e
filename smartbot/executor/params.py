"""Typed command parameters: what a value may be, checked before anything runs.

Four types: `enum` (one of a list, or of an operator's allow list), `int` (a range), `regex`
(ASCII-only full match) and `path` (resolves, symlinks followed, to a place under an allowed root).
Every value is refused when it holds a NUL, a newline or any other control or format character,
when it is too long, or when it starts with "-" (it could be read as an option) unless the
parameter says `allow_dash`. A parameter marked `secret` (or named like one: `token`, `password`)
is masked in the audit log and wherever the command's output is stored. A value is never split,
joined or re-parsed: it becomes exactly one argv element. This module must never consult the
user's permissions: that is the caller's job.
"""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import CommandRejected
from ..i18n.reasons import reason

TYPES = ("enum", "int", "regex", "path")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_INT = re.compile(r"^-?[0-9]{1,18}$")
MAX_LENGTH = 4096
# The operator's [executor] lists a parameter may draw its choices or roots from (`choices_from`, `roots_from`).
ALLOW_LISTS = ("allowed_hosts", "log_files", "path_roots", "services")
_KEYS = {"name", "type", "description", "required", "default", "allow_dash", "max_length", "choices",
         "choices_from", "min", "max", "pattern", "roots", "roots_from", "must_exist", "secret"}


class ParamError(ValueError):
    """A parameter definition is wrong; `field` names the key within it."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    description: str = ""
    required: bool = True
    default: str | None = None
    allow_dash: bool = False
    max_length: int = 256
    choices: tuple[str, ...] = ()
    choices_from: str = ""
    min: int | None = None
    max: int | None = None
    pattern: str = ""
    roots: tuple[str, ...] = ()
    roots_from: str = ""
    must_exist: bool = True
    secret: bool = False
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for key in ("description", "default", "choices_from", "pattern", "roots_from"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if not self.required:
            out["required"] = False
        if self.allow_dash:
            out["allow_dash"] = True
        if self.secret:
            out["secret"] = True
        if self.max_length != 256:
            out["max_length"] = self.max_length
        for key in ("choices", "roots"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.type == "path" and not self.must_exist:
            out["must_exist"] = False
        return out


def parse_param(raw: Any, allow_lists: tuple[str, ...]) -> ParamSpec:
    """A ParamSpec from its stored/declared dict; ParamError names the offending key."""
    if not isinstance(raw, dict):
        raise ParamError("", "must be an object like {\"name\": \"lines\", \"type\": \"int\"}")
    for key in raw:
        if key not in _KEYS:
            raise ParamError(str(key), "is not a known parameter key")
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not NAME.match(name):
        raise ParamError("name", "must be lower-case letters, digits and _ (starting with a letter)")
    if kind not in TYPES:
        raise ParamError("type", f"must be one of {', '.join(TYPES)}")
    values: dict[str, Any] = {"name": name, "type": kind}
    for key, typ in (("description", str), ("required", bool), ("allow_dash", bool), ("must_exist", bool),
                     ("secret", bool), ("pattern", str), ("choices_from", str), ("roots_from", str)):
        if key in raw:
            if not isinstance(raw[key], typ):
                raise ParamError(key, f"must be {'true or false' if typ is bool else 'text'}")
            values[key] = raw[key]
    if "max_length" in raw:
        values["max_length"] = _int_option(raw, "max_length", 1, MAX_LENGTH)
    for key in ("min", "max"):
        if key in raw:
            values[key] = _int_option(raw, key, -(10 ** 18), 10 ** 18)
    for key in ("choices", "roots"):
        if key in raw:
            items = raw[key]
            if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
                raise ParamError(key, "must be a list of non-empty strings")
            values[key] = tuple(items)
    for key in ("choices_from", "roots_from"):
        if values.get(key) and values[key] not in allow_lists:
            raise ParamError(key, f"must name one of the [executor] lists: {', '.join(allow_lists)}")
    spec = ParamSpec(**values)
    spec = _check_kind(spec)
    if "default" in raw:
        if raw["default"] is None or isinstance(raw["default"], (bool, list, dict, float)):
            raise ParamError("default", "must be text or a whole number")
        spec = _replace(spec, default=str(raw["default"]), required=False)
    return spec


def _int_option(raw: dict[str, Any], key: str, low: int, high: int) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParamError(key, f"must be a whole number from {low} to {high}")
    return value


def _replace(spec: ParamSpec, **changes: Any) -> ParamSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _check_kind(spec: ParamSpec) -> ParamSpec:
    if spec.type == "enum" and not spec.choices and not spec.choices_from:
        raise ParamError("choices", "an enum needs `choices` or `choices_from`")
    if spec.type == "int" and (spec.min is None or spec.max is None or spec.min > spec.max):
        raise ParamError("min", "an int needs `min` and `max`, with min <= max")
    if spec.type == "regex":
        if not spec.pattern:
            raise ParamError("pattern", "a regex parameter needs a `pattern`")
        try:
            compiled = re.compile(spec.pattern, re.ASCII)
        except re.error as exc:
            raise ParamError("pattern", f"does not compile: {exc}") from None
        return _replace(spec, compiled=compiled)
    if spec.type == "path":
        if not spec.roots and not spec.roots_from:
            raise ParamError("roots", "a path needs `roots` or `roots_from`")
        for root in spec.roots:
            if not root.startswith("/"):
                raise ParamError("roots", f"{root!r} is not an absolute path")
    return spec


def _check_text(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CommandRejected(reason("reason.arg.not_text", name=spec.name, kind=type(value).__name__))
    text = str(value)
    if len(text) > spec.max_length:
        raise CommandRejected(reason("reason.arg.too_long", name=spec.name, n=spec.max_length))
    for ch in text:
        # Cs: a lone UTF-16 surrogate, which JSON (a model's tool call) can carry and no OS can encode
        if ch in "\x00\n\r" or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise CommandRejected(reason("reason.arg.control", name=spec.name, code=f"U+{ord(ch):04X}"))
    if not text:
        raise CommandRejected(reason("reason.arg.empty", name=spec.name))
    return text


AllowList = Callable[[str], list[str]]


def check_value(spec: ParamSpec, value: Any, allow_list: AllowList) -> str:
    """The one argv element `value` becomes, or CommandRejected with a reason the user can act on."""
    if spec.type == "int" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = _check_text(spec, value)
    if spec.type == "enum":
        choices = list(spec.choices) + (allow_list(spec.choices_from) if spec.choices_from else [])
        if text not in choices:
            shown = ", ".join(choices[:20]) if choices else reason("reason.arg.no_choices")
            raise CommandRejected(reason("reason.arg.one_of", name=spec.name, choices=shown))
    elif spec.type == "int":
        if not _INT.match(text):
            raise CommandRejected(reason("reason.arg.digits", name=spec.name))
        number = int(text)
        if not spec.min <= number <= spec.max:  # type: ignore[operator]
            raise CommandRejected(reason("reason.arg.range", name=spec.name, low=spec.min, high=spec.max))
        text = str(number)
    elif spec.type == "regex":
        assert spec.compiled is not None
        if not spec.compiled.fullmatch(text):
            raise CommandRejected(reason("reason.arg.pattern", name=spec.name, pattern=spec.pattern))
    elif spec.type == "path":
        text = _check_path(spec, text, allow_list)
    if text.startswith("-") and not spec.allow_dash:
        raise CommandRejected(reason("reason.arg.dash", name=spec.name))
    return text


def _check_path(spec: ParamSpec, text: str, allow_list: AllowList) -> str:
    if ".." in text.split("/"):
        raise CommandRejected(reason("reason.arg.dotdot", name=spec.name))
    roots = list(spec.roots) + (allow_list(spec.roots_from) if spec.roots_from else [])
    if not roots:
        raise CommandRejected(reason("reason.arg.no_paths", name=spec.name))
    candidate = text if text.startswith("/") else os.path.join(roots[0], text)
    resolved = os.path.realpath(candidate)
    inside = any(resolved == real or resolved.startswith(real.rstrip("/") + "/")
                 for real in (os.path.realpath(root) for root in roots))
    if not inside:      # said before existence, so nothing is learnt about paths outside the roots
        raise CommandRejected(reason("reason.arg.outside", name=spec.name, path=text))
    if spec.must_exist and not os.path.exists(resolved):
        raise CommandRejected(reason("reason.arg.missing_path", name=spec.name, path=text))
    return resolved


def json_schema(spec: ParamSpec, allow_list: AllowList) -> dict[str, Any]:
    """How a tool-calling model sees the parameter (the same checks still run on what it sends)."""
    out: dict[str, Any] = {"description": spec.description or spec.name}
    if spec.type == "enum":
        out.update(type="string", enum=list(spec.choices) + (allow_list(spec.choices_from) if spec.choices_from else []))
    elif spec.type == "int":
        out.update(type="integer", minimum=spec.min, maximum=spec.max)
    elif spec.type == "regex":
        out.update(type="string", pattern=spec.pattern, maxLength=spec.max_length)
    else:
        roots = list(spec.roots) + (allow_list(spec.roots_from) if spec.roots_from else [])
        out.update(type="string", description=f"{out['description']} (a path under: {', '.join(roots) or 'none'})")
    return out
