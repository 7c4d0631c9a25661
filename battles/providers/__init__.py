"""Providers: one per wire protocol. ``make_provider`` picks the one a model config names.

``llama-cpp`` runs in-process and is imported only when asked for, so the optional ``local``
extra is needed only by those who use it.
"""

from __future__ import annotations

from battles.config import ModelConfig
from battles.providers.base import Delta, Message, Provider, ProviderError, StreamEnd

__all__ = ["Delta", "Message", "Provider", "ProviderError", "StreamEnd", "make_provider"]


def make_provider(model: ModelConfig) -> Provider:
    """The provider for ``model``. Raises ValueError for a provider name config would refuse."""
    kind = model.provider
    if kind == "openai":
        from battles.providers.openai import OpenAIProvider

        return OpenAIProvider(model)
    if kind == "ollama":
        from battles.providers.ollama import OllamaProvider

        return OllamaProvider(model)
    if kind == "anthropic":
        from battles.providers.anthropic import AnthropicProvider

        return AnthropicProvider(model)
    if kind == "llama-cpp":
        from battles.providers import llama_cpp

        factory = getattr(llama_cpp, "make_provider", None) or getattr(llama_cpp, "LlamaCppProvider")
        return factory(model)
    raise ValueError(f"unknown provider {kind!r}")
