"""Style treatments: rewrite a model's answer, as it streams, into another style.

A lineup entry with ``treatment = "chatty"`` or ``treatment = "plain"`` battles under a
contestant name of its own (``model+chatty``), so the leaderboard shows what style alone
is worth with the same model underneath.

``chatty``
    Dresses the answer the way the chat-tuned "experimental" Llama 4 Maverick did on
    LMArena in April 2025 (it reached #2 there while the released weights ranked far
    lower): an enthusiastic opening line, a header, **bold** key terms, emojis at sentence
    ends, bullet points where the text lists things, a cheerful closing line. Every word
    of the model's own answer is kept, in order: the added words live only on the added
    opening, header and closing lines; everything else added is punctuation, Markdown or
    emoji. Code blocks, tables and rules pass through untouched.
``plain``
    Strips Markdown decoration and emoji: headers, bullets, bold and italics, block
    quotes, rules, table pipes, link syntax. Fenced code blocks are kept verbatim (fences
    included: code is content, and the fences keep it readable). Ordered items keep their
    number as ``1)``.

Streaming: :meth:`Treatment.feed` takes each delta and returns the text that is ready to
show; it holds back at most the current sentence or line (a line start is held until its
kind is known: a few characters, or the whole line for fences, rules and tables).
:meth:`Treatment.finish` flushes the rest (and, for ``chatty``, adds the closing line).

Deterministic: the output depends only on the seed and the concatenated input, never on
how the input was split into deltas (every decision is made on complete units, and the
random choices are drawn in text order from a generator seeded with the seed).
"""

from __future__ import annotations

import random
import re

import emoji as _emoji_pkg

__all__ = [
    "CHATTY_CLOSINGS",
    "CHATTY_HEADERS",
    "CHATTY_OPENINGS",
    "TREATMENTS",
    "ChattyTreatment",
    "PlainTreatment",
    "Treatment",
    "apply_treatment",
    "make_treatment",
]

TREATMENTS = ("chatty", "plain")

# How many characters after a line's indentation are enough to know the line's kind
# (the longest marker is an ordered item: nine digits, "." and a space).
_LOOKAHEAD = 12
_SLICE = 2048

_FENCE_HEAD = re.compile(r"[ \t]*(`{3,}|~{3,})")
_RULE_HEAD = re.compile(r"[ \t]*[-*_=][-*_= \t]*\Z")
_RULE = re.compile(r"[ \t]*([-*_=])(?:[ \t]*\1){2,}[ \t]*\Z")
_TABLE_HEAD = re.compile(r"[ \t]*\|")
_TABLE_DELIMITER = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*\Z")
_HEADING = re.compile(r"([ \t]{0,3})(#{1,6})(?:[ \t]|\Z)")
_ITEM = re.compile(r"([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]|\Z)")
_QUOTE = re.compile(r"([ \t]*)>[ \t]?")

# A sentence ends at . ! or ? (closing quotes, brackets and emphasis may follow) before a
# space or tab. The whitespace must be in the buffer: until it comes, the sentence waits.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]*_]*(?=[ \t])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Fig|approx|cf|al|ca)|(?<![\w.])[A-Za-z])\.\Z"
)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text)


