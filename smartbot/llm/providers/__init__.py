"""Provider kinds by name. Adding an API kind: one module with a Provider subclass, one row here."""
from __future__ import annotations

from ..base import Provider
from .openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
}
