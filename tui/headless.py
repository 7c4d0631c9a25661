"""Shared pieces of the headless commands (battle, vote, models): input, lineup checks, output.

Answers and model names are untrusted text: printed for a person they go through
``tui.widgets.safe_text.printable`` (the sanitizer the widgets use too) so an escape sequence
can never drive the terminal, and a name goes through ``one_line`` so it cannot forge a line.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, TextIO

from battles.config import Config, load_config
from battles.errors import ConfigError
from battles.pairing import SAMPLE_CONFIG
from tui.widgets.safe_text import one_line, printable

SIDE_LABELS = {"a": "Model A", "b": "Model B"}


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
        parts.append(f"finish: {one_line(record.finish_reason, 40)}")  # the server's own word
    if record.tokens is not None:
        parts.append(f"{record.tokens} tokens")
    if record.ttft_ms is not None:
        parts.append(f"first token {record.ttft_ms:.0f} ms")
    if record.duration_ms is not None:
        parts.append(f"{record.duration_ms / 1000:.1f} s")
    return f"[{' · '.join(parts)}]" if parts else ""


def format_reveal(reveal, *, voter: str | None = None) -> str:
    lines = [f"Model A was: {one_line(reveal.model_a)}", f"Model B was: {one_line(reveal.model_b)}"]
    if reveal.winner:
        said = {"model_a": "Model A is better", "model_b": "Model B is better",
                "tie": "a tie", "both_bad": "both are bad"}[reveal.winner]
        lines.append(f"Vote recorded: {said}" + (f" (voter {one_line(voter)})" if voter else "") + ".")
    if reveal.identity_leak:
        names = ", ".join(map(one_line, reveal.leaked_names)) if reveal.leaked_names else "a model name"
        lines.append(f"Identity leak: an answer named {names}; ratings leave this battle out by default.")
    for side, record in (("a", reveal.a), ("b", reveal.b)):
        if record.error and record.error_hint:
            lines.append(f"{SIDE_LABELS[side]} ({one_line(getattr(reveal, 'model_' + side))}): "
                         f"{one_line(record.error_hint)}")
    return printable("\n".join(lines))
