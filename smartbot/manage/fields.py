"""Declared input fields: what a body sent to the admin API, or a form sent from the admin page, may
hold. Small declarative fields that name the offending field on failure (Invalid, 422), so both
faces check the same values with the same messages; api/schema.py describes them as JSON Schema
for the OpenAPI document. Plain data in, plain data out: never Flask here."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..i18n.reasons import reason
from ..storage.db import MAX_INTEGER
from .errors import Invalid


@dataclass
class Field:
    required: bool = False
    nullable: bool = False
    description: str = ""

    def check(self, name: str, value: Any) -> Any:
        return value


@dataclass
class Str(Field):
    min_length: int = 0
    max_length: int = 1000
    pattern: str = ""
    choices: tuple[str, ...] = ()

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid(reason("reason.field.string"), name)
        if len(value) < self.min_length:
            raise Invalid(reason("reason.field.min_length", n=self.min_length), name)
        if len(value) > self.max_length:
            raise Invalid(reason("reason.field.max_length", n=self.max_length), name)
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise Invalid(reason("reason.field.pattern", pattern=self.pattern), name)
        if self.choices and value not in self.choices:
            raise Invalid(reason("reason.field.one_of", choices=', '.join(self.choices)), name)
        return value


@dataclass
class Int(Field):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(reason("reason.field.integer"), name)
        minimum = -MAX_INTEGER - 1 if self.minimum is None else self.minimum
        maximum = MAX_INTEGER if self.maximum is None else self.maximum
        if value < minimum:
            raise Invalid(reason("reason.field.at_least", n=minimum), name)
        if value > maximum:
            raise Invalid(reason("reason.field.at_most", n=maximum), name)
        return value


@dataclass
class Num(Field):
    minimum: float | None = None
    maximum: float | None = None

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(reason("reason.field.number"), name)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise Invalid(reason("reason.field.finite"), name)
        if self.minimum is not None and number < self.minimum:
            raise Invalid(reason("reason.field.at_least", n=self.minimum), name)
        if self.maximum is not None and number > self.maximum:
            raise Invalid(reason("reason.field.at_most", n=self.maximum), name)
        return number


@dataclass
class Bool(Field):
    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Invalid(reason("reason.field.bool"), name)
        return value


@dataclass
class List(Field):
    item: Field = field(default_factory=Field)
    max_items: int = 1000

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise Invalid(reason("reason.field.list"), name)
        if len(value) > self.max_items:
            raise Invalid(reason("reason.field.max_items", n=self.max_items), name)
        return [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


@dataclass
class Obj(Field):
    """A free-form JSON object (validated further by the caller), or a nested schema."""
    fields: dict[str, Field] | None = None

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid(reason("reason.field.object"), name)
        if self.fields is None:
            return value
        return validate(self.fields, value, prefix=f"{name}.")


def validate(fields: dict[str, Field], data: Any, partial: bool = False, prefix: str = "") -> dict[str, Any]:
    """The validated subset of `data`; unknown fields and wrong types are errors naming the field."""
    if not isinstance(data, dict):
        raise Invalid(reason("reason.field.json_object"), prefix.rstrip(".") or "body")
    for key in data:
        if key not in fields:
            raise Invalid(reason("reason.field.unknown"), prefix + key)
    out: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in data:
            if spec.required and not partial:
                raise Invalid(reason("reason.field.required"), prefix + key)
            continue
        value = data[key]
        if value is None:
            if not spec.nullable:
                raise Invalid(reason("reason.field.not_null"), prefix + key)
            out[key] = None
            continue
        out[key] = spec.check(prefix + key, value)
    return out
