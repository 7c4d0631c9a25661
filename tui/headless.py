"""Shared pieces of the headless commands (battle, vote, models): input, lineup checks, output.

Answers are model output, i.e. untrusted text: printed for a person they go through
``terminal_safe`` so an escape sequence in an answer can never drive the terminal.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any, TextIO

from battles.config import Config, load_config
from battles.errors import ConfigError
from battles.pairing import SAMPLE_CONFIG

# C0 controls except tab and newline, DEL, C1 controls, and the bidi controls that can make
# text display in another order than it is stored ("Trojan source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

SIDE_LABELS = {"a": "Model A", "b": "Model B"}


def terminal_safe(text: str) -> str:
    """``text`` with every control character shown as a visible escape (``\\x1b``) instead."""
    text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(lambda m: _escape(m.group(0)), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def read_prompt(value: str, stdin: TextIO | None = None) -> str:
    """The prompt given with --prompt, or read from stdin for ``-``; refuses an empty one."""
    if value == "-":
        stream = stdin or sys.stdin
        try:
            value = stream.read()
        except UnicodeDecodeError:
            raise ConfigError("stdin is not valid UTF-8 text; pass the prompt as UTF-8.") from None
    if not value.strip():
        raise ConfigError("The prompt is empty. Pass the question with --prompt TEXT, or --prompt - to read stdin.")
    return value


def parse_pair(value: str | None) -> tuple[str, str] | None:
    """``--models A,B`` -> ("A", "B")."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",")]
    if len(names) != 2 or not all(names):
        raise ConfigError(f"--models takes two model names separated by a comma (e.g. --models small,mini), got {value!r}.")
    return names[0], names[1]


def require_lineup(config: Config, *, at_least: int = 2) -> None:
    """A ConfigError (exit 2) showing how to add models when the config names too few."""
    if len(config.models) < at_least:
        have = f"only one model ({next(iter(config.models))})" if config.models else "no models"
        raise ConfigError(f"{config.path or 'The config'} has {have}; a battle needs two. "
                          f"Add a [models.NAME] table per model, for example:\n\n{SAMPLE_CONFIG}")


def load_lineup_config(config_path: str | None, *, at_least: int = 2) -> tuple[Config, str | None]:
    """The config with its lineup: its own models, else the bundled or detected ones.

    Returns (config, description of a lineup that did not come from the config, or None).
    Raises ConfigError (exit 2) saying how to write a config when there are too few models.
    """
    config = load_config(config_path)
    if config.models:
        require_lineup(config, at_least=at_least)
        return config, None
    from battles.lineup import lineup_report, setup_help_text

    report = lineup_report(config)
    if len(report.models) < at_least:
        raise ConfigError(setup_help_text().rstrip())
    return dataclasses.replace(config, models=report.models), report.describe()


def side_dict(record, *, model: str | None, show_hint: bool) -> dict[str, Any]:
    """One side of ``battle --json``. ``model`` stays None until the vote."""
    return {
        "model": model,
        "text": record.text,
        "error": record.error,
        "error_hint": record.error_hint if show_hint else None,
        "ttft_ms": record.ttft_ms,
        "duration_ms": record.duration_ms,
        "tokens": record.tokens,
        "finish_reason": record.finish_reason,
        "features": record.features,
    }


def side_stats(record) -> str:
    parts = []
    if record.finish_reason:
        parts.append(f"finish: {record.finish_reason}")
    if record.tokens is not None:
        parts.append(f"{record.tokens} tokens")
    if record.ttft_ms is not None:
        parts.append(f"first token {record.ttft_ms:.0f} ms")
    if record.duration_ms is not None:
        parts.append(f"{record.duration_ms / 1000:.1f} s")
    return f"[{' · '.join(parts)}]" if parts else ""


def format_reveal(reveal, *, voter: str | None = None) -> str:
    lines = [f"Model A was: {reveal.model_a}", f"Model B was: {reveal.model_b}"]
    if reveal.winner:
        said = {"model_a": "Model A is better", "model_b": "Model B is better",
                "tie": "a tie", "both_bad": "both are bad"}[reveal.winner]
        lines.append(f"Vote recorded: {said}" + (f" (voter {voter})" if voter else "") + ".")
    if reveal.identity_leak:
        names = ", ".join(reveal.leaked_names) if reveal.leaked_names else "a model name"
        lines.append(f"Identity leak: an answer named {names}; ratings leave this battle out by default.")
    for side, record in (("a", reveal.a), ("b", reveal.b)):
        if record.error and record.error_hint:
            lines.append(f"{SIDE_LABELS[side]} ({getattr(reveal, 'model_' + side)}): {record.error_hint}")
    return terminal_safe("\n".join(lines))
