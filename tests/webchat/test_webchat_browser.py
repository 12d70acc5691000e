"""The web chat as people use it, in a real headless Chromium against the app under gunicorn (two
workers) answering with the fake model, under the app's Content-Security-Policy.

Screenshots of the page in English and Chinese, desktop and phone width, go to tests/screenshots/.
"""
from __future__ import annotations

import re
import time

from tests.support.browser import csp_violations, screenshot
from tests.support.waiting import wait_until
from tests.webchat.chat_browser import PHONE, WAIT_MS, ChatPage
from tests.webchat.visitors import model_says, write_to_chat

MARKDOWN_REPLY = """## Disk check

Here is **bold**, *italic*, `inline code` and [the docs](https://example.com/docs).

1. first step
2. second step
   - a detail

```python
print("<b>not bold</b>")
```

<script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
[a trap](javascript:window.pwned=3) and <b>not bold either</b>"""

_HISTORY = "async () => (await (await fetch('/chat/api/history')).json())"
# The page's polls as it makes them: "ask", then "some" or "none" as the answer holds replies or not.
_POLL_LOG = """(() => {
    const real = window.fetch;
    window.pollLog = [];
    window.fetch = async (...args) => {
        const polled = String(args[0]).includes('/chat/api/messages?');
        if (polled) window.pollLog.push('ask');
        const response = await real(...args);
        if (polled) window.pollLog.push((await response.clone().json()).messages.length ? 'some' : 'none');
        return response;
    };
})()"""


def _clean(chat: ChatPage) -> None:
    problems = chat.problems()
    assert csp_violations(problems) == [] and not [p for p in problems if p.startswith("uncaught")], problems


def test_a_chat_shows_both_sides_with_times_after_a_reload(browser, site):
    chat = ChatPage.open(browser, site.url)
    policy = chat.page.evaluate("async () => (await fetch('/chat')).headers.get('content-security-policy')")
    assert "default-src 'self'" in policy and "unsafe" not in policy      # scripts and styles: files of the app
    chat.say("hello from the browser", "echo: hello from the browser")
    chat.say("and a second line", "echo: and a second line")
    before = chat.transcript()
    chat.reload()
    assert chat.transcript() == before == [("me", "hello from the browser"), ("bot", "echo: hello from the browser"),
                                           ("me", "and a second line"), ("bot", "echo: and a second line")]
    times = chat.page.locator("#messages .msg time")
    assert times.count() == 4
    assert all(re.fullmatch(r"\d\d:\d\d\s[AP]M", times.nth(i).inner_text()) for i in range(4))
    assert chat.page.locator("#older").is_hidden() and chat.page.locator("#empty").is_hidden()
    _clean(chat)


def test_a_file_attached_on_the_page_is_uploaded_and_read_with_the_message(browser, site):
    chat = ChatPage.open(browser, site.url)
    chat.page.set_input_files("#file", files=[{"name": "todo.txt", "mimeType": "text/plain",
                                               "buffer": "restart web-1 tonight\n".encode()}])
    chat.page.wait_for_selector("#attached:not([hidden])", timeout=WAIT_MS)
    assert "todo.txt" in chat.page.locator("#attached").inner_text()
    chat.send("what is on my list?")
    chat.wait_for_bot("echo: what is on my list?")
    assert chat.page.locator("#attached").is_hidden()
    assert "restart web-1 tonight" in site.model.requests[-1]["json"]["messages"][-1]["content"]
    _clean(chat)


def test_older_messages_load_on_request_above_the_newest(browser, site):
    chat = ChatPage.open(browser, site.url)
    for i in range(34):                         # more than the page's first 30
        write_to_chat(site.db, chat.chat_id, f"report {i}", f"test:report:{i}", delivered=True)
    chat.reload()
    assert [text for _, text in chat.transcript()] == [f"report {i}" for i in range(4, 34)]
    chat.page.click("#older")
    chat.page.wait_for_selector("#older", state="hidden")
    assert [text for _, text in chat.transcript()] == [f"report {i}" for i in range(34)]
    assert "report 0" in chat.page.evaluate("() => document.activeElement.innerText")
    _clean(chat)


