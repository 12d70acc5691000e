"""The admin API as a client sees it: log in with a real admin account, then call /api/v1 with
the JWT in the Authorization header, over real HTTP."""
from __future__ import annotations

from typing import Any

from smartbot.auth.accounts import create_admin

from .api_client import ADMIN_PASSWORD as PASSWORD
from .api_client import Api, login


class AdminApi(Api):
    def __init__(self, app: Any, name: str = "root", db: Any = None) -> None:
        """`db`: the app's database when the app runs in other processes (gunicorn)."""
        self.app = app
        create_admin(db if db is not None else app.runtime.db, name, PASSWORD)
        super().__init__(app.url, login(app.url, name, PASSWORD).token)
