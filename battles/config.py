"""Config discovery and validation.

Lookup order: ``--config PATH``, ``$BLINDSIDE_CONFIG``, ``./blindside.toml``, then the
platformdirs user config dir. No file at all is valid: the built-in lineup applies.
Keys never live here: a model names the environment variable that holds its key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from battles.errors import ConfigError

APP_NAME = "blindside"
PROVIDERS = ("openai", "ollama", "anthropic", "llama-cpp")
PAIRINGS = ("uniform", "balanced", "active")
TREATMENTS = ("chatty", "plain")
DEFAULT_MAX_CHARS = 200_000
DEFAULT_DEADLINE = 300.0  # seconds for a whole answer: ``timeout`` only bounds the gaps

DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "ollama": "http://localhost:11434",
    "anthropic": "https://api.anthropic.com",
}


@dataclass(frozen=True)
class ModelConfig:
    """One contestant of the lineup. ``name`` is the lineup key; ``model`` the provider's id."""

    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 60.0
    deadline: float = DEFAULT_DEADLINE
    aliases: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    treatment: str | None = None
    max_chars: int = DEFAULT_MAX_CHARS
    family: str | None = None  # variants of one model share a family: the leaderboard flags the best pick
    # llama-cpp only
    model_path: str | None = None
    n_ctx: int | None = None
    n_threads: int | None = None

    @property
    def url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS.get(self.provider, "")).rstrip("/")

    @property
    def contestant(self) -> str:
        """The name shown at reveal and on the leaderboard (treatment included)."""
        # "x-chatty" with treatment chatty already says so: no "x-chatty+chatty".
        if self.treatment and not self.name.endswith((f"+{self.treatment}", f"-{self.treatment}")):
            return f"{self.name}+{self.treatment}"
        return self.name


@dataclass(frozen=True)
class ArenaConfig:
    voter: str | None = None
    pairing: str = "balanced"
    max_response_chars: int = DEFAULT_MAX_CHARS


@dataclass(frozen=True)
class Config:
    arena: ArenaConfig = field(default_factory=ArenaConfig)
    models: dict[str, ModelConfig] = field(default_factory=dict)
    path: Path | None = None  # None: no file was found


def config_families(config: Config) -> tuple[tuple[str, str], ...]:
    """(leaderboard name, family) of each model of the lineup that declares a ``family``."""
    return tuple((model.contestant, model.family) for model in config.models.values() if model.family)


def user_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "blindside.toml"


