"""MCP tools as SmartBot offers them: the permission each needs, the name the model sees, and the
tool as a model tool.

The model sees `mcp__<server>__<tool>`: one name space beside the catalogue commands (a command
name never holds two underscores in a row after `mcp`). Which server and tool a name means is
looked up among the configured servers, never trusted from the name's shape alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PREFIX = "mcp__"
SEPARATOR = "__"
_MODEL_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class McpTool:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=dict)
    needs_approval: bool = False

    @property
    def permission(self) -> str:
        return permission(self.server, self.name)

    @property
    def model_name(self) -> str:
        return model_name(self.server, self.name)


def permission(server: str, tool: str) -> str:
    return f"mcp:{server}:{tool}"


def model_name(server: str, tool: str) -> str:
    """The function name the model calls (letters, digits, _ and - only, at most 64)."""
    return (PREFIX + server + SEPARATOR + _MODEL_NAME.sub("_", tool))[:64]


def is_model_name(name: str) -> bool:
    return name.startswith(PREFIX)


def split_model_name(name: str, servers: list[str]) -> tuple[str, str] | None:
    """(server, tool-as-named) for a model's function name, the longest configured server first."""
    for server in sorted(servers, key=len, reverse=True):
        head = PREFIX + server + SEPARATOR
        if name.startswith(head) and len(name) > len(head):
            return server, name[len(head):]
    return None


def input_schema_for_model(tool: McpTool) -> dict[str, Any]:
    """The schema as offered to the model: an object schema, whatever the server declared."""
    schema = dict(tool.input_schema) if isinstance(tool.input_schema, dict) else {}
    if schema.get("type") != "object":
        schema = {"type": "object", "properties": {}}
    schema.setdefault("properties", {})
    return schema
