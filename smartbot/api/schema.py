"""The declared input fields (manage/fields.py) as JSON Schema, for the OpenAPI document: the API
describes a body with the same declarations that check it, so the document cannot drift."""
from __future__ import annotations

import functools
from typing import Any

from ..manage.fields import Bool, Field, Int, List, Num, Obj, Str


@functools.singledispatch
def json_schema(spec: Field) -> dict[str, Any]:
    """One field's schema (without its description; object_schema adds that)."""
    return {}


@json_schema.register
def _(spec: Str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "maxLength": spec.max_length}
    if spec.min_length:
        out["minLength"] = spec.min_length
    if spec.pattern:
        out["pattern"] = spec.pattern
    if spec.choices:
        out["enum"] = list(spec.choices)
    return out


@json_schema.register
def _(spec: Int) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer"}
    if spec.minimum is not None:
        out["minimum"] = spec.minimum
    if spec.maximum is not None:
        out["maximum"] = spec.maximum
    return out


@json_schema.register
def _(spec: Num) -> dict[str, Any]:
    return {"type": "number"}


@json_schema.register
def _(spec: Bool) -> dict[str, Any]:
    return {"type": "boolean"}


@json_schema.register
def _(spec: List) -> dict[str, Any]:
    return {"type": "array", "items": json_schema(spec.item), "maxItems": spec.max_items}


@json_schema.register
def _(spec: Obj) -> dict[str, Any]:
    if spec.fields is None:
        return {"type": "object"}
    return object_schema(spec.fields)


def object_schema(fields: dict[str, Field]) -> dict[str, Any]:
    props = {}
    for key, spec in fields.items():
        prop = json_schema(spec)
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