def find_config_path(cli_path: str | os.PathLike | None = None) -> Path | None:
    """The file to read, by the documented order; None when there is none."""
    if cli_path:
        path = Path(cli_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (given with --config).")
        return path
    env = os.environ.get("BLINDSIDE_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (named by $BLINDSIDE_CONFIG).")
        return path
    for path in (Path.cwd() / "blindside.toml", user_config_path()):
        if path.is_file():
            return path
    return None


def load_config(cli_path: str | os.PathLike | None = None) -> Config:
    path = find_config_path(cli_path)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax and try again.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "config"
    unknown = set(data) - {"arena", "models"}
    if unknown:
        raise ConfigError(f"{where}: unknown section {sorted(unknown)[0]!r}; expected [arena] and [models.NAME].")
    arena = _parse_arena(_table(data.get("arena", {}), f"{where}: [arena]"), where)
    models_table = _table(data.get("models", {}), f"{where}: [models]")
    models = {
        name: _parse_model(name, _table(entry, f"{where}: [models.{name}]"), where, arena)
        for name, entry in models_table.items()
    }
    return Config(arena=arena, models=models, path=path)


def _table(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a table, not {type(value).__name__}.")
    return value


def _parse_arena(table: dict, where: str) -> ArenaConfig:
    fields = _Fields(table, f"{where}: [arena]")
    arena = ArenaConfig(
        voter=fields.string("voter"),
        pairing=fields.choice("pairing", PAIRINGS, default="balanced"),
        max_response_chars=fields.integer("max_response_chars", default=DEFAULT_MAX_CHARS, minimum=1),
    )
    fields.reject_unknown()
    return arena


def _parse_model(name: str, table: dict, where: str, arena: ArenaConfig) -> ModelConfig:
    fields = _Fields(table, f"{where}: model {name!r}")
    provider = fields.choice("provider", PROVIDERS, required=True)
    model_path = fields.string("model_path")
    model = fields.string("model", required=provider != "llama-cpp") or (
        Path(model_path).stem if model_path else name
    )
    headers = fields.str_table("headers")
    config = ModelConfig(
        name=name,
        provider=provider,
        model=model,
        base_url=fields.url("base_url"),
        api_key_env=fields.string("api_key_env"),
        system=fields.string("system"),
        temperature=fields.number("temperature", minimum=0.0),
        max_tokens=fields.integer("max_tokens", minimum=1),
        timeout=fields.number("timeout", default=60.0, minimum=0.001),
        deadline=fields.number("deadline", default=DEFAULT_DEADLINE, minimum=0.001),
        aliases=tuple(fields.str_list("aliases")),
        headers=tuple(headers.items()),
        treatment=fields.choice("treatment", TREATMENTS),
        family=fields.label("family"),
        max_chars=fields.integer("max_chars", default=arena.max_response_chars, minimum=1),
        model_path=model_path,
        n_ctx=fields.integer("n_ctx", minimum=1),
        n_threads=fields.integer("n_threads", minimum=1),
    )
    fields.reject_unknown()
    for header in headers:
        if header.lower() in ("authorization", "x-api-key"):
            raise ConfigError(
                f"{where}: model {name!r}, field 'headers': {header!r} would put a key in a file; "
                "set api_key_env to the environment variable that holds the key instead."
            )
    return config


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a server address, or None when it is fine."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it contains spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            digits = url.split("//", 1)[-1].split("/", 1)[0].rpartition(":")[2]
            if digits.isdigit():
                return f"port {int(digits)} is not in 1-65535"
            return "the port must be a number in 1-65535 (e.g. http://localhost:11434)"
        return "it cannot be read as a URL (e.g. http://localhost:11434)"
    if parts.scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https:// (e.g. http://localhost:11434)"
    if not parts.hostname:
        return "it names no host (e.g. http://localhost:11434)"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is not in 1-65535"
    if parts.netloc.endswith(":"):
        return "the port after ':' is missing (use a number from 1-65535)"
    return None


class _Fields:
    """Typed reads from one TOML table, each error naming the file, the entry and the field."""

    def __init__(self, table: dict, where: str):
        self.table = table
        self.where = where
        self.seen: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"{self.where}: field {key!r} is missing.")
            return None
        return self.table[key]

    def _wrong(self, key: str, expected: str) -> ConfigError:
        got = type(self.table[key]).__name__
        return ConfigError(f"{self.where}, field {key!r}: expected {expected}, got {got} {self.table[key]!r}.")

    def string(self, key: str, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is not None and not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def choice(self, key: str, options: tuple[str, ...], default: str | None = None, required: bool = False):
        value = self.string(key, required)
        if value is None:
            return default
        if value not in options:
            raise ConfigError(f"{self.where}, field {key!r}: {value!r} is not one of {', '.join(options)}.")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int | None = None) -> int | None:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "a whole number")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.where}, field {key!r}: must be at least {minimum}, got {value}.")
        return value

    def number(self, key: str, default: float | None = None, minimum: float | None = None) -> float | None:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._wrong(key, "a number")
        if minimum is not None and value < minimum:
            raise ConfigError(f"{self.where}, field {key!r}: must be at least {minimum}, got {value}.")
        return float(value)

    def label(self, key: str) -> str | None:
        """A short one-line name: not blank, no control characters, at most 100 characters."""
        value = self.string(key)
        if value is None:
            return None
        if not value.strip() or not value.isprintable() or len(value) > 100:
            raise ConfigError(f"{self.where}, field {key!r}: {value[:100]!r} must be a non-blank name of at most "
                              "100 printable characters (for example \"maverick\").")
        return value

    def url(self, key: str) -> str | None:
        """An http(s) URL with a host and, if given, a port in 1-65535."""
        value = self.string(key)
        if value is None:
            return None
        problem = url_problem(value)
        if problem:
            raise ConfigError(f"{self.where}, field {key!r}: {value!r} is not a usable server address: {problem}.")
        return value

    def str_list(self, key: str) -> list[str]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, "a list of strings")
        return value

    def str_table(self, key: str) -> dict[str, str]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self._wrong(key, "a table of strings")
        return value

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            raise ConfigError(f"{self.where}: unknown field {unknown[0]!r}. Check its spelling.")