class Treatment:
    """A streaming rewriter. ``feed`` each delta, show what it returns, then ``finish``."""

    name = ""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(f"{self.name}:{seed}")
        self._buf = ""  # input not yet turned into output
        self._cr = False  # the last delta ended with \r: a \n may follow
        self._started = False
        self._finished = False
        self._tail = ""  # the last characters emitted, to place the closing line
        self._fence: tuple[str, int] | None = None  # inside a fenced block: (char, length)
        self._kind: str | None = None  # the current line's kind; None at a line start
        self._unit = 0  # units (sentences) emitted on the current line

    # -- public ------------------------------------------------------------------------

    def feed(self, delta: str) -> str:
        """Take the next piece of the answer; return the text ready to show now."""
        if self._finished:
            raise RuntimeError("feed() after finish(): a treatment serves one answer")
        if self._cr:
            delta = "\r" + delta
            self._cr = False
        if delta.endswith("\r"):
            delta = delta[:-1]
            self._cr = True
        if "\r" in delta:
            delta = delta.replace("\r\n", "\n").replace("\r", "\n")
        out = []
        if not self._started and (delta or self._cr):
            self._started = True
            out.append(self.opening())
        # A big delta is taken in slices: the output does not depend on how the input is
        # cut, and short buffers keep the work linear in the length of the answer.
        for at in range(0, len(delta), _SLICE):
            self._buf += delta[at : at + _SLICE]
            out.append(self._pump(final=False))
        return self._emit("".join(out))

    def finish(self) -> str:
        """Flush what is held back and end the answer (chatty adds its closing line)."""
        if self._finished:
            return ""
        if self._cr:
            self._buf += "\n"
            self._cr = False
        out = self._pump(final=True)
        self._finished = True
        return self._emit(out + self.closing(self._tail + out) if self._started else out)

    # -- hooks for the two treatments ------------------------------------------------------

    def opening(self) -> str:
        return ""

    def closing(self, tail: str) -> str:
        return ""

    def code_line(self, line: str) -> str:
        return line

    def blank_line(self, line: str) -> str:
        return line

    def raw_line(self, kind: str, line: str) -> str | None:
        """A whole line of kind ``rule``, ``table`` or ``fence``; None drops the line."""
        return line

    def prefix(self, kind: str, marker: str, indent: str) -> str:
        """The start of a ``heading``, ``item``, ``quote`` or ``prose`` line."""
        return indent + marker

    def unit(self, kind: str, text: str, line_end: bool) -> str:
        """One sentence of a line (with the whitespace before it), or the line's rest."""
        return text

    def end_line(self, kind: str) -> str:
        return ""

    # -- the machinery -------------------------------------------------------------------

    def _emit(self, text: str) -> str:
        if text:
            self._tail = (self._tail + text)[-2:]
        return text

    def _pump(self, final: bool) -> str:
        out: list[str] = []
        while self._buf:
            if self._kind is None:
                if not self._line_start(out, final):
                    break
            elif not self._sentence(out, final):
                break
        return "".join(out)

    def _take_line(self, nl: int) -> str:
        line = self._buf if nl == -1 else self._buf[:nl]
        self._buf = "" if nl == -1 else self._buf[nl + 1 :]
        return line

    def _line_start(self, out: list[str], final: bool) -> bool:
        """Classify the line at the start of the buffer; False when more text is needed."""
        buf = self._buf
        nl = buf.find("\n")
        complete = nl != -1 or final
        newline = "\n" if nl != -1 else ""
        if self._fence is not None:
            if not complete:
                return False
            line = self._take_line(nl)
            char, length = self._fence
            fence = _FENCE_HEAD.match(line)
            if fence and fence.group(1)[0] == char and len(fence.group(1)) >= length and not line[fence.end():].strip():
                self._fence = None
                out.append(self.raw_line("fence", line) + newline)
            else:
                out.append(self.code_line(line) + newline)
            return True
        head = buf if nl == -1 else buf[:nl]
        indent = len(head) - len(head.lstrip(" \t"))
        if not complete:
            if len(head) - indent < _LOOKAHEAD:
                return False
            if _FENCE_HEAD.match(head) or _RULE_HEAD.match(head) or _TABLE_HEAD.match(head):
                return False  # these are decided on the whole line
        if complete:
            if not head.strip():
                self._take_line(nl)
                out.append(self.blank_line(head) + newline)
                return True
            fence = _FENCE_HEAD.match(head)
            if fence and not (fence.group(1)[0] == "`" and "`" in head[fence.end():]):
                self._take_line(nl)
                self._fence = (fence.group(1)[0], len(fence.group(1)))
                out.append(self.raw_line("fence", head) + newline)
                return True
            for kind, pattern in (("rule", _RULE), ("table", _TABLE_HEAD)):
                if pattern.match(head):
                    self._take_line(nl)
                    line = self.raw_line(kind, head)
                    if line is not None:
                        out.append(line + newline)
                    return True
        for kind, pattern in (("heading", _HEADING), ("item", _ITEM), ("quote", _QUOTE)):
            match = pattern.match(head)
            if match:
                marker_end = match.end()
                indent_text = match.group(1)
                marker = head[len(indent_text) : marker_end]
                break
        else:
            kind, indent_text, marker, marker_end = "prose", head[:indent], "", indent
        self._buf = buf[marker_end:]
        self._kind = kind
        self._unit = 0
        out.append(self.prefix(kind, marker, indent_text))
        return True

    def _sentence(self, out: list[str], final: bool) -> bool:
        """Emit the next complete sentence of the current line; False when more is needed."""
        buf = self._buf
        nl = buf.find("\n")
        limit = nl if nl != -1 else len(buf)
        end = _sentence_end(buf, limit)
        if end:
            out.append(self.unit(self._kind, buf[:end], line_end=False))
            self._unit += 1
            self._buf = buf[end:]
            return True
        if nl == -1 and not final:
            return False
        out.append(self.unit(self._kind, buf[:limit], line_end=True))
        out.append(self.end_line(self._kind))
        if nl != -1:
            out.append("\n")
        self._buf = buf[limit + 1 :] if nl != -1 else ""
        self._kind = None
        return True


