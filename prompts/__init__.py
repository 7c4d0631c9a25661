"""Prompt packs: ready-made prompts to battle on, built in or from a user's own file.

A pack is a TOML file (``name``, ``description`` and ``[[prompt]]`` tables with ``id``,
``category`` and ``text``) or a JSONL file (one JSON object a line with ``text`` and,
optionally, ``id`` and ``category``). The built-in packs ship as package data in
``prompts/packs/*.toml`` and are read with :mod:`importlib.resources`.

A missing ``id`` is made from the text (``p-`` and 10 hex digits of its SHA-1), so it is
stable across runs; a missing ``category`` is ``"uncategorised"``. A file that cannot be
used raises :class:`PromptPackError`, whose message names the file, the line or entry and
the field.

This package stands alone: it imports nothing from ``scoring`` or ``tui``, and from ``battles``
only the program's error base class (so the command line reports a bad pack like any error).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from battles.errors import BlindsideError

__all__ = [
    "DEFAULT_CATEGORY",
    "PackName",
    "Prompt",
    "PromptDeck",
    "PromptPackError",
    "list_packs",
    "load_pack",
    "prompt_id",
]

DEFAULT_CATEGORY = "uncategorised"
_PROMPT_FIELDS = ("id", "category", "text")
_PACK_FIELDS = ("name", "description", "prompt")


class PromptPackError(BlindsideError):
    """A prompt pack cannot be used. The message names the file, the entry and the field."""

    exit_code = 2  # a usage error, like a bad config file


@dataclass(frozen=True)
class Prompt:
    id: str
    category: str
    text: str
    pack: str


class PackName(str):
    """A built-in pack's name (a ``str``) that also carries its description and size."""

    description: str
    size: int

    def __new__(cls, name: str, description: str = "", size: int = 0) -> PackName:
        self = super().__new__(cls, name)
        self.description = description
        self.size = size
        return self

    @property
    def name(self) -> str:
        return str(self)


def prompt_id(text: str) -> str:
    """The stable id given to a prompt that has none: from its text."""
    return "p-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


# --- built-in packs ---------------------------------------------------------------------


def _pack_files() -> dict[str, Any]:
    folder = resources.files(__name__).joinpath("packs")
    if not folder.is_dir():
        return {}
    return {
        entry.name[: -len(".toml")]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }


def list_packs() -> list[PackName]:
    """The built-in packs, sorted by name. Each is a ``str`` with ``.description``/``.size``."""
    names = []
    for name, entry in sorted(_pack_files().items()):
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            data = {}
        description = data.get("description") if isinstance(data.get("description"), str) else ""
        prompts = data.get("prompt") if isinstance(data.get("prompt"), list) else []
        names.append(PackName(name, description, len(prompts)))
    return names


def load_pack(name_or_path: str | os.PathLike) -> list[Prompt]:
    """The prompts of a built-in pack (by name) or of a ``.toml``/``.jsonl`` file.

    A bare name (no folder, no suffix) picks the built-in pack of that name; anything else
    is a path. Raises :class:`PromptPackError` when the pack cannot be used.
    """
    text = os.fspath(name_or_path)
    builtins = _pack_files()
    is_bare = os.sep not in text and "/" not in text and not Path(text).suffix
    if is_bare and text in builtins:
        source = f"built-in pack {text!r}"
        try:
            content = builtins[text].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptPackError(f"{source}: cannot be read: {exc}") from None
        return _parse_toml(content, source, default_name=text)
    path = Path(text).expanduser()
    if not path.is_file():
        known = ", ".join(sorted(builtins)) or "none"
        if is_bare:
            raise PromptPackError(f"{text}: no built-in prompt pack of that name (built-in packs: {known}).")
        raise PromptPackError(
            f"{path}: no such prompt pack file. Give a .toml or .jsonl file, or a built-in pack ({known})."
        )
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".jsonl", ".ndjson"):
        raise PromptPackError(f"{path}: a prompt pack must be a .toml or a .jsonl file, not {suffix or 'a file without suffix'}.")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptPackError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except OSError as exc:
        raise PromptPackError(f"{path}: cannot be read: {exc.strerror or exc}.") from None
    if suffix == ".toml":
        return _parse_toml(content, str(path), default_name=path.stem)
    return _parse_jsonl(content, str(path), pack=path.stem)


# --- parsing ------------------------------------------------------------------------------


