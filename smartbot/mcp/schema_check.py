"""Checking a tool call's arguments against the tool's inputSchema before anything is sent.

A small subset of JSON Schema, enough for what MCP servers declare: type (one or a list), required,
properties, additionalProperties (false or a schema), enum, const, minimum/maximum (and the
exclusive ones), minLength/maxLength, minItems/maxItems, items. Keywords it does not know are
ignored (the server checks its own schema again); what it checks, it checks strictly: a bool is
not an integer, NaN is no number. Returns problems as text, never raises on a hostile schema.
"""
from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 32
MAX_PROBLEMS = 5

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or
    (isinstance(v, float) and math.isfinite(v) and v.is_integer()),
    "number": lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)),
}


def problems(value: Any, schema: Any) -> list[str]:
    """Why `value` does not fit `schema` ([] when it does)."""
    found: list[str] = []
    _check(value, schema, "arguments", found, 0)
    return found[:MAX_PROBLEMS]


def coerce(arguments: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Text arguments turned into the integer, number or boolean their property's type asks for,
    when they read as one (a workflow's templates always render text); anything else unchanged."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return arguments
    out = dict(arguments)
    for name, value in arguments.items():
        kind = properties.get(name, {}).get("type") if isinstance(properties.get(name), dict) else None
        if isinstance(value, str) and kind in ("integer", "number", "boolean"):
            out[name] = _from_text(value.strip(), kind)
    return out


def _from_text(text: str, kind: str) -> Any:
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    try:
        number = int(text) if kind == "integer" else float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _check(value: Any, schema: Any, where: str, found: list[str], depth: int) -> None:
    if not isinstance(schema, dict) or len(found) >= MAX_PROBLEMS:
        return
    if depth > MAX_DEPTH:
        found.append(f"{where} is nested too deeply")
        return
    wanted = schema.get("type")
    kinds = [wanted] if isinstance(wanted, str) else [k for k in wanted if isinstance(k, str)] \
        if isinstance(wanted, list) else []
    if kinds and not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
        found.append(f"{where} must be {' or '.join(kinds)}")
        return
    if "enum" in schema and isinstance(schema["enum"], list) and not _among(value, schema["enum"]):
        found.append(f"{where} must be one of {', '.join(repr(x) for x in schema['enum'][:10])}")
    if "const" in schema and not _among(value, [schema["const"]]):
        found.append(f"{where} must be {schema['const']!r}")
    if _TYPES["number"](value):
        _bounds(value, schema, where, found)
    if isinstance(value, str):
        _lengths(len(value), schema, "minLength", "maxLength", f"{where} must have", "characters", found)
    if isinstance(value, list):
        _lengths(len(value), schema, "minItems", "maxItems", f"{where} must have", "items", found)
        for i, item in enumerate(value[:1000]):
            _check(item, schema.get("items"), f"{where}[{i}]", found, depth + 1)
    if isinstance(value, dict):
        _object(value, schema, where, found, depth)


def _among(value: Any, options: list[Any]) -> bool:
    return any(type(value) is type(o) and value == o or (_TYPES["number"](value) and _TYPES["number"](o)
                                                       and value == o) for o in options)


def _bounds(value: float, schema: dict[str, Any], where: str, found: list[str]) -> None:
    for key, fails, words in (("minimum", lambda v, b: v < b, "at least"), ("maximum", lambda v, b: v > b, "at most"),
                              ("exclusiveMinimum", lambda v, b: v <= b, "more than"),
                              ("exclusiveMaximum", lambda v, b: v >= b, "less than")):
        bound = schema.get(key)
        if _TYPES["number"](bound) and fails(value, bound):
            found.append(f"{where} must be {words} {bound}")


def _lengths(size: int, schema: dict[str, Any], low: str, high: str, head: str, unit: str, found: list[str]) -> None:
    if isinstance(schema.get(low), int) and size < schema[low]:
        found.append(f"{head} at least {schema[low]} {unit}")
    if isinstance(schema.get(high), int) and size > schema[high]:
        found.append(f"{head} at most {schema[high]} {unit}")


def _object(value: dict[str, Any], schema: dict[str, Any], where: str, found: list[str], depth: int) -> None:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    for name in required:
        if isinstance(name, str) and name not in value:
            found.append(f"{where} lacks {name!r}")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        inner = f"{where}.{name}"[:120]
        if name in properties:
            _check(item, properties[name], inner, found, depth + 1)
        elif extra is False:
            found.append(f"{where} has no parameter {str(name)[:40]!r}")
        elif isinstance(extra, dict):
            _check(item, extra, inner, found, depth + 1)