def test_messages_arrive_on_an_open_page_without_a_reload(browser, site):
    """A later message (an approval's outcome, a workflow's report) written by another process: one
    for the app's workers to deliver, one already delivered that no wake-up announces. The page
    keeps asking after a poll that came back empty."""
    chat = ChatPage.new(browser, site.url)
    chat.page.add_init_script(_POLL_LOG)
    chat.goto()
    chat.say("hello", "echo: hello")
    assert chat.until(lambda: "none,ask" in ",".join(chat.page.evaluate("() => window.pollLog")), 20), \
        "the page stopped asking after an empty poll"
    write_to_chat(site.db, chat.chat_id, "Workflow nightly finished.", "test:workflow:1")
    chat.wait_for_bot("Workflow nightly finished.")
    write_to_chat(site.db, chat.chat_id, "Request #7 was approved.", "test:approval:7", delivered=True)
    chat.wait_for_bot("Request #7 was approved.")
    assert chat.transcript()[-2:] == [("bot", "Workflow nightly finished."), ("bot", "Request #7 was approved.")]
    chat.reload()
    assert chat.transcript()[-1] == ("bot", "Request #7 was approved.")
    _clean(chat)


def test_a_reply_still_coming_when_the_page_reloads_takes_the_place_of_its_note(browser, site):
    site.model.delay = 3.0
    chat = ChatPage.open(browser, site.url)
    chat.send("take your time")
    chat.page.wait_for_selector(".msg.note")
    assert wait_until(lambda: chat.page.evaluate(_HISTORY)["messages"], 5)      # the message is in
    chat.reload()
    assert chat.transcript() == [("me", "take your time"), ("note", "thinking...")]
    chat.wait_for_bot("echo: take your time")
    assert chat.transcript() == [("me", "take your time"), ("bot", "echo: take your time")]
    _clean(chat)


def test_markdown_is_rendered_and_markup_in_a_reply_is_shown_as_text(browser, site):
    site.model.script(model_says(MARKDOWN_REPLY))
    chat = ChatPage.open(browser, site.url)
    chat.send("show me **what you can do**")
    reply = chat.wait_for_bot("Disk check")
    assert reply.locator("h3").inner_text() == "Disk check"
    assert reply.locator("strong").first.inner_text() == "bold" and reply.locator("em").inner_text() == "italic"
    assert reply.locator("p code").inner_text() == "inline code"
    link = reply.locator("a")
    assert link.count() == 1 and link.get_attribute("href") == "https://example.com/docs"
    assert "noopener" in link.get_attribute("rel") and link.get_attribute("target") == "_blank"
    assert reply.locator("ol > li").count() == 2 and reply.locator("ol ul li").inner_text() == "a detail"
    assert reply.locator("pre code.language-python").inner_text() == 'print("<b>not bold</b>")'
    shown = reply.locator(".md").inner_text()
    assert "<script>window.pwned = 1</script>" in shown and '<img src=x onerror="window.pwned = 2">' in shown
    assert "a trap and <b>not bold either</b>" in shown
    assert chat.page.locator("#messages script, #messages img, #messages b, #messages a[href^=javascript]").count() == 0
    assert chat.page.evaluate("() => window.pwned") is None
    mine = chat.page.locator(".msg.me .plain").inner_text()
    assert mine == "show me **what you can do**"              # the visitor's words as typed
    chat.say("/help", "/whoami")
    help_reply = chat.page.locator(".msg.bot").last
    assert help_reply.locator(".plain").count() == 1 and "\n/whoami" in help_reply.locator(".plain").inner_text()
    _clean(chat)


