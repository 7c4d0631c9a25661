"""Identity leaks: an answer that names a model ("As Claude, made by Anthropic, ...").

A battle whose answers name one of its models, that model's vendor or family, or a configured
alias is flagged ``identity_leak``: the voter may have known who was who, so ratings leave it
out by default. A name the user typed in the prompt does not count (asking "are you GPT?" and
getting "I am not GPT" reveals nothing the voter did not bring).

Vendor and family names come from the model id, name and aliases ("gpt-4o" -> OpenAI, ChatGPT,
GPT), not from the provider alone: the ``openai`` protocol also serves Llama through vLLM, Groq
or OpenRouter, so "As an OpenAI model" from gpt-4o against llama-3 on that one protocol tells
the two apart. The provider's own names count only for a model whose id names no known family.

Matching is case-insensitive on whole words: the name must not be preceded by a letter or digit
nor followed by a letter ("gpt" matches "GPT-4" and "gpt4" but not "ChatGPTs" or "gptq"...).
All names of a battle go into one compiled regular expression, built once per battle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from battles.config import ModelConfig

# Vendor names an answer may use for the provider that serves it, when its id says nothing more.
PROVIDER_NAMES: dict[str, tuple[str, ...]] = {
    "openai": ("OpenAI", "ChatGPT", "GPT"),
    "anthropic": ("Anthropic", "Claude"),
}

# A word found in a model id or name -> the family and maker names that identify it.
FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "gpt": ("GPT", "ChatGPT", "OpenAI"),
    "chatgpt": ("ChatGPT", "GPT", "OpenAI"),
    "claude": ("Claude", "Anthropic"),
    "llama": ("Llama", "Meta"),
    "codellama": ("Llama", "Meta"),
    "mistral": ("Mistral",),
    "mixtral": ("Mixtral", "Mistral"),
    "ministral": ("Ministral", "Mistral"),
    "codestral": ("Codestral", "Mistral"),
    "gemma": ("Gemma", "Gemini", "Google"),
    "gemini": ("Gemini", "Gemma", "Google"),
    "qwen": ("Qwen", "Alibaba"),
    "qwq": ("QwQ", "Qwen", "Alibaba"),
    "deepseek": ("DeepSeek",),
    "phi": ("Phi", "Microsoft"),
    "smollm": ("SmolLM", "Hugging Face", "HuggingFace"),
    "granite": ("Granite", "IBM"),
    "command": ("Cohere",),
    "cohere": ("Cohere",),
    "aya": ("Aya", "Cohere"),
    "grok": ("Grok", "xAI"),
    "olmo": ("OLMo", "AllenAI"),
    "yi": ("Yi", "01.AI"),
}

# Parts of model ids that name no one ("gpt-4o-mini" -> "mini"): never searched alone.
GENERIC_PARTS = frozenset({
    "mini", "nano", "tiny", "small", "medium", "large", "base", "instruct", "chat", "latest",
    "preview", "turbo", "pro", "flash", "lite", "fast", "code", "coder", "vision", "online",
    "free", "beta", "alpha", "exp", "experimental", "thinking", "reasoning", "model", "models",
    "instant", "gguf", "ggml", "awq", "gptq", "fp", "bf", "int", "bit", "hf", "it", "the",
    "and", "for", "new", "plus", "max", "ultra", "open", "text", "local", "test", "fake",
    "chatty", "plain", "library", "community", "latest", "full", "uncensored", "tools", "sft",
    "dpo", "rlhf", "distill", "moe", "embed", "embedding", "one", "two", "default", "creative",
})

# Common English words that are also maker names: only their capitalised form counts
# ("Meta released" leaks, "meta tag" does not).
CASE_SENSITIVE = frozenset({"meta", "phi", "command", "yi", "aya", "granite"})

_MIN_PART = 3  # shorter id parts ("r1", "4o", "v2") are too ambiguous on their own
_PART = re.compile(r"[A-Za-z]+")
# OpenAI's reasoning models are named by two characters ("o1", "o3-mini", "openai/o4-mini").
_OPENAI_REASONING = re.compile(r"(?i)(?:^|[/:_\s-])o[134](?:$|[/:_.\s-])")


def identity_names(model: ModelConfig) -> set[str]:
    """Every name that, written in an answer, would tell the voter which model this is."""
    names: set[str] = set(model.aliases)
    ids = [model.contestant, model.name, model.model, *model.aliases]
    if model.model_path:
        ids.append(Path(model.model_path).stem)
    known_family = False
    for ident in ids:
        names.add(ident)
        # "hf.co/org/Llama-3.2-1B-Instruct:Q4" -> "Llama-3.2-1B-Instruct"
        tail = ident.rsplit("/", 1)[-1].split(":", 1)[0]
        names.add(tail)
        for part in _PART.findall(ident):
            lower = part.lower()
            if lower in FAMILY_NAMES:
                names.add(part)
                names.update(FAMILY_NAMES[lower])
                known_family = True
            elif len(part) >= _MIN_PART and lower not in GENERIC_PARTS:
                names.add(part)
            for family, known in FAMILY_NAMES.items():
                # "smollm2", "llama3", "qwen2" are letter runs that start with a family name
                if len(family) >= 4 and lower.startswith(family):
                    names.update(known)
                    known_family = True
        if _OPENAI_REASONING.search(ident):
            names.update(FAMILY_NAMES["gpt"])
            known_family = True
    if not known_family:
        names.update(PROVIDER_NAMES.get(model.provider, ()))
    return {n.strip() for n in names if len(n.strip()) >= 2 and n.strip().lower() not in GENERIC_PARTS}


def _alternative(name: str) -> str:
    words = [re.escape(w) for w in name.split()]
    body = r"[\s\-_]*".join(words) if len(words) > 1 else words[0]
    if name.lower() in CASE_SENSITIVE:
        body = f"(?-i:{re.escape(name.capitalize())})"
    return body


def compile_names(names: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of ``names`` as a whole word; None when there are none."""
    by_lower = {n.lower(): n for n in sorted(names) if n.strip()}  # the regex ignores case anyway
    unique = sorted(by_lower.values(), key=lambda n: (-len(n), n))
    if not unique:
        return None
    body = "|".join(_alternative(n) for n in unique)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z])", re.IGNORECASE)


