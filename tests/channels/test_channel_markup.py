"""Model markdown rewritten for Telegram's HTML and Slack's mrkdwn: formatting kept, nothing injected."""
from __future__ import annotations

import pytest

from smartbot.channels.support.markup import slack_plain, to_slack_mrkdwn, to_telegram_html


@pytest.mark.parametrize("markdown, html, mrkdwn", [
    ("**bold** and __bold__", "<b>bold</b> and <b>bold</b>", "*bold* and *bold*"),
    ("*it* and _it_", "<i>it</i> and <i>it</i>", "_it_ and _it_"),
    ("~~gone~~", "<s>gone</s>", "~gone~"),
    ("# Heading", "<b>Heading</b>", "*Heading*"),
    ("- one\n* two", "• one\n• two", "• one\n• two"),
    ("[docs](https://ex.com/a?b=1&c=2)", '<a href="https://ex.com/a?b=1&amp;c=2">docs</a>',
     "<https://ex.com/a?b=1&amp;c=2|docs>"),
    ("**[x](https://e.com)**", '<b><a href="https://e.com">x</a></b>', "*<https://e.com|x>*"),
])
def test_common_markdown_is_converted(markdown, html, mrkdwn):
    assert to_telegram_html(markdown) == html
    assert to_slack_mrkdwn(markdown) == mrkdwn


def test_code_is_kept_verbatim_but_escaped():
    markdown = "run `a*b*c` then\n```sh\nif [ $a < 3 ] && **x**; then\n```"
    assert to_telegram_html(markdown) == \
        "run <code>a*b*c</code> then\n<pre>if [ $a &lt; 3 ] &amp;&amp; **x**; then\n</pre>"
    assert to_slack_mrkdwn(markdown) == "run `a*b*c` then\n```\nif [ $a &lt; 3 ] &amp;&amp; **x**; then\n```"


@pytest.mark.parametrize("text", ["snake_case_name and 2*3*4", "an **unclosed bold", "<b>not html</b> & co"])
def test_text_that_is_not_markup_stays_as_typed_and_escaped(text):
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert to_telegram_html(text) == escaped
    assert to_slack_mrkdwn(text) == escaped == slack_plain(text)


def test_links_cannot_smuggle_attributes_or_other_schemes():
    assert to_telegram_html('[x](https://e.com/"onclick=1)') == '<a href="https://e.com/&quot;onclick=1">x</a>'
    assert to_telegram_html("[x](javascript:alert(1))") == "[x](javascript:alert(1))"
