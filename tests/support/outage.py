"""A model API that can be switched off: while `down`, every request gets 503 (what a load balancer
answers for a dead backend); while up, POSTs get the fake model's echo answer and GETs a 200."""
from __future__ import annotations

import json

from .fake_model import FakeModel
from .httpserver import LoopbackServer, QuietHandler


class _Handler(QuietHandler):
    def _answer(self, body: bytes | None) -> None:
        server: SwitchableModel = self.server.owner  # type: ignore[attr-defined]
        server.hits += 1
        if server.down:
            self.send(503, b'{"error": "upstream down"}')
            return
        if body is None:
            self.send(200, b'{"object": "list", "data": []}')
            return
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        self.send(200, json.dumps(FakeModel.answer(request)).encode())

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(None)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.read_body())


class SwitchableModel(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.down = False
        self.hits = 0

    @property
    def base_url(self) -> str:
        return self.url + "/v1"