def test_a_new_conversation_starts_an_empty_page_and_the_model_forgets(browser, site):
    chat = ChatPage.open(browser, site.url)
    chat.say("the secret word is kumquat", "echo: the secret word is kumquat")
    chat.page.click("#new-conversation")
    assert chat.transcript() == [] and chat.page.locator("#empty").is_visible()
    assert wait_until(lambda: chat.page.evaluate(_HISTORY)["messages"] == [], 15)
    assert chat.transcript() == []                 # the reset's own answer is not shown
    chat.reload()
    assert chat.transcript() == [] and chat.page.locator("#empty").is_visible()
    chat.say("what was the word?", "echo: what was the word?")
    assert "kumquat" not in str(site.model.requests[-1]["json"]["messages"])
    chat.send("/reset")                            # typed: the same, once it is answered
    chat.page.wait_for_selector("#empty", state="visible", timeout=WAIT_MS)
    assert chat.transcript() == []
    chat.reload()
    assert chat.transcript() == []
    _clean(chat)


def test_whoami_shows_the_identity_an_admin_binds(browser, site):
    chat = ChatPage.open(browser, site.url)
    chat.send("/whoami")
    reply = chat.wait_for_bot("webchat:").inner_text()
    assert f"webchat:{chat.chat_id}" in reply and "Not bound to a user yet" in reply
    _clean(chat)


def test_the_language_switch_is_kept_and_lang_in_the_address_is_honoured(browser, site):
    chat = ChatPage.open(browser, site.url, locale="en-US")
    assert chat.page.locator("h1").inner_text() == "Chat with SmartBot"
    chat.page.click("nav.languages a[lang=zh-CN]")
    chat.page.wait_for_url(re.compile(r".*/chat\?lang=zh-CN$"))
    chat.ready()
    assert chat.page.locator("h1").inner_text() == "与 SmartBot 对话"
    assert chat.page.evaluate("() => document.documentElement.lang") == "zh-CN"
    chat.send("/whoami")
    reply = chat.wait_for_bot("尚未绑定到用户")
    assert "年" in reply.locator("time").get_attribute("title")        # the date in the page's language
    chat.goto()                                                         # no ?lang: the cookie decides
    assert chat.page.locator("h1").inner_text() == "与 SmartBot 对话"
    assert chat.page.locator("#text").get_attribute("placeholder") == "输入消息，或 /help"
    chat.goto("?lang=en")
    chat.goto()
    assert chat.page.locator("h1").inner_text() == "Chat with SmartBot"
    chinese = ChatPage.open(browser, site.url, locale="zh-CN")           # no cookie: Accept-Language
    assert chinese.page.locator("#new-conversation").inner_text() == "新对话"
    _clean(chat)


def test_a_streamed_reply_grows_in_one_bubble_that_the_final_reply_replaces(browser, site):
    """The server side of streaming is not here yet: the page's polls are answered with previews by
    the browser's request routing, then passed through to the real reply."""
    site.model.delay = 1.0
    site.model.script(model_says("**Hello** there, friend"))
    chat = ChatPage.new(browser, site.url)
    chat.page.add_init_script("""(() => { window.previewStates = [];
        new MutationObserver(() => { const p = document.querySelector('.msg.preview .md');
            if (p && window.previewStates.at(-1) !== p.innerHTML) window.previewStates.push(p.innerHTML); })
          .observe(document, {subtree: true, childList: true, characterData: true}); })()""")
    steps = ["Hel", "**Hello** th", "**Hello** there, fr"]
    sent: dict = {}
    served: list[str] = []

    def feed(route) -> None:
        after = int(re.search(r"after=(\d+)", route.request.url).group(1))
        client = sent.get("client_id")
        if client and len(served) < len(steps):
            served.append(steps[len(served)])
            preview = {"reply_to": client, "text": served[-1], "updated": time.time()}
            route.fulfill(json={"messages": [], "last": after, "previews": [preview]})
        elif client:
            response = route.fetch(timeout=20000)
            data = response.json()
            data["previews"] = [{"reply_to": client, "text": steps[-1], "updated": time.time()}]   # late, stale
            route.fulfill(response=response, json=data)
        else:
            route.fulfill(json={"messages": [], "last": after})

    chat.page.route(re.compile(r".*/chat/api/messages\?.*"), feed)
    chat.page.on("request", lambda r: sent.update(r.post_data_json) if r.method == "POST" else None)
    chat.goto()
    chat.send("greet me")
    chat.wait_for_bot("there, friend")
    chat.page.wait_for_timeout(800)                          # a few more polls, with the stale preview
    assert chat.page.evaluate("() => window.previewStates") == [
        "<p>Hel</p>", "<p><strong>Hello</strong> th</p>", "<p><strong>Hello</strong> there, fr</p>"]
    assert chat.transcript() == [("me", "greet me"), ("bot", "Hello there, friend")]
    assert chat.page.locator(".msg.bot strong").inner_text() == "Hello"
    chat.page.unroute_all(behavior="ignoreErrors")
    _clean(chat)


