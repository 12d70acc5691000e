"""The chat page's markdown renderer (static/webchat/markdown.js), run in a real Chromium: what the
model writes becomes formatted text, and nothing it writes becomes markup, a script or a link to
anything but http, https or mailto."""
from __future__ import annotations

import time

import pytest

from tests.support.apps import LiveApp
from tests.support.browser import launched

CASES = [
    ("**a** *b* `c` ~~d~~ __e__ _f_", "<p><strong>a</strong> <em>b</em> <code>c</code> <del>d</del> "
                                      "<strong>e</strong> <em>f</em></p>"),
    ("***both***", "<p><strong><em>both</em></strong></p>"),
    ("line one\nline two\n\nnext paragraph", "<p>line one<br>line two</p><p>next paragraph</p>"),
    ("# Title\n### Small", "<h2>Title</h2><h4>Small</h4>"),
    ("#hashtag", "<p>#hashtag</p>"),
    ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
    ("Steps:\n1. a\n2. b\n   - c\n   - d", "<p>Steps:</p><ol><li>a</li><li>b<ul><li>c</li><li>d</li></ul></li></ol>"),
    ("- a\n  - b\n    - c", "<ul><li>a<ul><li>b<ul><li>c</li></ul></li></ul></li></ul>"),
    ("3. three\n4. four", '<ol start="3"><li>three</li><li>four</li></ol>'),
    ("- a\n\n- b", "<ul><li><p>a</p></li><li><p>b</p></li></ul>"),
    ("```js\nif (a < b) { x(); }\n```", '<pre><code class="language-js">if (a &lt; b) { x(); }</code></pre>'),
    ("```\nstill being written", "<pre><code>still being written</code></pre>"),
    ("    indented stays a paragraph", "<p>indented stays a paragraph</p>"),
    ("> quoted **words**", "<blockquote><p>quoted <strong>words</strong></p></blockquote>"),
    ("a\n\n---\n\nb", "<p>a</p><hr><p>b</p>"),
    ("| a | b |\n|---|--:|\n| 1 | **2** |",
     '<div class="table"><table><thead><tr><th>a</th><th style="text-align: right;">b</th></tr></thead>'
     '<tbody><tr><td>1</td><td style="text-align: right;"><strong>2</strong></td></tr></tbody></table></div>'),
    ("[docs](https://example.com/docs?q=1)",
     '<p><a href="https://example.com/docs?q=1" rel="noopener noreferrer nofollow" target="_blank">docs</a></p>'),
    ("mail [me](mailto:ops@example.com)",
     '<p>mail <a href="mailto:ops@example.com" rel="noopener noreferrer nofollow" target="_blank">me</a></p>'),
    ("see <https://example.com/a> or https://example.com/b.",
     '<p>see <a href="https://example.com/a" rel="noopener noreferrer nofollow" target="_blank">'
     'https://example.com/a</a> or <a href="https://example.com/b" rel="noopener noreferrer nofollow" '
     'target="_blank">https://example.com/b</a>.</p>'),
    ("![a cat](https://img.example/cat.png)",
     '<p><a href="https://img.example/cat.png" rel="noopener noreferrer nofollow" target="_blank">a cat</a></p>'),
    ("snake_case_name and 2 * 3 * 4", "<p>snake_case_name and 2 * 3 * 4</p>"),
    ("\\*not emphasis\\*", "<p>*not emphasis*</p>"),
    ("**never closed", "<p>**never closed</p>"),
    ("`<b>` in code", "<p><code>&lt;b&gt;</code> in code</p>"),
]

UNSAFE = [
    ("<script>window.pwned = 1</script>", "<p>&lt;script&gt;window.pwned = 1&lt;/script&gt;</p>"),
    ('<img src=x onerror="window.pwned = 2">', '<p>&lt;img src=x onerror="window.pwned = 2"&gt;</p>'),
    ("[click](javascript:window.pwned=3)", "<p>click</p>"),
    ("[click](JaVaScRiPt:window.pwned=3)", "<p>click</p>"),
    ("[data](data:text/html,<script>x</script>)", "<p>[data](data:text/html,&lt;script&gt;x&lt;/script&gt;)</p>"),
    ("[rel](/admin/users) [proto](//evil.example/x)", "<p>rel proto</p>"),
    ("<javascript:window.pwned=4>", "<p>&lt;javascript:window.pwned=4&gt;</p>"),
    ('<a href="https://example.com">x</a>',             # the tag is text; the address in it, a plain link
     '<p>&lt;a href="<a href="https://example.com/" rel="noopener noreferrer nofollow" target="_blank">'
     'https://example.com</a>"&gt;x&lt;/a&gt;</p>'),
    ("```html\n<script>window.pwned = 5</script>\n```",
     '<pre><code class="language-html">&lt;script&gt;window.pwned = 5&lt;/script&gt;</code></pre>'),
    ('```"><img src=x onerror=alert(1)>\nx\n```', '<pre><code class="language-img">x</code></pre>'),
]

_RENDER = """async (texts) => {
    const { renderMarkdown } = await import('/static/webchat/markdown.js');
    return texts.map((text) => {
        const div = document.createElement('div');
        div.appendChild(renderMarkdown(text));
        return div.innerHTML;
    });
}"""


@pytest.fixture(scope="module")
def renderer(tmp_path_factory):
    """A page of the app (its origin, its Content-Security-Policy) that the renderer is loaded in."""
    app = LiveApp({"database_url": f"sqlite:///{tmp_path_factory.mktemp('renderer') / 'smartbot.db'}"})
    try:
        with launched() as browser:
            page = browser.new_page()
            page.goto(app.url + "/chat")
            yield page
    finally:
        app.stop()


@pytest.mark.parametrize("markdown, html", CASES, ids=[c[0][:30] for c in CASES])
def test_markdown_becomes_formatted_text(renderer, markdown, html):
    assert renderer.evaluate(_RENDER, [markdown]) == [html]


@pytest.mark.parametrize("markdown, html", UNSAFE, ids=[c[0][:30] for c in UNSAFE])
def test_markup_in_a_reply_is_shown_as_text_and_runs_nothing(renderer, markdown, html):
    assert renderer.evaluate(_RENDER, [markdown]) == [html]
    renderer.evaluate("""async (text) => {
        const { renderMarkdown } = await import('/static/webchat/markdown.js');
        document.body.appendChild(renderMarkdown(text));
        await new Promise((resolve) => setTimeout(resolve, 50));
    }""", markdown)
    assert renderer.evaluate("() => window.pwned") is None


def test_a_reply_built_to_be_slow_to_render_is_still_quick(renderer):
    hostile = ["*a " * 5000, "**" * 5000 + "x", "[" * 3000 + "](" * 3000, "`" * 4000 + "x",
               "_a " * 5000, "- " * 4000, "> " * 4000, ("| a " * 200 + "|\n") * 2 + "|---" * 200]
    started = time.monotonic()
    rendered = renderer.evaluate(_RENDER, hostile)
    assert time.monotonic() - started < 3.0
    assert all(rendered)
