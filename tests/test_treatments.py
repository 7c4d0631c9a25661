"""Style treatments: chatty keeps every word and raises the style features; plain strips
decoration; both stream with the same output however the input is split."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from battles.features import split_code, style_features
from battles.treatments import (
    CHATTY_CLOSINGS,
    CHATTY_HEADERS,
    CHATTY_OPENINGS,
    ChattyTreatment,
    PlainTreatment,
    apply_treatment,
    make_treatment,
)

ANSWER = """The capital of Australia is Canberra. It was chosen in 1908 as a compromise between \
Sydney and Melbourne, e.g. the two rivals. Parliament moved there in 1927.

Key facts:

- Population: about 470,000
- Designed by Walter Burley Griffin and Marion Mahony Griffin.
1. Sydney is the largest city.

There are three primary colors: red, yellow, and blue. First, mix red and yellow. Then add \
blue to get a darker shade. Finally, let it dry.

## Code

```python
def capital(country: str) -> str:
    # a comment. Not a sentence! **not bold**
    return {"Australia": "Canberra"}[country]
```

> A quote with **bold** text. And `code. inside` it.

| a | b |
|---|---|
| 1 | 2 |

---
That's all for now.
"""

PROSE = (
    "Bread dough needs time to rise. Yeast eats the sugars in the flour and releases "
    "carbon dioxide, which gets trapped by the gluten network. A warm kitchen speeds this "
    "up, while the fridge slows it down for a more complex flavour. Most recipes ask for "
    "about 90 minutes at room temperature."
)

ADDED_LINES = set(CHATTY_OPENINGS) | set(CHATTY_HEADERS) | set(CHATTY_CLOSINGS)


def words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


def strip_added_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip() not in ADDED_LINES)


def stream(name: str, seed: int, chunks: list[str]) -> str:
    treatment = make_treatment(name, seed)
    return "".join(treatment.feed(chunk) for chunk in chunks) + treatment.finish()


def code_contents(text: str) -> list[str]:
    """The lines inside fenced code blocks."""
    prose, _ = split_code(text)
    return [line for line in text.split("\n") if line not in prose.split("\n")]


# --- the factory ----------------------------------------------------------------------


def test_make_treatment():
    assert make_treatment(None, 1) is None
    assert isinstance(make_treatment("chatty", 1), ChattyTreatment)
    assert isinstance(make_treatment("plain", 1), PlainTreatment)
    with pytest.raises(ValueError, match="unknown treatment 'loud'"):
        make_treatment("loud", 1)
    assert apply_treatment(None, "as is") == "as is"


def test_nothing_in_nothing_out():
    for name in ("chatty", "plain"):
        assert make_treatment(name, 3).finish() == ""


def test_feed_after_finish_is_a_bug():
    treatment = make_treatment("chatty", 3)
    treatment.feed("Hi.")
    treatment.finish()
    with pytest.raises(RuntimeError):
        treatment.feed("more")


# --- chatty -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [ANSWER, PROSE, "Yes.", "42", "- a\n- b\n", "```\ncode\n```"])
@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
def test_chatty_keeps_every_word_in_order(text, seed):
    chatty = apply_treatment("chatty", text, seed)
    assert words(strip_added_lines(chatty)) == words(text)


@pytest.mark.parametrize("seed", range(8))
def test_chatty_raises_the_style_features(seed):
    before = style_features(PROSE)
    after = style_features(apply_treatment("chatty", PROSE, seed))
    for name in ("emoji", "header", "bold", "chars", "tokens", "exclamations"):
        assert after[name] > before[name], name


def test_chatty_has_the_llama_experimental_shape():
    out = apply_treatment("chatty", ANSWER, 1)
    lines = out.split("\n")
    assert lines[0] in CHATTY_OPENINGS
    assert lines[2] in CHATTY_HEADERS
    assert lines[-2] in CHATTY_CLOSINGS and lines[-1] == ""
    assert "### " in out  # "Key facts:" became a header
    assert "- red\n- yellow\n- and blue." in out  # a listing became bullets
    assert "- **First**, mix red and yellow." in out
    assert "- **Finally**, let it dry" in out
    assert "**Canberra**" in out


def test_chatty_leaves_code_tables_and_rules_alone():
    out = apply_treatment("chatty", ANSWER, 2)
    assert code_contents(out) == code_contents(ANSWER)
    for line in ("| a | b |", "|---|---|", "| 1 | 2 |", "---"):
        assert f"\n{line}\n" in out


def test_chatty_closes_a_fence_left_open_before_its_closing_line():
    out = apply_treatment("chatty", "Look:\n```\nx = 1", 0)
    assert style_features(out)["code_blocks"] == 1
    body, closing = out.rstrip("\n").rsplit("\n\n", 1)
    assert body.endswith("x = 1\n```") and closing in CHATTY_CLOSINGS


def test_chatty_does_not_split_sentences_at_abbreviations_or_in_code():
    out = apply_treatment("chatty", "Use a tool, e.g. a hammer. Run `a. b` now.", 5)
    assert "e.g. a" in out and "`a. b`" in out


def test_seeds_matter_and_repeat():
    outputs = {apply_treatment("chatty", PROSE, seed) for seed in range(10)}
    assert len(outputs) > 3
    assert apply_treatment("chatty", PROSE, 4) == apply_treatment("chatty", PROSE, 4)


# --- plain ------------------------------------------------------------------------------

DECORATED = """# Great question! 🎉

