"""Style features of one assistant response: length and Markdown decoration.

These are the covariates of style control (the LMArena "style control" method): a rating
model that also sees how long and how decorated each side's answer was can tell "voters
liked the content" from "voters liked the emojis". The Markdown counts follow the
definitions LMArena uses for its own style control (headers, ordered and unordered list
items, ``**``/``__`` bold, counted with the inside of fenced code blocks removed); this
module adds emoji, fenced code blocks and exclamation marks, and a local token estimate.

Every count is a plain ``int``. The definitions, pinned by ``tests/test_features.py``:

``tokens``
    Output tokens as reported by the provider when the caller passes them, else
    :func:`estimate_tokens`.
``chars``
    Characters (code points) after line endings are normalised (CRLF and lone CR count as
    one line break, so the same answer measures the same on every platform).
``words``
    Runs of letters, digits, underscores and apostrophes (``don't`` and ``snake_case``
    are one word each, ``well-known`` and ``3.14`` two). Code counts too: length is
    length.
``emoji``
    Emoji graphemes, recognised with the Unicode data the ``emoji`` package ships: a ZWJ
    sequence (family, profession), a skin-tone or hair modifier on its base, a flag and a
    keycap (``1️⃣``) each count once; unrecognised ZWJ joins of emoji count once too. A
    symbol whose default look is text (``©``, ``™``, ``↔``, ``✔``, ``❤``) counts only when
    written with the emoji variation selector U+FE0F (``❤️``). Counted everywhere,
    code included.
``header``
    Lines matching ``^#{1,6}\\s`` (``#tag`` is not a header).
``list``
    Ordered items ``^\\s*\\d+\\.\\s`` plus unordered items ``^\\s*[-*+]\\s`` (one per
    line; ``**bold**`` at a line start is not an item, ``* item`` is).
``bold``
    ``\\*\\*[^*\\n]+\\*\\*`` and ``__[^_\\n]+__`` spans, with inline code spans removed first
    (``**kwargs`` inside backticks is not bold).
``code_blocks``
    Fenced blocks opened by a line of three or more backticks or tildes (indentation
    allowed) and closed by a line of at least as many of the same character; a fence left
    open at the end of the answer counts as one block.
``exclamations``
    ``!`` outside code (fenced blocks and inline code spans), not counting the ``!`` of an
    image ``![`` or of ``!=``.

``header``, ``list``, ``bold`` and ``exclamations`` ignore the inside of fenced code
blocks, as LMArena does (a ``# comment`` in Python is not a header).

Speed matters: this runs on every streamed answer and on whole imported data sets. A
typical 1 KB answer takes about 35-50 µs of CPU on a modest machine: the text is mapped
once to a string of character classes (``bytes.translate``) and counted with
``bytes.count``; the Markdown regexes start with a literal the regex engine can skip to;
the emoji segmentation runs only on runs of symbol characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import emoji as _emoji_pkg

STYLE_FEATURE_NAMES = (
    "tokens",
    "chars",
    "words",
    "emoji",
    "header",
    "list",
    "bold",
    "code_blocks",
    "exclamations",
)

# --- Markdown -------------------------------------------------------------------------
# Each pattern starts with a literal "\n" (searched fast by the regex engine) and runs on
# the text with "\n" put in front, which is the same as ``^`` in MULTILINE mode.
_HEADER = re.compile(r"\n#{1,6}(?=\s)")
_ORDERED = re.compile(r"\n[^\S\n]*\d+\.(?=\s)")
_UNORDERED = re.compile(r"\n[^\S\n]*[-*+](?=\s)")
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")
_INLINE_CODE = re.compile(r"``[^\n]+?``|`[^`\n]+`")
# A fence line: up to the end of its line. Searched in the text with "\n" put in front
# (a literal first character lets the regex engine skip ahead fast).
_FENCE_LINE = re.compile(r"\n[ \t]*(`{3,}|~{3,})([^\n]*)")


def split_code(text: str) -> tuple[str, int]:
    """``(prose, blocks)``: ``text`` with its fenced code blocks (fence lines included) cut
    out, and the number of blocks. ``text`` must use ``\\n`` line breaks; the prose keeps
    a line break where each block was."""
    if "```" not in text and "~~~" not in text:
        return text, 0
    text = "\n" + text
    pieces: list[str] = []
    kept_from = 0
    blocks = 0
    open_char = ""
    open_len = 0
    open_at = 0
    for match in _FENCE_LINE.finditer(text):
        fence, rest = match.group(1), match.group(2)
        if not open_char:
            if fence[0] == "`" and "`" in rest:
                continue  # ```x``` on one line is inline code, not a fence
            open_char, open_len, open_at = fence[0], len(fence), match.start()
        elif fence[0] == open_char and len(fence) >= open_len and not rest.strip():
            pieces.append(text[kept_from:open_at])
            kept_from = match.end()
            blocks += 1
            open_char = ""
    if open_char:  # a fence left open: the block runs to the end
        pieces.append(text[kept_from:open_at])
        kept_from = len(text)
        blocks += 1
    if not blocks:
        return text[1:], 0
    pieces.append(text[kept_from:])
    return "\n".join(pieces)[1:], blocks


# --- emoji ----------------------------------------------------------------------------

_EMOJI_DATA = _emoji_pkg.EMOJI_DATA
_MAX_EMOJI_LEN = max(len(key) for key in _EMOJI_DATA)
_UNQUALIFIED = _emoji_pkg.STATUS["unqualified"]
_ZWJ = "\u200d"
_KEYCAP = "\u20e3"
# Characters an emoji can start with, keycap bases (ASCII) aside.
_EMOJI_STARTS = frozenset(key[0] for key in _EMOJI_DATA if not key[0].isascii())
# Runs of symbol characters in the class string (see below): every character of an emoji
# other than a keycap's ASCII base is a symbol there. ("s", then more: a literal first
# character lets the regex engine skip ahead fast.)
_SYMBOL_RUN = re.compile(rb"ss*")


def _emoji_at(run: str, i: int) -> int:
    """Length of the longest known emoji starting at ``run[i]``, 0 if none."""
    for length in range(min(_MAX_EMOJI_LEN, len(run) - i), 0, -1):
        if run[i : i + length] in _EMOJI_DATA:
            return length
    return 0


def count_emoji(text: str) -> int:
    """Emoji graphemes in ``text`` (see the module docstring for what counts once)."""
    if text.isascii():
        return 0
    return _count_emoji(text, _classes(text))


def _count_emoji(text: str, classes: bytes) -> int:
    if b"s" not in classes:
        return 0
    count = text.count(_KEYCAP)  # 1️⃣ #️⃣ *️⃣: U+20E3 only ever closes a keycap
    starts = _EMOJI_STARTS
    for found in _SYMBOL_RUN.finditer(classes):
        run = text[found.start() - 1 : found.end() - 1]  # classes[0] is a sentinel
        i, n = 0, len(run)
        while i < n:
            if run[i] not in starts:
                i += 1
                continue
            length = _emoji_at(run, i)
            if not length:
                i += 1
                continue
            text_symbol = length == 1 and _EMOJI_DATA[run[i]]["status"] == _UNQUALIFIED
            i += length
            # emoji ZWJ emoji ...: one grapheme even when the sequence is not a known one
            while i + 1 < n and run[i] == _ZWJ:
                joined = _emoji_at(run, i + 1)
                if not joined:
                    break
                text_symbol = False
                i += 1 + joined
            if not text_symbol:
                count += 1
    return count


# --- character classes: tokens and words ------------------------------------------------
# The text is encoded to UTF-8 and mapped, byte by byte, to one class letter per character
# (continuation bytes deleted): the counting below is then done with bytes.count, in C.
#   a ASCII letter or _    q apostrophe    d digit    p ASCII punctuation    _ space
#   n line break or tab (any other ASCII whitespace or control)
#   u non-ASCII letter of a 2-byte UTF-8 script from U+00C0 (Latin, Greek, Cyrillic,
#     Hebrew, Arabic) or of U+0800-U+1FFF (Indic, Georgian, Vietnamese Latin...)
#   c CJK, kana, hangul (U+3000-U+DFFF)
#   s symbol: U+0080-U+00BF (NBSP, ©, °), general punctuation, arrows, dingbats
#     (U+2000-U+2FFF), U+E000-U+FFFF, and every 4-byte character (emoji)


def _class_table() -> bytes:
    table = bytearray(b"n" * 256)
    for i in range(0x21, 0x7F):
        table[i] = ord("p")
    for ch in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_":
        table[ch] = ord("a")
    for ch in b"0123456789":
        table[ch] = ord("d")
    table[ord("'")] = ord("q")
    table[ord(" ")] = ord("_")
    for lead in range(0xC3, 0xE2):
        table[lead] = ord("u")
    table[0xC2] = ord("s")  # U+0080-U+00BF: symbols and punctuation (NBSP, ©, °, §, ¿)
    table[0xE2] = ord("s")
    for lead in range(0xE3, 0xEE):
        table[lead] = ord("c")
    for lead in range(0xEE, 0x100):
        table[lead] = ord("s")
    return bytes(table)


_CLASSES = _class_table()
_CONTINUATION = bytes(range(0x80, 0xC0))


def _runs_table(members: bytes) -> bytes:
    """Map the class letters in ``members`` to ``1`` and every other byte to ``0``."""
    return bytes(ord("1") if i in members else ord("0") for i in range(256))


_WORD_RUNS = _runs_table(b"aqduc")


def _classes(text: str) -> bytes:
    """One class letter per character of ``text``, after a leading ``|`` sentinel (so a
    run at the very start is counted by ``bytes.count(b"01")`` too)."""
    data = text.encode("utf-8", "surrogatepass")
    if not text.isascii():
        if b"\xe2\x80\x99" in data:  # ’ typographic apostrophe
            data = data.replace(b"\xe2\x80\x99", b"'")
        return b"|" + data.translate(_CLASSES, _CONTINUATION)
    return b"|" + data.translate(_CLASSES)


def _runs(classes: bytes, table: bytes) -> int:
    return classes.translate(table).count(b"01")


def _tokens_from_classes(cls: bytes, words: int) -> int:
    # ceil(n / 2) for a run of n is count(x) - count(xx): bytes.count does not overlap.
    tokens = (
        words
        + cls.count(b"qa") + cls.count(b"aaaaaaaaa") + cls.count(b"dddd")
        + cls.count(b"p") - cls.count(b"pp")
        + cls.count(b"n") - cls.count(b"nn")
        + cls.count(b"__")
    )
    if b"u" in cls or b"c" in cls or b"s" in cls:
        tokens += cls.count(b"uu") + cls.count(b"c") + cls.count(b"s")
    return tokens


def estimate_tokens(text: str) -> int:
    """A local estimate of how many tokens a BPE tokenizer (GPT-4 class) makes of ``text``.

    No tokenizer is downloaded. The text is cut the way GPT-style pre-tokenizers cut it
    (words, punctuation runs, whitespace) and long runs are charged extra to stand in for
    the BPE merges:

    * a word (a run of letters, digits, underscores and apostrophes) is one token, plus
      one for every full 9 ASCII letters (or underscores) in a row (common words up to 8 letters are single tokens in
      large vocabularies; ``internationalization`` is 3), plus one for every full 4
      digits in a row (``2025`` is 2), plus one for each apostrophe followed by a letter
      (``it's`` is ``it`` + ``'s``), plus one for every 2 non-ASCII letters of alphabetic
      scripts in a row (accented Latin, Greek, Cyrillic, Hebrew, Arabic, Indic), plus one
      for each CJK, kana or hangul character;
    * ASCII punctuation is one token per 2 in a row (``.`` and ``**`` are 1, ``...`` 2);
    * any other character (emoji, ZWJ, arrows, dashes, typographic quotes) is one token;
    * a single space is free (it joins the next word, as in GPT tokenizers); line breaks
      and tabs are one token per 2 in a row (``\\n\\n`` is 1); every 2 spaces in a
      row are one token (an indent of 4 is 2).

    On English prose this lands within about 15% of GPT-4-class counts; it only has to be
    consistent, as a length covariate, when a provider reports no usage. For example
    ``"Hello, world!"`` is 4 tokens and ``"The quick brown fox jumps over the lazy dog."``
    is 10. It is fast: a few ``bytes.translate``/``bytes.count`` calls, all in C.
    """
    cls = _classes(text)
    return _tokens_from_classes(cls, _runs(cls, _WORD_RUNS))


# --- the features ---------------------------------------------------------------------


def _normalise_newlines(text: str) -> str:
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def style_features(text: str, tokens: int | None = None) -> dict[str, int]:
    """The style features of one response, keyed by :data:`STYLE_FEATURE_NAMES`.

    ``tokens`` is the provider-reported output token count when known; otherwise the
    local :func:`estimate_tokens` is used.
    """
    text = _normalise_newlines(text or "")
    classes = _classes(text)
    words = _runs(classes, _WORD_RUNS)
    if tokens is None:
        tokens = _tokens_from_classes(classes, words)
    elif isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be a non-negative whole number, got {tokens!r}")
    prose, code_blocks = split_code(text)
    lines = "\n" + prose
    header = len(_HEADER.findall(lines)) if "#" in prose else 0
    ordered = len(_ORDERED.findall(lines)) if "." in prose else 0
    unordered = len(_UNORDERED.findall(lines))
    inline = _INLINE_CODE.sub("", prose) if "`" in prose else prose
    bold = len(_BOLD_STARS.findall(inline)) if "**" in inline else 0
    if "__" in inline:
        bold += len(_BOLD_UNDERSCORES.findall(inline))
    exclamations = inline.count("!")
    if exclamations:
        exclamations -= inline.count("![") + inline.count("!=")
    return {
        "tokens": tokens,
        "chars": len(text),
        "words": words,
        "emoji": _count_emoji(text, classes) if not text.isascii() else 0,
        "header": header,
        "list": ordered + unordered,
        "bold": bold,
        "code_blocks": code_blocks,
        "exclamations": exclamations,
    }


def sum_features(features: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Feature-wise sum, for a side whose answer spans several turns. Empty → all zeros."""
    total = dict.fromkeys(STYLE_FEATURE_NAMES, 0)
    for one in features:
        for name in STYLE_FEATURE_NAMES:
            total[name] += int(one.get(name, 0))
    return total
