"""The [workflows] settings: which hosts http steps may call (none by default) and the size caps.

An empty `http_allow` means deny: no http step reaches anything until the operator names hosts.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..executor.settings import check_hosts
from ..settings.schema import setting


@dataclass
class WorkflowSettings:
    http_allow: list[str] = setting([], help="hosts (or host:port) http steps may call; empty denies all")
    max_steps: int = setting(20, minimum=1, help="steps one workflow may have")
    output_cap: int = setting(8000, minimum=256, help="characters of a step's output kept and passed on")
    render_cap: int = setting(16000, minimum=256, help="characters one rendered template may have")
    max_timeout: float = setting(600.0, minimum=1, help="the longest timeout a step may ask for, seconds")
    keep_days: float = setting(30.0, minimum=1, help="finished runs (and their steps) are kept this long")

    def validate(self, path: str) -> None:
        check_hosts(self.http_allow, f"{path}.http_allow", "api.example.com")
