"""A small admin-API client for tests: log in as a real user over HTTP and call endpoints."""
from __future__ import annotations

from typing import Any

import requests

from smartbot.auth.accounts import create_admin

ADMIN_PASSWORD = "correct horse battery"


class Api:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base = base_url + "/api/v1"
        self.token = token

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return requests.request(method, self.base + path, headers=headers, timeout=15, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.call("POST", path, json=body if body is not None else {}, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.call("PATCH", path, json=body, **kw)

    def put(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.call("PUT", path, json=body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)


def login(base_url: str, name: str, password: str = ADMIN_PASSWORD) -> Api:
    resp = requests.post(base_url + "/api/v1/auth/login", json={"name": name, "password": password}, timeout=15)
    assert resp.status_code == 200, resp.text
    return Api(base_url, resp.json()["access_token"])


def admin_api(app: Any, name: str = "root") -> Api:
    """Create an admin account in the app's database and log in as it."""
    create_admin(app.runtime.db, name, ADMIN_PASSWORD)
    return login(app.url, name)
