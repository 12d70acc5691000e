"""Someone logged in to the admin page (cookies, not a bearer token), posting its forms with the
CSRF token the page carries, as a browser would."""
from __future__ import annotations

import re
from typing import Any

import requests


class AdminPage:
    def __init__(self, url: str, name: str, password: str) -> None:
        self.url = url
        self.s = requests.Session()
        page = self.s.get(url + "/admin/login", timeout=10).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        resp = self.s.post(url + "/admin/login", data={"csrf": csrf, "name": name, "password": password},
                           allow_redirects=False, timeout=15)
        assert resp.status_code == 302, resp.text

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.s.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, data: dict) -> requests.Response:
        """A form POST; the redirect is followed to the page that shows the outcome (a message)."""
        return self.s.post(self.url + path, data={**data, "csrf_token": self.s.cookies.get("csrf_access_token")},
                           timeout=15)


PASSWORD = "correct horse battery"


def admin_of(app: Any, name: str = "root") -> AdminPage:
    """An admin account made in the app's database, logged in to the page."""
    from smartbot.auth.accounts import create_admin

    create_admin(app.runtime.db, name, PASSWORD)
    return AdminPage(app.url, name, PASSWORD)