## ✨ Here's the scoop

**Canberra** is the capital 🇦🇺 of *Australia*, not __Sydney__! 😊

- First point 👍🏽
  * nested ~~point~~
1. Numbered **one**
> quoted [link](https://example.org) and ![alt text](img.png)

---
| x | y |
|:--|--:|
| 1 | 2 |

```js
// **keep** this 🎉 exactly
const x = 1;
```

Keycap 1️⃣ stays a digit, © stays.
"""


def test_plain_strips_markdown_and_emoji():
    out = apply_treatment("plain", DECORATED, 0)
    features = style_features(out)
    assert features["header"] == 0
    assert features["list"] == 0
    assert features["bold"] == 0
    assert features["emoji"] == 1  # the one inside the code block
    assert "**" not in out.replace("// **keep** this", "")
    assert "Canberra is the capital of Australia, not Sydney!" in out
    assert "Great question!\n" in out
    assert "1) Numbered one" in out
    assert "quoted link (https://example.org) and alt text" in out
    assert "x | y\n1 | 2\n" in out
    assert "Keycap 1 stays a digit, © stays." in out


def test_plain_keeps_code_verbatim():
    out = apply_treatment("plain", DECORATED, 0)
    assert "```js\n// **keep** this 🎉 exactly\nconst x = 1;\n```\n" in out


def test_plain_keeps_the_words():
    text = DECORATED.replace("![alt text](img.png)", "alt text")  # an image keeps only its alt
    assert words(apply_treatment("plain", text, 0)) == words(text)
    assert words(apply_treatment("plain", ANSWER, 0)) == words(ANSWER)


# --- streaming ----------------------------------------------------------------------------


def test_a_finished_sentence_is_shown_at_once():
    treatment = make_treatment("chatty", 9)
    first = treatment.feed("Bread needs time. Yeast")
    assert "Bread needs" in first and "Yeast" not in first
    assert "Yeast" in treatment.feed(" works slowly. ")


def test_code_is_released_line_by_line():
    treatment = make_treatment("plain", 9)
    assert treatment.feed("```\nprint(1)") == "```\n"
    assert treatment.feed("\npri") == "print(1)\n"


def test_crlf_split_between_chunks():
    whole = apply_treatment("plain", "# A\r\nb\r\n", 0)
    assert stream("plain", 0, ["# A\r", "\nb\r", "\n"]) == whole == "A\nb\n"


LINES = st.sampled_from(
    [
        "", "# Title", "## Sub heading here", "#tag line", "- item one", "  * nested item",
        "1. first step", "10) tenth", "> quoted text. More!", "```python", "```", "~~~",
        "x = 1  # code. comment", "| a | b |", "|---|---|", "---", "***", "Key facts:",
        "There are three colors: red, green, and blue.", "First, do this. Then that.",
        "It costs $5, e.g. cheap. Really?", "Use `a. b` here. Done.", "**Bold** start. Next",
        "Emoji 🎉 end 👍🏽.", "Walter Burley Griffin designed Canberra.", "   ",
    ]
)
FREE_TEXT = st.text(alphabet=list("ab Z.!?,:*_`#->|~1\n\r\t🎉"), max_size=40)


@st.composite
def texts_and_chunkings(draw):
    parts = draw(st.lists(st.one_of(LINES, FREE_TEXT), max_size=12))
    text = "\n".join(parts) + draw(st.sampled_from(["", "\n", "\r\n"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=20)))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    return text, chunks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts_and_chunkings(), st.integers(0, 2**32))
def test_output_does_not_depend_on_chunking(case, seed):
    text, chunks = case
    for name in ("chatty", "plain"):
        assert stream(name, seed, chunks) == stream(name, seed, [text])
        assert stream(name, seed, list(text)) == stream(name, seed, [text])  # char by char


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts_and_chunkings(), st.integers(0, 2**32))
def test_chatty_never_loses_a_word(case, seed):
    text, chunks = case
    out = stream("chatty", seed, chunks)
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    assert words(strip_added_lines(out)) == words(normalised)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.integers(1, 50))
def test_any_text_streams_without_error(text, size):
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    for name in ("chatty", "plain"):
        assert stream(name, 1, chunks) == stream(name, 1, [text])
