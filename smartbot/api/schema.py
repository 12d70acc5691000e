"""Request body validation: small declarative fields that name the offending field on failure and
describe themselves as JSON Schema for the OpenAPI document."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..db import MAX_INTEGER


class ValidationError(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


@dataclass
class Field:
    required: bool = False
    nullable: bool = False
    description: str = ""

    def check(self, name: str, value: Any) -> Any:
        return value

    def json_schema(self) -> dict[str, Any]:
        return {}


@dataclass
class Str(Field):
    min_length: int = 0
    max_length: int = 1000
    pattern: str = ""
    choices: tuple[str, ...] = ()

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError(name, "must be a string")
        if len(value) < self.min_length:
            raise ValidationError(name, f"must be at least {self.min_length} characters")
        if len(value) > self.max_length:
            raise ValidationError(name, f"must be at most {self.max_length} characters")
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise ValidationError(name, f"must match {self.pattern}")
        if self.choices and value not in self.choices:
            raise ValidationError(name, f"must be one of {', '.join(self.choices)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            out["minLength"] = self.min_length
        if self.pattern:
            out["pattern"] = self.pattern
        if self.choices:
            out["enum"] = list(self.choices)
        return out


@dataclass
class Int(Field):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(name, "must be an integer")
        minimum = -MAX_INTEGER - 1 if self.minimum is None else self.minimum
        maximum = MAX_INTEGER if self.maximum is None else self.maximum
        if value < minimum:
            raise ValidationError(name, f"must be at least {minimum}")
        if value > maximum:
            raise ValidationError(name, f"must be at most {maximum}")
        return value

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


@dataclass
class Num(Field):
    minimum: float | None = None
    maximum: float | None = None

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(name, "must be a number")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError(name, "must be a finite number")
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(name, f"must be at least {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValidationError(name, f"must be at most {self.maximum}")
        return number

    def json_schema(self) -> dict[str, Any]:
        return {"type": "number"}


@dataclass
class Bool(Field):
    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError(name, "must be true or false")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass
class List(Field):
    item: Field = field(default_factory=Field)
    max_items: int = 1000

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError(name, "must be a list")
        if len(value) > self.max_items:
            raise ValidationError(name, f"must have at most {self.max_items} items")
        return [self.item.check(f"{name}[{i}]", v) for i, v in enumerate(value)]

    def json_schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.json_schema(), "maxItems": self.max_items}


@dataclass
class Obj(Field):
    """A free-form JSON object (validated further by the caller), or a nested schema."""
    fields: dict[str, Field] | None = None

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(name, "must be an object")
        if self.fields is None:
            return value
        return validate(self.fields, value, prefix=f"{name}.")

    def json_schema(self) -> dict[str, Any]:
        if self.fields is None:
            return {"type": "object"}
        return object_schema(self.fields)


def validate(fields: dict[str, Field], data: Any, partial: bool = False, prefix: str = "") -> dict[str, Any]:
    """The validated subset of `data`; unknown fields and wrong types are errors naming the field."""
    if not isinstance(data, dict):
        raise ValidationError(prefix.rstrip(".") or "body", "must be a JSON object")
    for key in data:
        if key not in fields:
            raise ValidationError(prefix + key, "is not a known field")
    out: dict[str, Any] = {}
    for key, spec in fields.items():
        if key not in data:
            if spec.required and not partial:
                raise ValidationError(prefix + key, "is required")
            continue
        value = data[key]
        if value is None:
            if not spec.nullable:
                raise ValidationError(prefix + key, "must not be null")
            out[key] = None
            continue
        out[key] = spec.check(prefix + key, value)
    return out


def object_schema(fields: dict[str, Field]) -> dict[str, Any]:
    props = {}
    for key, spec in fields.items():
        prop = spec.json_schema()
        if spec.description:
            prop["description"] = spec.description
        if spec.nullable:
            prop = {"anyOf": [prop, {"type": "null"}]}
        props[key] = prop
    required = [k for k, s in fields.items() if s.required]
    out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    return out