def _sentence_end(buf: str, limit: int) -> int:
    """End of the first complete sentence in ``buf[:limit]`` (0: none yet)."""
    prev = ticks = stars = tildes = 0
    for match in _SENTENCE_END.finditer(buf, 0, limit):
        end = match.end()  # whitespace follows, so no ** or ~~ straddles a candidate end
        ticks += buf.count("`", prev, end)
        stars += buf.count("**", prev, end)
        tildes += buf.count("~~", prev, end)
        prev = end
        if ticks % 2 or stars % 2 or tildes % 2:
            continue  # inside inline code or an emphasis span
        start = match.start()
        if buf[start] == "." and end - start == 1 and _ABBREVIATION.search(buf, max(0, start - 8), start + 1):
            continue
        if not buf[:end].strip(" \t.!?\"'”’)]*_"):
            continue  # nothing but punctuation so far
        return end
    return 0


def _split_lead(text: str) -> tuple[str, str, str]:
    """``(leading whitespace, body, trailing whitespace)``."""
    body = text.strip(" \t")
    if not body:
        return text, "", ""
    start = len(text) - len(text.lstrip(" \t"))
    end = len(text.rstrip(" \t"))
    return text[:start], text[start:end], text[end:]


# --- chatty -----------------------------------------------------------------------------

CHATTY_OPENINGS = (
    "What a fantastic question! 🤩",
    "Ooh, I love this one! 🙌",
    "Great question! 🎉",
    "Absolutely, let's dive right in! 🚀",
    "Oh, this is a fun one! 😄",
    "You've come to the right place! 🌟",
)
CHATTY_HEADERS = (
    "## ✨ Here's the Scoop ✨",
    "## 🚀 Let's Break It Down!",
    "## 💡 The Answer (and a Little Extra!)",
    "## 🎯 Here's What You Need to Know",
    "## 🌟 Everything You Need, Right Here",
)
CHATTY_CLOSINGS = (
    "Hope this helps! 😊 Let me know if you have any other questions! 🙌",
    "I hope that clears things up! 🌟 Feel free to ask if you want to dive deeper! 🚀",
    "You've got this! 💪✨ Happy to help anytime!",
    "Let me know if you'd like more details, I'm always happy to chat! 😄🎉",
)
_GENERAL_EMOJI = ("✨", "🚀", "🎉", "🔥", "💯", "🙌", "😊", "👍", "🌟", "💪", "🤩", "✅")
_THEMES = (
    (frozenset("code python function program bug software api script compile variable".split()), "💻"),
    (frozenset("money cost price budget pay dollars cheap expensive invest".split()), "💰"),
    (frozenset("time hour hours minute minutes day days year years schedule".split()), "⏰"),
    (frozenset("food cook recipe eat bake meal dinner lunch breakfast".split()), "🍳"),
    (frozenset("health sleep exercise doctor body workout".split()), "💪"),
    (frozenset("learn study book books read school practice".split()), "📚"),
    (frozenset("idea think tip key remember important".split()), "💡"),
    (frozenset("love friend friends family heart".split()), "❤️"),
    (frozenset("world country city capital travel trip".split()), "🌍"),
    (frozenset("science experiment data research energy".split()), "🔬"),
    (frozenset("fast quick speed performance launch".split()), "⚡"),
    (frozenset("music song songs sing".split()), "🎵"),
    (frozenset("art paint design color colors".split()), "🎨"),
)
_TITLE_EMOJI = ("📌", "🔑", "📝", "👉", "🧠", "⭐")
_CUE = re.compile(
    r"(First|Firstly|Second|Secondly|Third|Thirdly|Next|Then|Finally|Lastly|Also|"
    r"Additionally|Moreover|Furthermore|Plus|Another)\b(?=[ ,])"
)
_NUMBER = re.compile(r"(?<![\w.,$])\$?\d+(?:[.,]\d+)*%?(?![\w])")
_PROPER = re.compile(r"(?<=[ \t(])[A-Z][a-zA-Z]+(?:[ \t][A-Z][a-zA-Z]+){0,2}(?![\w(]|\.\w)")
_LONG_WORD = re.compile(r"(?<![\w'’.-])[A-Za-z]{7,}(?![\w'’(-]|\.\w)")
_STOP = frozenset(
    "because through however without between another something anything everything "
    "usually probably actually already although whether example different important "
    "including several different certain possible general".split()
)
_COLON_LIST = re.compile(r"(?P<lead>[^:]{3,}?):[ \t]+(?P<rest>.+)\Z")


