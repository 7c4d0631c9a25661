"""Pins each style-feature definition with hand-checked examples."""

from __future__ import annotations

import time
import timeit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from battles.features import (
    STYLE_FEATURE_NAMES,
    count_emoji,
    estimate_tokens,
    split_code,
    style_features,
    sum_features,
)


def feat(text: str, name: str) -> int:
    return style_features(text)[name]


def test_names_and_shape():
    assert STYLE_FEATURE_NAMES == (
        "tokens", "chars", "words", "emoji", "header", "list", "bold", "code_blocks", "exclamations",
    )
    features = style_features("Hello!")
    assert tuple(features) == STYLE_FEATURE_NAMES
    assert all(type(v) is int for v in features.values())


def test_empty_text_is_all_zeros():
    assert style_features("") == dict.fromkeys(STYLE_FEATURE_NAMES, 0)


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("Hello, world!", 4),  # Hello , world !
        ("The quick brown fox jumps over the lazy dog.", 10),  # 9 words + .
        ("It's 2025!", 5),  # It 's 202 5 !  (a 4-digit number is 2)
        ("don't", 2),  # don 't
        ("internationalization", 3),  # 20 letters: 1 + one per full 9
        ("abcdefgh", 1),  # 8 letters: one token
        ("abcdefghi", 2),  # 9 letters: two
        ("**Bold** text...", 6),  # ** Bold ** text .. . (punctuation: one per 2 in a row)
        ("a\n\nb", 3),  # a, \n\n (one per 2 breaks), b
        ("a\n\n\nb", 4),  # three breaks: 2
        ("def f(x):\n    return x", 10),  # def f ( x ): \n, 4 spaces = 2, return x
        ("Hi 👋🏽", 3),  # Hi, emoji, skin tone
        ("你好世界", 5),  # one run (1) + one per CJK character (4)
        ("привет", 4),  # one word + one per 2 Cyrillic letters
        ("snake_case_name", 2),  # 15 word characters: 1 + 1
    ],
)
def test_estimate_tokens_hand_counts(text, tokens):
    assert estimate_tokens(text) == tokens


def test_reported_tokens_win_over_the_estimate():
    assert style_features("a b c", tokens=42)["tokens"] == 42
    assert style_features("a b c", tokens=0)["tokens"] == 0
    assert style_features("a b c")["tokens"] == 3


@pytest.mark.parametrize("bad", [-1, True, 1.5, "3"])
def test_reported_tokens_must_be_a_count(bad):
    with pytest.raises(ValueError, match="tokens"):
        style_features("x", tokens=bad)


# --- chars and words ------------------------------------------------------------------


def test_chars_counts_code_points():
    assert feat("héllo 👋", "chars") == 7


def test_crlf_counts_as_one_line_break():
    assert feat("a\r\nb", "chars") == 3
    assert feat("a\rb", "chars") == 3
    assert style_features("# T\r\n\r\n- x\r\n") == style_features("# T\n\n- x\n")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("one two  three\nfour", 4),
        ("don't stop", 2),
        ("don’t stop", 2),  # typographic apostrophe
        ("well-known", 2),
        ("3.14 is pi", 4),
        ("snake_case", 1),
        ("- item **bold**", 2),  # markers are not words
        ("🎉 🎉 party", 1),  # emoji are not words
        ("café naïve", 2),
    ],
)
def test_words(text, words):
    assert feat(text, "words") == words


# --- emoji ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("no emoji here", 0),
        ("😀", 1),
        ("😀😀", 2),
        ("👍🏽", 1),  # skin tone modifier: one grapheme
        ("👋🏿 hello 👋", 2),
        ("🇫🇷", 1),  # flag: two regional indicators, one grapheme
        ("🇫🇷🇩🇪", 2),
        ("👨‍👩‍👧‍👦", 1),  # family ZWJ sequence
        ("👩🏽‍💻", 1),  # ZWJ sequence with a skin tone
        ("🐈‍🦄", 1),  # ZWJ join of emoji that is not a known sequence: still one
        ("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 1),  # Scotland: tag sequence
        ("1️⃣ 2️⃣ #️⃣", 3),  # keycaps
        ("❤️", 1),  # emoji presentation
        ("❤ © ™ ↔ ✔", 0),  # text-presentation symbols without U+FE0F
        ("✅ ⭐", 2),  # emoji-presentation symbols in the U+2xxx range
        ("café — “quoted” … →", 0),
        ("Great! 🎉🚀✨", 3),
    ],
)
def test_emoji(text, count):
    assert count_emoji(text) == count
    assert feat(text, "emoji") == count


def test_emoji_inside_code_still_count():
    assert feat("```\nprint('🎉')\n```", "emoji") == 1


# --- header ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("# Title", 1),
        ("# One\n## Two\n###### Six", 3),
        ("#tag and #hashtag", 0),  # no space after the hashes
        ("####### seven hashes", 0),
        ("  # indented", 0),  # the definition anchors at the line start
        ("text # not at start", 0),
        ("#\nempty header line", 1),  # ^#\s: the line break is the whitespace
        ("# Title\r\nbody", 1),
    ],
)
def test_header(text, count):
    assert feat(text, "header") == count


# --- list -----------------------------------------------------------------------------


