"""The judge prompt: loaded from a TOML file, checked, and filled in for one battle and order.

The default is MT-Bench's pairwise judge prompt, shipped as ``prompts/judges/mt-bench-pair-v2.toml``
(its comments document the placeholders). A file given with ``--template`` has the same
shape: a ``[single_turn]`` table with ``system`` and ``user``, and optionally a
``[multi_turn]`` one. Placeholders are filled in one pass, so an answer that itself contains
``{answer_b}`` is never filled in again.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from battles.errors import BlindsideError

DEFAULT_TEMPLATE = "mt-bench-pair-v2.toml"

SINGLE_MARKERS = {
    "answer_a": ("[The Start of Assistant A's Answer]", "[The End of Assistant A's Answer]"),
    "answer_b": ("[The Start of Assistant B's Answer]", "[The End of Assistant B's Answer]"),
}
MULTI_MARKERS = {
    "conversation_a": ("<|The Start of Assistant A's Conversation with User|>",
                       "<|The End of Assistant A's Conversation with User|>"),
    "conversation_b": ("<|The Start of Assistant B's Conversation with User|>",
                       "<|The End of Assistant B's Conversation with User|>"),
}
_PLACEHOLDER = re.compile(r"\{(question|answer_a|answer_b|conversation_a|conversation_b)\}")

Turn = tuple[str, str, str]  # (the user's prompt, the answer shown as A, the answer shown as B)


class TemplateError(BlindsideError):
    """The judge template cannot be used."""

    exit_code = 2


@dataclass(frozen=True)
class Form:
    system: str
    user: str


@dataclass(frozen=True)
class JudgeTemplate:
    single_turn: Form
    multi_turn: Form | None
    source: str

    def messages(self, turns: list[Turn]) -> list[dict[str, str]]:
        """The judge's chat messages for a battle shown with these (prompt, A, B) turns."""
        if len(turns) == 1:
            prompt, a, b = turns[0]
            form, values = self.single_turn, {"question": prompt, "answer_a": a, "answer_b": b}
        elif self.multi_turn is not None:
            form = self.multi_turn
            values = {"conversation_a": _conversation(turns, "A"), "conversation_b": _conversation(turns, "B")}
        else:
            form = self.single_turn
            values = {"question": "\n\n".join(p for p, _, _ in turns),
                      "answer_a": _conversation(turns, "A"), "answer_b": _conversation(turns, "B")}
        user = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), form.user)
        messages = [{"role": "system", "content": form.system}] if form.system.strip() else []
        return messages + [{"role": "user", "content": user}]


def _conversation(turns: list[Turn], side: str) -> str:
    """FastChat's multi-turn layout, for any number of turns."""
    index = 1 if side == "A" else 2
    return "\n\n".join(f"### User:\n{turn[0]}\n\n### Assistant {side}:\n{turn[index]}" for turn in turns)


def load_template(path: str | Path | None = None) -> JudgeTemplate:
    """The template in ``path``, or the default one. Raises TemplateError (one line)."""
    if path is None:
        source = f"prompts/judges/{DEFAULT_TEMPLATE}"
        text = resources.files("prompts").joinpath("judges", DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TemplateError(f"{source}: no such judge template file.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"{source}: cannot read the judge template ({exc}).") from None
    return parse_template(text, source)


def parse_template(text: str, source: str = "the template") -> JudgeTemplate:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not a TOML judge template ({exc}).") from None
    if "single_turn" not in data:
        raise TemplateError(f"{source}: no [single_turn] table with `system` and `user`; "
                            "see prompts/judges/mt-bench-pair-v2.toml for the shape.")
    single = _form(data["single_turn"], "single_turn", SINGLE_MARKERS, source)
    multi = _form(data["multi_turn"], "multi_turn", MULTI_MARKERS, source) if "multi_turn" in data else None
    return JudgeTemplate(single, multi, source)


def _form(table: object, name: str, markers: dict[str, tuple[str, str]], source: str) -> Form:
    if not isinstance(table, dict) or not isinstance(table.get("user"), str) \
            or not isinstance(table.get("system", ""), str):
        raise TemplateError(f"{source}: [{name}] needs `user` (and may have `system`) as text.")
    user = table["user"]
    for placeholder, (start, end) in markers.items():
        missing = [m for m in (start, end) if m not in user]
        if missing:
            needed = "; ".join(m for pair in markers.values() for m in pair)
            raise TemplateError(f"{source}: [{name}] user lacks the answer marker {missing[0]}; "
                                f"a judge template needs all four: {needed}.")
        token = "{" + placeholder + "}"
        at = user.find(token, user.find(start))
        if at < 0 or at > user.find(end, user.find(start)):
            raise TemplateError(f"{source}: [{name}] user needs {token} between {start} and {end}.")
    return Form(system=table.get("system", ""), user=user)