class ChattyTreatment(Treatment):
    name = "chatty"

    def __init__(self, seed: int):
        super().__init__(seed)
        self._break_next = False  # a list was put into this line: start the next unit afresh

    def opening(self) -> str:
        return f"{self.rng.choice(CHATTY_OPENINGS)}\n\n{self.rng.choice(CHATTY_HEADERS)}\n\n"

    def closing(self, tail: str) -> str:
        end = ""
        if self._fence is not None:  # the answer stopped inside code: close the block first
            end = ("" if tail.endswith("\n") else "\n") + self._fence[0] * self._fence[1]
            self._fence = None
            tail = "x"
        gap = "\n\n" if not tail.endswith("\n") else ("\n" if not tail.endswith("\n\n") else "")
        return f"{end}{gap}{self.rng.choice(CHATTY_CLOSINGS)}\n"

    def prefix(self, kind: str, marker: str, indent: str) -> str:
        self._break_next = False
        return indent + marker

    def end_line(self, kind: str) -> str:
        if kind == "heading":
            return " " + self.rng.choice(_GENERAL_EMOJI)
        return ""

    def unit(self, kind: str, text: str, line_end: bool) -> str:
        lead, body, trail = _split_lead(text)
        if not body or kind == "heading" or body.startswith(("<", "|", "![")):
            return text
        first = self._unit == 0
        broke = self._break_next
        if broke:
            lead, self._break_next = "\n\n", False
        # a short line ending with ":" is a title: promote it to a header
        if kind == "prose" and first and line_end and body.endswith(":") and len(body) <= 60 and "`" not in body:
            words = body[:-1].rstrip()
            if words and not _COLON_LIST.match(body):
                return f"{lead}### {self.rng.choice(_TITLE_EMOJI)} {words}{trail}"
        if kind == "prose" and "`" not in body and "http" not in body:
            listed = self._colon_list(body)
            if listed is not None:
                self._break_next = True
                return lead + listed + trail
        cue = _CUE.match(body) if kind == "prose" else None
        if cue:
            body = f"**{cue.group(1)}**{body[cue.end():]}"
            lead = "- " if first else ("\n\n- " if broke else "\n- ")
        elif self.rng.random() < 0.75:
            body = self._bold(body)
        return lead + self._ending(body, line_end) + trail

    def _colon_list(self, body: str) -> str | None:
        match = _COLON_LIST.match(body)
        if not match:
            return None
        rest = match.group("rest")
        items = re.split(r",[ \t]+", rest)
        if len(items) < 3 or any(len(item.split()) > 6 or not _words(item) for item in items):
            return None
        if any(mark in rest for mark in (":", ";", "(", ")", '"', "*")):
            return None
        last = items[-1]
        stop = len(last.rstrip(".!?"))
        items[-1], end = last[:stop], last[stop:]
        lines = "\n".join(f"- {item}" for item in items)
        return f"{match.group('lead')}: {self._emoji(body)}\n{lines}{end}"

    def _bold(self, body: str) -> str:
        if any(mark in body for mark in ("*", "_", "`", "[", "<")) or len(body.split()) < 3:
            return body
        spans = [m.span() for m in _PROPER.finditer(body) if m.group() != "I"]
        if not spans:
            spans = [m.span() for m in _NUMBER.finditer(body)]
        if not spans:
            longest = sorted(
                (m for m in _LONG_WORD.finditer(body) if m.group().lower() not in _STOP),
                key=lambda m: -len(m.group()),
            )
            spans = [longest[0].span()] if longest else []
        if not spans:
            return body
        start, end = spans[-1]
        return f"{body[:start]}**{body[start:end]}**{body[end:]}"

    def _emoji(self, body: str) -> str:
        words = set(re.findall(r"[a-z]+", body.lower()))
        themed = [symbol for keys, symbol in _THEMES if keys & words]
        if themed and self.rng.random() < 0.6:
            return self.rng.choice(themed)
        return self.rng.choice(_GENERAL_EMOJI)

    def _ending(self, body: str, line_end: bool) -> str:
        ends_sentence = body.rstrip("\"'”’)]*_")[-1:] in (".", "!", "?")
        if not ends_sentence and not line_end:
            return body
        if ends_sentence and body.endswith(".") and not body.endswith("..") and body[-2:-1].isalpha():
            if self.rng.random() < 0.3:
                body = body[:-1] + "!"
        if self.rng.random() < (0.8 if ends_sentence else 0.5):
            body = f"{body} {self._emoji(body)}"
        return body


