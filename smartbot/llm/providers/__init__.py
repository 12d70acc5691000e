"""Provider kinds by name. Adding an API kind: one module with an HttpProvider subclass (its paths,
payload(), parse() and stream_parser()), one row here, and the kind's name in
ProviderSettings.kind's choices."""
from __future__ import annotations

from ..base import Provider
from .anthropic import AnthropicProvider
from .ollama import OllamaProvider
from .openai import OpenAIProvider

KINDS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "ollama": OllamaProvider,
}
