"""Markdown from the model, rewritten into what a platform renders: Telegram's HTML subset and
Slack's mrkdwn.

Only the common subset is converted (code blocks and spans, bold, italic, strike, links, headings,
bullets); anything unbalanced stays literal text. Every output is escaped for its platform, so a
reply can never inject markup or break the message: code is never reformatted.
"""
from __future__ import annotations

import re
from typing import Callable

_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.S)
_SPAN = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.M)
_INLINE = re.compile(
    r"\*\*(?P<b1>\S(?:.*?\S)?)\*\*"
    r"|__(?P<b2>\S(?:.*?\S)?)__"
    r"|(?<![\w*])\*(?P<i1>[^*\s](?:[^*]*?[^*\s])?)\*(?![\w*])"
    r"|(?<![\w_])_(?P<i2>[^_\s](?:[^_]*?[^_\s])?)_(?![\w_])"
    r"|~~(?P<s>\S(?:.*?\S)?)~~"
    r"|\[(?P<label>[^\]\n]+)\]\((?P<url>https?://[^\s)]+)\)")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_slack(text: str) -> str:
    # Slack's own rule: only these three are control characters in message text.
    return _escape_html(text)


class _Target:
    """How one platform writes each construct; `escape` is applied to all plain text and code."""

    def __init__(self, escape: Callable[[str], str], block: str, span: str, bold: str, italic: str,
                 strike: str, link: Callable[[str, str], str]) -> None:
        self.escape, self.block, self.span = escape, block, span
        self.bold, self.italic, self.strike, self.link = bold, italic, strike, link


TELEGRAM_HTML = _Target(
    _escape_html, "<pre>{}</pre>", "<code>{}</code>", "<b>{}</b>", "<i>{}</i>", "<s>{}</s>",
    lambda label, url: f'<a href="{url.replace(chr(34), "&quot;")}">{label}</a>')
SLACK_MRKDWN = _Target(
    _escape_slack, "```\n{}```", "`{}`", "*{}*", "_{}_", "~{}~",
    lambda label, url: f"<{url}|{label.replace('|', '/')}>")


def convert(markdown: str, target: _Target) -> str:
    """`markdown` rewritten for `target`, with code kept verbatim (but escaped)."""
    codes: list[str] = []

    def keep(rendered: str) -> str:
        codes.append(rendered)
        return f"\x00{len(codes) - 1}\x00"

    text = markdown.replace("\x00", "")
    text = _FENCE.sub(lambda m: keep(target.block.format(target.escape(m.group(1)))), text)
    text = _SPAN.sub(lambda m: keep(target.span.format(target.escape(m.group(1)))), text)
    text = target.escape(text)
    text = _HEADING.sub(lambda m: f"**{m.group(1)}**", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _inline(text, target)
    return _PLACEHOLDER.sub(lambda m: codes[int(m.group(1))], text)


def _inline(text: str, target: _Target) -> str:
    def render(m: re.Match[str]) -> str:
        if m.group("url"):
            return target.link(_inline(m.group("label"), target), m.group("url"))
        for name, template in (("b1", target.bold), ("b2", target.bold), ("i1", target.italic),
                               ("i2", target.italic), ("s", target.strike)):
            if m.group(name) is not None:
                return template.format(_inline(m.group(name), target))
        return m.group(0)

    return _INLINE.sub(render, text)


def to_telegram_html(markdown: str) -> str:
    return convert(markdown, TELEGRAM_HTML)


def to_slack_mrkdwn(markdown: str) -> str:
    return convert(markdown, SLACK_MRKDWN)


def slack_plain(text: str) -> str:
    """Plain text for Slack: escaped so that `<`, `>` and `&` show as typed."""
    return _escape_slack(text)
