"""Shared fixtures. The fake model server: see tests/fake_provider.py for its model-id grammar."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from functools import cache
from typing import Any

import httpx
import pytest

from battles.config import ModelConfig
from tests.fake_provider import FakeProvider
from tests.local_extra import skip_local_model_tests

pytest_plugins = ("pytester",)  # tests/test_local_extra.py runs the hook below in a pytest of its own


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip_local_model_tests(items)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeProvider]:
    """One fake provider server (real HTTP on 127.0.0.1, background thread) for the session."""
    server = FakeProvider().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_provider(fake_server: FakeProvider) -> FakeProvider:
    """The session's fake server with its recorded requests and fault counters cleared."""
    fake_server.clear()
    return fake_server


@pytest.fixture
def fake_url(fake_provider: FakeProvider) -> str:
    """``http://127.0.0.1:PORT`` (OpenAI-compatible base_url: ``fake_provider.openai_url``)."""
    return fake_provider.url


@pytest.fixture
def fake_model(fake_provider: FakeProvider) -> Callable[..., ModelConfig]:
    """Factory: ``fake_model("fake:tokens=5", provider="openai", name="alpha", **fields)``, a
    ModelConfig aimed at the fake server with the right base_url for its provider."""

    def make(model: str = "fake:tokens=5", provider: str = "openai", name: str | None = None,
             **fields: Any) -> ModelConfig:
        fields.setdefault("base_url", fake_provider.base_url(provider))
        return ModelConfig(name=name or f"{provider}-test", provider=provider, model=model, **fields)

    return make


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """Building an AsyncClient loads the CA bundle (~0.1 s); tests share one context instead."""
    return ssl.create_default_context()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """An AsyncClient like the engine's (ignores proxy settings from the environment)."""
    async with httpx.AsyncClient(trust_env=False, verify=shared_ssl_context()) as client:
        yield client
