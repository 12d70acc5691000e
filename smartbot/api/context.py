"""What an API view works with: the runtime, who is calling, and the validated body; and the
API's own error, which its blueprint answers as JSON with a status and a reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..auth.rbac import Principal
from ..manage import changes
from ..web.context import current_runtime


class ApiError(Exception):
    def __init__(self, status: int, reason: str, field_name: str | None = None) -> None:
        self.status = status
        self.reason = reason
        self.field = field_name
        super().__init__(reason)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.reason}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class ApiContext:
    runtime: Any
    principal: Principal | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls) -> ApiContext:
        return cls(runtime=current_runtime())

    @property
    def actor(self) -> str:
        return changes.actor_of(self.principal) if self.principal else "anonymous"