def _parse_toml(content: str, source: str, default_name: str) -> list[Prompt]:
    try:
        data = tomllib.loads(content)
    except tomllib.TOMLDecodeError as exc:
        raise PromptPackError(f"{source}: not valid TOML: {exc}.") from None
    for key in data:
        if key not in _PACK_FIELDS:
            hint = " Prompts go in [[prompt]] tables." if key in ("prompts", "prompt_", "item", "items") else ""
            raise PromptPackError(f"{source}: unknown top-level key {key!r}; expected name, description and [[prompt]].{hint}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise PromptPackError(f"{source}: field 'name' must be a non-empty string.")
    if "description" in data and not isinstance(data["description"], str):
        raise PromptPackError(f"{source}: field 'description' must be a string.")
    entries = data.get("prompt")
    if entries is None:
        raise PromptPackError(f"{source}: no prompts; add [[prompt]] tables with id, category and text.")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PromptPackError(f"{source}: 'prompt' must be an array of tables, written [[prompt]].")
    prompts = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: prompt #{number}"
        if isinstance(entry.get("id"), str) and entry["id"].strip():
            where += f" (id {entry['id'].strip()!r})"
        for key in entry:
            if key not in _PROMPT_FIELDS:
                raise PromptPackError(f"{where}: unknown field {key!r}; a prompt has id, category and text.")
        prompts.append(_prompt(entry, where, name.strip()))
    return _checked(prompts, source, [f"prompt #{n}" for n in range(1, len(prompts) + 1)])


def _parse_jsonl(content: str, source: str, pack: str) -> list[Prompt]:
    prompts = []
    places = []
    for number, line in enumerate(content.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}: line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptPackError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
        if not isinstance(entry, dict):
            raise PromptPackError(f"{where}: expected a JSON object with a 'text' field, got {type(entry).__name__}.")
        if "text" not in entry and isinstance(entry.get("prompt"), str):
            entry = {**entry, "text": entry["prompt"]}  # a common spelling in exported data sets
        entry = {key: value for key, value in entry.items() if key in _PROMPT_FIELDS}  # extra fields are fine
        if isinstance(entry.get("id"), int) and not isinstance(entry.get("id"), bool):
            entry["id"] = str(entry["id"])
        prompts.append(_prompt(entry, where, pack))
        places.append(f"line {number}")
    return _checked(prompts, source, places)


def _prompt(entry: dict[str, Any], where: str, pack: str) -> Prompt:
    if "text" not in entry:
        raise PromptPackError(f"{where}: field 'text' is missing.")
    text = entry["text"]
    if not isinstance(text, str):
        raise PromptPackError(f"{where}, field 'text': expected a string, got {type(text).__name__}.")
    text = text.strip()
    if not text:
        raise PromptPackError(f"{where}, field 'text': is empty.")
    values = {}
    for key, default in (("id", None), ("category", DEFAULT_CATEGORY)):
        value = entry.get(key)
        if value is None:
            values[key] = default
            continue
        if not isinstance(value, str):
            raise PromptPackError(f"{where}, field {key!r}: expected a string, got {type(value).__name__} {value!r}.")
        if not value.strip():
            raise PromptPackError(f"{where}, field {key!r}: is empty (leave the field out instead).")
        values[key] = value.strip()
    return Prompt(id=values["id"] or prompt_id(text), category=values["category"], text=text, pack=pack)


def _checked(prompts: list[Prompt], source: str, places: list[str]) -> list[Prompt]:
    if not prompts:
        raise PromptPackError(f"{source}: the pack has no prompts.")
    seen: dict[str, str] = {}
    for prompt, place in zip(prompts, places):
        if prompt.id in seen:
            raise PromptPackError(
                f"{source}: {place}, field 'id': {prompt.id!r} is already used by {seen[prompt.id]}; ids must be unique"
                + (" (two prompts without an id have the same text)." if prompt.id == prompt_id(prompt.text) else ".")
            )
        seen[prompt.id] = place
    return prompts


# --- dealing ------------------------------------------------------------------------------


class PromptDeck:
    """Deals a pack's prompts in a shuffled order, none twice until all were dealt.

    The order depends only on the prompts and the seed (``None``: a fresh random order).
    When every prompt has been dealt, a new round starts in a new shuffled order (never
    opening with the prompt that closed the last round, when there are two or more).
    """

    def __init__(self, prompts: Iterable[Prompt], seed: int | None = None):
        self.prompts: list[Prompt] = list(prompts)
        if not self.prompts:
            raise PromptPackError("a prompt deck needs at least one prompt.")
        self.seed = seed
        self._rng = random.Random(seed)
        self.round = 0
        self._order: list[Prompt] = []
        self._next = 0
        self._shuffle()

    def _shuffle(self) -> None:
        last = self._order[-1] if self._order else None
        order = list(self.prompts)
        self._rng.shuffle(order)
        if last is not None and len(order) > 1 and order[0] is last:
            order[0], order[-1] = order[-1], order[0]
        self._order = order
        self._next = 0
        self.round += 1

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def remaining(self) -> int:
        """Prompts left in this round."""
        return len(self._order) - self._next

    @property
    def exhausted(self) -> bool:
        """Every prompt of this round has been dealt (the next draw starts a new round)."""
        return self.remaining == 0

    def draw(self) -> Prompt:
        """The next prompt; after the last one of a round, the first of a new shuffle."""
        if self.exhausted:
            self._shuffle()
        prompt = self._order[self._next]
        self._next += 1
        return prompt

    deal = draw

    def __iter__(self) -> Iterator[Prompt]:
        """The rest of this round, each prompt once."""
        while not self.exhausted:
            yield self.draw()