def test_list_ordered_unordered_and_nested():
    text = (
        "1. first\n"
        "2. second\n"
        "10. tenth\n"
        "- dash\n"
        "  * nested star\n"
        "    + deeper plus\n"
        "* star\n"
    )
    assert feat(text, "list") == 7


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("**bold** at the start of a line", 0),  # ** is not a bullet
        ("* bullet with **bold**", 1),
        ("-not a list", 0),
        ("1.5 is a number", 0),
        ("3) paren style", 0),  # only N. counts as ordered
        ("---", 0),  # a rule, not an item
        ("text - with dash", 0),
        ("\n\n- after blank lines", 1),
        ("- a\r\n- b\r\n", 2),
    ],
)
def test_list_edge_cases(text, count):
    assert feat(text, "list") == count


# --- bold -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("**one** and __two__", 2),
        ("**a** **b** **c**", 3),
        ("no *italic* counts", 0),
        ("**not\nbold**", 0),  # a span does not cross a line
        ("`**kwargs` and `**options`", 0),  # inside inline code
        ("call f(**kwargs) then g(**opts)", 1),  # outside code: the pattern matches
        ("snake__case__name", 1),  # the __ pattern, as LMArena counts it
    ],
)
def test_bold(text, count):
    assert feat(text, "bold") == count


# --- code blocks and what they hide -----------------------------------------------------


def test_markdown_inside_a_fenced_block_is_ignored():
    text = (
        "Intro!\n"
        "```python\n"
        "# a comment, not a header\n"
        "x = 2 ** 3  # **not bold**\n"
        "- not a list\n"
        "* not a list either\n"
        "1. not a list\n"
        "print('wow!')\n"
        "```\n"
        "Outside **bold**!\n"
    )
    features = style_features(text)
    assert features["code_blocks"] == 1
    assert features["header"] == 0
    assert features["list"] == 0
    assert features["bold"] == 1
    assert features["exclamations"] == 2


@pytest.mark.parametrize(
    ("text", "blocks"),
    [
        ("no code", 0),
        ("```\na\n```\ntext\n```js\nb\n```", 2),
        ("~~~\na\n~~~", 1),
        ("text\n```\nunclosed at the end", 1),
        ("```inline``` is not a fence", 0),
        ("   ```\nindented fence\n   ```", 1),
        ("````\n```\ninner fence is code\n```\n````", 1),  # a shorter fence does not close
        ("~~~\n```\n~~~", 1),  # a different fence character does not close
        ("```\r\ncode\r\n```\r\n", 1),
    ],
)
def test_code_blocks(text, blocks):
    assert feat(text, "code_blocks") == blocks


def test_unclosed_fence_hides_the_rest():
    text = "# Real\n```\n# inside\n**x**\nHi!"
    assert style_features(text) | {} == style_features(text)
    features = style_features(text)
    assert (features["header"], features["bold"], features["exclamations"]) == (1, 0, 0)


def test_split_code_keeps_the_prose():
    prose, blocks = split_code("before\n```\ncode\n```\nafter")
    assert blocks == 1
    assert "code" not in prose and "before" in prose and "after" in prose


# --- exclamations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("Wow! Great!!", 3),
        ("`x != y` and `alert('hi!')`", 0),  # inline code
        ("![diagram](a.png)", 0),  # image syntax
        ("a != b", 0),
        ("```\nhi!\n```", 0),
        ("No exclamation.", 0),
    ],
)
def test_exclamations(text, count):
    assert feat(text, "exclamations") == count


# --- sums, robustness, speed ----------------------------------------------------------


def test_sum_features_adds_turns():
    one = style_features("# Hi!\n- a", tokens=5)
    two = style_features("😀 **b**", tokens=7)
    total = sum_features([one, two])
    assert total["tokens"] == 12
    assert total["header"] == 1 and total["list"] == 1 and total["emoji"] == 1 and total["bold"] == 1
    assert total == {name: one[name] + two[name] for name in STYLE_FEATURE_NAMES}
    assert sum_features([]) == dict.fromkeys(STYLE_FEATURE_NAMES, 0)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab #*-_`~!1.\n\r 😀🏽\u200d👍🇫❤️é中")), max_size=80))
def test_any_text_gives_sane_counts(text):
    features = style_features(text)
    assert all(v >= 0 for v in features.values())
    assert features["exclamations"] <= text.count("!")
    assert features["emoji"] <= len(text)
    assert features["chars"] <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_fails(text):
    style_features(text)


TYPICAL = """## Quick answer

The capital of Australia is **Canberra**. It was chosen in 1908 as a compromise between
Sydney and Melbourne, and Parliament moved there in 1927! 🇦🇺

Key facts:

- Population: about 470,000
- Founded: 1913
- Designed by **Walter Burley Griffin** and Marion Mahony Griffin

```python
def capital(country: str) -> str:
    return {"Australia": "Canberra"}[country]  # a lookup!
```

1. Sydney is the largest city.
2. Melbourne was the temporary capital.

Hope this helps! 😊 Let me know if you'd like more about Australian history or how the
site for the new capital was chosen by a survey of possible locations in 1908.
"""


def test_fast_enough_for_every_streamed_answer():
    text = (TYPICAL * 2)[:1024]
    seconds = min(timeit.repeat(lambda: style_features(text), number=200, repeat=3, timer=time.process_time)) / 200
    assert seconds < 1e-3  # ~35-50 µs of CPU; a generous bound so a busy CI box passes
