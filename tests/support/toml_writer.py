"""Writes the small TOML subset our configs use (the standard library only reads TOML)."""
from __future__ import annotations

import json
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dumps(data: dict[str, Any]) -> str:
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines) + "\n"


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(data: dict[str, Any], path: list[str], lines: list[str]) -> None:
    for k, v in data.items():
        if not isinstance(v, dict) and not _is_table_list(v):
            lines.append(f"{k} = {_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict) and not (path == [] and k == "headers"):
            lines.append("")
            lines.append("[" + ".".join(path + [k]) + "]")
            _table(v, path + [k], lines)
        elif _is_table_list(v):
            for item in v:
                lines.append("")
                lines.append("[[" + ".".join(path + [k]) + "]]")
                _table(item, path + [k], lines)
