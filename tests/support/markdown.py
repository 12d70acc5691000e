"""Reading the project's markdown pages for the documentation meta-tests.

Small on purpose: code fences, headings, table rows and links are all these tests look at; a page
that needs more than this to be checked is a page that should be written more plainly.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any, Iterator

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)")
AUTOLINK = re.compile(r"<([a-z][a-z0-9+.-]*:[^>\s]+)>", re.I)
BARE_URL = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.[a-z0-9-]+\.[a-z]{2,}\S*", re.I)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


def unclosed_fence(text: str) -> int | None:
    """The line number of a code fence that is never closed, or None when every fence closes."""
    opened: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if not match:
            continue
        marker = match.group(1)
        if opened is None:
            opened = (marker, number)
        elif marker[0] == opened[0][0] and len(marker) >= len(opened[0]) and not line.strip()[len(marker):]:
            opened = None
    return None if opened is None else opened[1]


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line outside code fences, with inline code spans removed."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, CODE_SPAN.sub("", line)


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line number, target) of every link a reader can follow: markdown links, reference
    definitions, autolinks and bare URLs outside code, and paths in inline code that climb out of
    the page's folder (`../...`)."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            for match in CODE_SPAN.finditer(line):
                span = match.group(0).strip("`").strip()
                if span.startswith("../"):
                    yield number, span
    for number, line in prose_lines(text):
        for pattern in (MARKDOWN_LINK, REFERENCE_LINK, AUTOLINK):
            for match in pattern.finditer(line):
                yield number, match.group(1)
        for match in BARE_URL.finditer(MARKDOWN_LINK.sub("", line)):
            yield number, match.group(0)


def link_problem(page: Path, target: str, root: Path) -> str:
    """Why a link target is not one that stays in the repository ("" when it is fine)."""
    if EXTERNAL.match(target) or target.startswith("www."):
        return "leaves the repository"
    path = target.split("#", 1)[0]
    if not path:
        return ""           # a link to a heading of the same page
    resolved = (page.parent / path).resolve()
    if root.resolve() not in resolved.parents and resolved != root.resolve():
        return "points outside the repository"
    if not resolved.exists():
        return "points to a file that does not exist"
    return ""


def sections(text: str) -> dict[str, str]:
    """Each heading's text (inline code marks removed) -> the lines under it, up to the next heading
    of the same or a higher level."""
    lines = text.splitlines()
    found: dict[str, str] = {}
    headings = [(i, len(m.group(1)), m.group(2).replace("`", "")) for i, m in
                ((i, HEADING.match(line)) for i, line in enumerate(lines)) if m]
    prose = {number - 1 for number, _ in prose_lines(text)}
    headings = [h for h in headings if h[0] in prose]     # not a "# comment" inside a code block
    for n, (start, level, title) in enumerate(headings):
        end = next((i for i, lvl, _ in headings[n + 1:] if lvl <= level), len(lines))
        found[title] = "\n".join(lines[start + 1:end])
    return found


def table_rows(section: str) -> dict[str, list[str]]:
    """Rows of the tables in a section whose first cell is one `key`: key -> the other cells."""
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`[a-z_0-9]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def settings_fields(cls: type) -> tuple[list[dataclasses.Field], dict[str, tuple[str, type]]]:
    """A settings dataclass's own keys (fields declared with `setting(...)`) and its sections
    (name -> ("[name]" or "[[name]]", the nested dataclass)). Fields filled in at load time carry
    no setting metadata and are neither."""
    hints = typing.get_type_hints(cls)
    keys, nested = [], {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            nested[field.name] = (f"[{field.name}]", hint)
        elif typing.get_origin(hint) is list and args and dataclasses.is_dataclass(args[0]):
            nested[field.name] = (f"[[{field.name}]]", args[0])
        elif "help" in field.metadata:
            keys.append(field)
    return keys, nested


def shown_default(field: dataclasses.Field) -> str | None:
    """How a setting's default is written in the configuration page, or None when the page says
    in words what the empty default means."""
    if field.metadata.get("required"):
        return "required"
    value: Any = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if value in ("", None):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)