def test_the_page_keeps_asking_backs_off_on_failures_and_rests_while_hidden(browser, site):
    chat = ChatPage.new(browser, site.url)
    page = chat.page
    page.clock.install()
    polls: list[float] = []
    failing = {"on": True}

    def feed(route) -> None:
        polls.append(time.monotonic())
        if failing["on"]:
            route.fulfill(status=503, json={"error": "down for the test"})
        else:
            route.fulfill(json={"messages": [], "last": 0})

    page.route(re.compile(r".*/chat/api/messages\?.*"), feed)
    chat.goto()
    page.wait_for_selector("#connection:not([hidden])")
    assert page.locator("#connection").inner_text().startswith("Connection lost")
    page.wait_for_timeout(2500)
    assert 2 <= len(polls) <= 4, polls                    # 1 s, then 2 s: not every 300 ms
    failing["on"] = False
    page.clock.fast_forward(30000)
    page.wait_for_selector("#connection >> text=Connected again.")
    page.wait_for_timeout(1000)
    assert polls[-1] - polls[-3] < 1.5                    # answered polls follow each other
    page.evaluate("""() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
        document.dispatchEvent(new Event('visibilitychange')); }""")
    page.clock.fast_forward(180000)
    page.wait_for_timeout(700)
    resting = len(polls)
    page.wait_for_timeout(1500)
    assert len(polls) == resting, "a tab hidden for minutes should stop asking"
    page.evaluate("""() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
        document.dispatchEvent(new Event('visibilitychange')); }""")
    assert chat.until(lambda: len(polls) > resting, 5), "shown again, it asks at once"
    page.unroute_all(behavior="ignoreErrors")
    _clean(chat)


def test_keys_copy_and_what_a_screen_reader_or_keyboard_user_needs(browser, site):
    site.model.script(model_says("**Bold** and `code`"))
    chat = ChatPage.open(browser, site.url, permissions=["clipboard-read", "clipboard-write"])
    page = chat.page
    page.get_by_label("Your message").fill("line one")
    page.press("#text", "Shift+Enter")
    page.keyboard.type("line two")
    assert page.locator(".msg.me").count() == 0
    page.press("#text", "Enter")
    chat.wait_for_bot("Bold and code")
    assert chat.transcript()[0] == ("me", "line one\nline two") and page.locator("#text").input_value() == ""
    page.locator(".msg.bot .copy").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == "**Bold** and `code`"
    assert page.locator(".msg.bot .copy").inner_text() == "Copied"
    assert page.get_by_role("log", name="Conversation").count() == 1
    assert page.get_by_role("button", name="Send").count() == 1
    assert page.get_by_role("button", name="Copy this message").count() == 1
    page.evaluate("() => { const title = document.querySelector('h1'); title.tabIndex = -1; title.focus(); }")
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(page.evaluate("() => { const e = document.activeElement;"
                                   " return e.id || e.getAttribute('aria-label') || e.innerText; }"))
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", f"no visible focus on {order[-1]}"
    assert order == ["English", "简体中文", "new-conversation", "log", "Copy this message", "text", "send"]
    for selector, ratio in page.evaluate(_CONTRAST, _CONTRAST_CHECKED):
        assert ratio is not None and ratio >= 4.5, f"{selector}: contrast {ratio}"
    _clean(chat)