# --- plain ------------------------------------------------------------------------------

_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_SPACES = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=\w)[ \t]+(?=[.,;:!?](?:\s|\Z))")
_UNQUALIFIED = _emoji_pkg.STATUS["unqualified"]


def _drop_emoji(chars: str, data: dict) -> str:
    if "\u20e3" in chars:  # keycap: keep its digit
        return chars[0]
    if len(chars) == 1 and data.get("status") == _UNQUALIFIED:
        return chars  # a text-style symbol such as © or ™ is not decoration
    return ""


def strip_inline(text: str) -> str:
    """``text`` without inline Markdown (code spans keep their content) and emoji."""
    pieces = []
    at = 0
    for match in _INLINE_CODE.finditer(text):
        pieces.append(_strip_markup(text[at : match.start()]))
        pieces.append(match.group(2).strip(" ") if match.group(2).strip(" ") else match.group(2))
        at = match.end()
    pieces.append(_strip_markup(text[at:]))
    return "".join(pieces)


def _strip_markup(text: str) -> str:
    if not text:
        return text
    if "!" in text:
        text = _IMAGE.sub(r"\1", text)
    if "[" in text:
        text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2) != m.group(1) else m.group(1), text)
    if "**" in text or "__" in text:
        text = _STRONG.sub(r"\2", text)
    if "*" in text or "_" in text:
        text = _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), text)
    if "~~" in text:
        text = _STRIKE.sub(r"\1", text)
    if not text.isascii():
        stripped = _emoji_pkg.replace_emoji(text, replace=_drop_emoji)
        if stripped != text:
            text = stripped.replace("\ufe0f", "")
            text = _SPACES.sub(" ", text)
            text = _SPACE_BEFORE_PUNCT.sub("", text)
    return text


class PlainTreatment(Treatment):
    name = "plain"

    def raw_line(self, kind: str, line: str) -> str | None:
        if kind == "rule":
            return None
        if kind == "table":
            if _TABLE_DELIMITER.match(line):
                return None
            cells = line.strip().strip("|").split("|")
            return " | ".join(strip_inline(cell.strip()) for cell in cells)
        return line  # code fences stay

    def prefix(self, kind: str, marker: str, indent: str) -> str:
        if kind == "item" and marker[:1].isdigit():
            return f"{indent}{marker.rstrip()[:-1]}) "
        return indent

    def unit(self, kind: str, text: str, line_end: bool) -> str:
        lead, body, trail = _split_lead(text)
        if not body:
            return text
        stripped = strip_inline(body)
        if not stripped.strip():
            return ""
        if self._unit == 0:
            lead = ""  # the marker is gone: no indentation inside the line
        return lead + stripped.strip(" \t") + (trail if not line_end else "")


def make_treatment(name: str | None, seed: int) -> Treatment | None:
    """The treatment called ``name`` (None: no treatment), seeded for one battle side."""
    if name is None:
        return None
    if name == "chatty":
        return ChattyTreatment(seed)
    if name == "plain":
        return PlainTreatment(seed)
    raise ValueError(f"unknown treatment {name!r}; expected one of {', '.join(TREATMENTS)}")


def apply_treatment(name: str | None, text: str, seed: int = 0) -> str:
    """The whole treated text at once (the same as feeding it in any pieces)."""
    treatment = make_treatment(name, seed)
    if treatment is None:
        return text
    return treatment.feed(text) + treatment.finish()
