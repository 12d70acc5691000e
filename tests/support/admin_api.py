"""The admin API as a client sees it: log in with a real admin account, then call /api/v1 with
the JWT in the Authorization header, over real HTTP."""
from __future__ import annotations

from typing import Any

import requests

from smartbot.auth.accounts import create_admin

PASSWORD = "correct horse battery"


class AdminApi:
    def __init__(self, app: Any, name: str = "root", db: Any = None) -> None:
        """`db`: the app's database when the app runs in other processes (gunicorn)."""
        self.app = app
        create_admin(db if db is not None else app.runtime.db, name, PASSWORD)
        resp = requests.post(app.url + "/api/v1/auth/login", json={"name": name, "password": PASSWORD}, timeout=10)
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.app.url + "/api/v1" + path, timeout=10,
                                headers={"Authorization": f"Bearer {self.token}"}, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.call("POST", path, json=body)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.call("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> requests.Response:
        return self.call("PATCH", path, json=body)

    def delete(self, path: str) -> requests.Response:
        return self.call("DELETE", path)