class LeakDetector:
    """Finds the names of a battle's models in its answers (built once per battle).

    Only a name that belongs to some of the battle's models and not to all of them counts:
    when both sides are SmolLM2, "I am SmolLM" tells the voter nothing about which is which.
    """

    def __init__(self, models: Iterable[ModelConfig]):
        per_model = [identity_names(model) for model in models]
        keys = [{_key(n) for n in names} for names in per_model]
        shared = set.intersection(*keys) if len(keys) > 1 else set()
        # Every spelling stays ("Hugging Face" and "HuggingFace" are one key, two patterns).
        self.names: set[str] = {name for names in per_model for name in names if _key(name) not in shared}
        self.pattern = compile_names(self.names)

    def find(self, answers: Iterable[str], prompts: Iterable[str] = ()) -> list[str]:
        """Names found in the answers but in none of the prompts, as first written, sorted."""
        if self.pattern is None:
            return []
        asked = {_key(m.group(0)) for text in prompts if text for m in self.pattern.finditer(text)}
        found: dict[str, str] = {}
        for text in answers:
            if not text:
                continue
            for match in self.pattern.finditer(text):
                word = match.group(0)
                if _key(word) not in asked:
                    found.setdefault(_key(word), word)
        return sorted(found.values(), key=str.lower)


def _key(word: str) -> str:
    """"Hugging Face", "hugging-face" and "HuggingFace" are one name."""
    return _SEPARATORS.sub("", word).lower()


_SEPARATORS = re.compile(r"[\s\-_]+")


def find_leaks(models: Iterable[ModelConfig], answers: Iterable[str], prompts: Iterable[str] = ()) -> list[str]:
    return LeakDetector(models).find(answers, prompts)
