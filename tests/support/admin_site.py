"""The admin page as people use it, for browser journeys: the app under gunicorn (as deployed), its
database opened from the test process to set the scene (accounts, bindings), a web chat visitor
writing through /chat, and Chromium logged in to /admin in one language."""
from __future__ import annotations

from typing import Any

import requests
import sqlalchemy as sa

from smartbot.auth.accounts import create_admin
from smartbot.storage.db import Database
from smartbot.storage.tables import Identity

from .waiting import wait_until

PASSWORD = "correct horse battery"


class AdminSite:
    """A running app, its database, and an admin account `root`."""

    def __init__(self, app: Any, admin: str = "root") -> None:
        self.app = app
        self.url = app.url
        self.db = Database(app.config["database_url"])
        create_admin(self.db, admin, PASSWORD)

    def close(self) -> None:
        self.db.dispose()

    def log_in(self, browser: Any, lang: str = "en", name: str = "root", password: str = PASSWORD) -> Any:
        """A new page logged in to /admin, showing the dashboard in `lang`."""
        page = browser.new_page(locale="zh-CN" if lang == "zh-CN" else "en-US", viewport={"width": 1280, "height": 900})
        page.goto(f"{self.url}/admin/login?lang={lang}")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", password)
        page.click("#login")
        page.wait_for_url(f"{self.url}/admin/")
        return page

    def webchat_identities(self) -> list[str]:
        ident = Identity.__table__
        with self.db.read() as conn:
            return [r.platform_user_id for r in conn.execute(
                sa.select(ident.c.platform_user_id).where(ident.c.channel == "webchat").order_by(ident.c.id))]


class Visitor:
    """Someone in the web chat (/chat): their own cookie, their own chat."""

    def __init__(self, site: AdminSite) -> None:
        self.site = site
        self.s = requests.Session()
        known = set(site.webchat_identities())
        assert self.s.get(site.url + "/chat", timeout=10).status_code == 200
        self.say("hello")
        assert wait_until(lambda: set(site.webchat_identities()) - known, 15), "the visitor was never seen"
        self.chat_id = (set(site.webchat_identities()) - known).pop()
        self.after = 0

    def say(self, text: str) -> None:
        resp = self.s.post(self.site.url + "/chat/api/messages", json={"text": text},
                           headers={"X-Requested-With": "smartbot"}, timeout=10)
        assert resp.status_code == 202, resp.text

    def received(self, wait: float = 5.0) -> list[str]:
        """The bot's messages to this chat since the last call (waiting up to `wait` s for one)."""
        data = self.s.get(self.site.url + f"/chat/api/messages?after={self.after}&wait={wait}", timeout=wait + 5).json()
        self.after = data["last"]
        return [m["text"] for m in data["messages"]]

    def wait_for(self, needle: str, timeout: float = 15.0) -> list[str]:
        seen: list[str] = []
        wait_until(lambda: seen.extend(self.received(1.0)) or any(needle in text for text in seen), timeout)
        return seen
