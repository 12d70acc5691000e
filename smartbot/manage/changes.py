"""Audit rows for configuration changes: who changed what, with the values before and after."""
from __future__ import annotations

from typing import Any

from .. import audit


def record(conn: Any, actor: str, action: str, target: str, before: Any, after: Any) -> None:
    audit.record(conn, action, actor, target, "ok", {"before": before, "after": after})
