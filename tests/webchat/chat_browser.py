"""The chat page in a real browser, as a person uses it: open it, type, read the bubbles."""
from __future__ import annotations

import time
from typing import Any, Callable

from tests.support.browser import watch_console
from tests.webchat.visitors import chat_id_of

PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}
WAIT_MS = 20000

# (side, text) of every bubble on the page, in order: "me", "bot", "note", "preview".
_TRANSCRIPT = """() => [...document.querySelectorAll('#messages > *')].map(node => {
    const side = ['preview', 'note', 'me', 'bot'].find(c => node.classList.contains(c));
    const body = node.querySelector('.md, .plain');
    return [side, (body || node).innerText.trim()];
})"""


class ChatPage:
    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url
        self.console = watch_console(page)

    @classmethod
    def new(cls, browser: Any, url: str, locale: str = "en-US", viewport: dict | None = None,
            **context: Any) -> ChatPage:
        """A tab of its own (its own cookies), not yet at the page."""
        ctx = browser.new_context(locale=locale, viewport=viewport or DESKTOP, **context)
        return cls(ctx.new_page(), url)

    @classmethod
    def open(cls, browser: Any, url: str, query: str = "", **context: Any) -> ChatPage:
        chat = cls.new(browser, url, **context)
        chat.goto(query)
        return chat

    def goto(self, query: str = "") -> None:
        self.page.goto(self.url + "/chat" + query)
        self.ready()

    def reload(self) -> None:
        self.page.reload()
        self.ready()

    def ready(self) -> None:
        self.page.wait_for_selector("#log[aria-busy=false]", timeout=WAIT_MS)

    @property
    def chat_id(self) -> str:
        cookie = next(c for c in self.page.context.cookies() if c["name"] == "smartbot_chat")
        return chat_id_of(cookie["value"])

    def send(self, text: str) -> None:
        self.page.fill("#text", text)
        self.page.press("#text", "Enter")

    def wait_for_bot(self, text: str) -> Any:
        locator = self.page.locator(".msg.bot:not(.preview)", has_text=text)
        locator.last.wait_for(timeout=WAIT_MS)
        return locator.last

    def say(self, text: str, answer: str) -> None:
        self.send(text)
        self.wait_for_bot(answer)

    def until(self, predicate: Callable[[], object], timeout: float = 15.0) -> bool:
        """Wait for something the page's events change (they are handled only while Playwright
        is called, so this waits through the page rather than sleeping)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            self.page.wait_for_timeout(50)
        return True

    def transcript(self) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in self.page.evaluate(_TRANSCRIPT)]

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and policy violations seen so far."""
        return list(self.console)