def test_on_a_phone_nothing_is_wider_than_the_screen_and_the_box_stays_in_reach(browser, site):
    site.model.script(model_says("| column | another column |\n|---|---|\n| " + "x" * 120 + " | y |\n\n```\n"
                                 + "a_very_long_line_of_output " * 12 + "\n```"))
    chat = ChatPage.open(browser, site.url, viewport=PHONE, is_mobile=True, has_touch=True)
    chat.say("https://example.com/" + "averylongwordwithoutanyspaces" * 8, "column")
    for i in range(8):
        chat.say(f"message {i}", f"echo: message {i}")
    page = chat.page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("() => document.documentElement.scrollHeight") <= PHONE["height"]   # only the log scrolls
    box = page.locator("#text").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
    send = page.locator("#send").bounding_box()
    assert send["x"] + send["width"] <= PHONE["width"]
    _clean(chat)


def test_screenshots_in_english_and_chinese_on_a_desktop_and_a_phone(browser, site):
    for lang in ("en", "zh-CN"):
        site.model.script(model_says(MARKDOWN_REPLY.split("<script>")[0].strip()))
        chat = ChatPage.open(browser, site.url, query=f"?lang={lang}")
        chat.send("/whoami")
        chat.wait_for_bot("webchat:")
        chat.say("How is the disk?", "Disk check")
        chat.say("/help", "/whoami")
        chat.page.set_viewport_size({"width": 1280, "height": 1400})        # the whole conversation
        screenshot(chat.page, f"webchat-{lang}-desktop")
        chat.page.set_viewport_size(PHONE)
        chat.page.evaluate("() => { const log = document.getElementById('log'); log.scrollTop = log.scrollHeight; }")
        screenshot(chat.page, f"webchat-{lang}-phone")
        _clean(chat)


# The contrast of text with what is behind it (WCAG's formula), for the page's kinds of text.
_CONTRAST_CHECKED = [".top h1", ".languages a", "#new-conversation", ".msg.me .plain", ".msg.bot .md",
                     ".msg.bot time", ".msg.me time", ".msg .copy", ".md code", "#send", ".hint", "#text"]
_CONTRAST = """(selectors) => {
    const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
    const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const lum = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    const behind = (node) => {
        for (let n = node; n; n = n.parentElement) {
            const c = rgb(getComputedStyle(n).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
        }
        return [255, 255, 255];
    };
    return selectors.map((sel) => {
        const node = document.querySelector(sel);
        if (!node) return [sel, null];
        const [a, b] = [lum(rgb(getComputedStyle(node).color)), lum(behind(node))].sort((x, y) => y - x);
        return [sel, Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100];
    });
}"""


def test_a_streamed_reply_grows_on_the_page_and_is_replaced_by_the_one_final_reply(browser, site):
    words = [f"word{i} " for i in range(12)]
    site.model.script({"tokens": words, "pace": 0.3})
    chat = ChatPage.open(browser, site.url)
    chat.send("write slowly")
    seen: list[str] = []

    def growing() -> bool:
        seen.extend(text for side, text in chat.transcript() if side == "preview")
        return len(set(seen)) >= 2
    assert chat.until(growing, timeout=20), seen              # the text grew while the model wrote
    final = "".join(words).strip()
    assert all(final.startswith(text) for text in set(seen) if text), seen
    chat.wait_for_bot(final)
    assert chat.until(lambda: chat.page.locator(".msg.bot.preview").count() == 0)
    assert [text for side, text in chat.transcript() if side == "bot"] == [final]
    assert chat.problems() == []
