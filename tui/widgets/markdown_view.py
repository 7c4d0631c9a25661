"""Markdown drawn by Rich into lines: stays fast while an answer streams in and grows long.

Why not Textual's ``Markdown`` widget (with ``MarkdownStream``): it builds one widget per block,
list item and table cell, and every append lays all of them out again. bench/bench_tui.py
(``--part markdown``) streams the same two 2,000-token answers with lists, code and tables
through both: with Textual 8.2 the complete text appeared 86 s after the last byte (target
< 200 ms), a key waited 1.05 s at the 95th percentile (< 100 ms) and the work took 54 CPU
seconds; this view took 0.2 s, 0.13 s and 2.2 CPU seconds (a 2-core machine under load,
medians of 3). Here the text is cut into blocks at blank lines
outside code fences; finished blocks are rendered once (per width) and kept, and only the
unfinished tail is rendered again as text arrives. Lines are drawn on demand (Textual's Line
API), so only the visible ones cost anything when painting. The cuts depend only on the text,
never on how it arrived, so the final picture is the same however the stream was chunked.

The text is Markdown, never Rich markup: ``[bold red]`` in an answer is shown as typed.
Control characters must be made visible by the caller (``safe_text.printable``).
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from rich.console import Console
from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

# A code fence: up to three spaces, then ``` or ~~~ (three or more), then the info string.
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^#{1,6}(\s|$)")
CODE_CHUNK_LINES = 24  # a long code block is cut in pieces of this many lines


class _Markdown(RichMarkdown):
    """rich.markdown.Markdown parsing with one shared parser: building a MarkdownIt costs more
    than parsing a typical block, and this view renders hundreds of blocks per answer."""

    _parser = MarkdownIt().enable("strikethrough").enable("table")

    def __init__(self, markup: str, code_theme: str) -> None:
        self.markup = markup
        self.parsed = self._parser.parse(markup)
        self.code_theme = code_theme
        self.justify = None
        self.style = "none"
        self.hyperlinks = False
        self.inline_code_lexer = None
        self.inline_code_theme = code_theme


@dataclass(frozen=True)
class CodeChunk:
    """Some lines of one fenced code block; ``first``/``last`` carry the block's top and bottom padding."""

    code: str
    lexer: str
    first: bool
    last: bool


_BLANK = Strip.blank(0)


def _joins(block: str | CodeChunk) -> bool:
    """True when ``block`` continues the previous one (no blank line between)."""
    return isinstance(block, CodeChunk) and not block.first


@dataclass(frozen=True)
class _RenderJob:
    """Blocks to render into lines; everything it needs is copied in, so it runs in a thread."""

    blocks: list[str | CodeChunk]
    tail: str | CodeChunk
    width: int
    style: Style
    code_theme: str
    after_content: bool  # lines come before these blocks (so the first one needs a gap)

    def run(self, console: Console) -> tuple[list[Strip], list[Strip]]:
        """(lines of ``blocks``, a blank line between blocks; lines of the tail)."""
        lines: list[Strip] = []
        content = self.after_content
        for block in self.blocks:
            block_lines = self.render(console, block)
            if block_lines and content and not _joins(block):
                lines.append(_BLANK)
            lines.extend(block_lines)
            content = content or bool(block_lines)
        return lines, self.render(console, self.tail)

    def render(self, console: Console, block: str | CodeChunk) -> list[Strip]:
        if isinstance(block, CodeChunk):
            # As rich.markdown renders a code block, with padding only at the block's ends.
            code = block.code.rstrip("\n") if block.last else block.code.removesuffix("\n")
            renderable = Syntax(code, block.lexer, theme=self.code_theme, word_wrap=True,
                                padding=(int(block.first), 1, int(block.last), 1))
        else:
            text = block.strip("\n")
            if not text.strip():
                return []
            renderable = _Markdown(text, self.code_theme)
        options = console.options.update(width=self.width, highlight=False)
        lines = console.render_lines(renderable, options, style=self.style, pad=False)
        if not isinstance(block, CodeChunk):  # one blank line between blocks, whatever Rich adds
            while lines and self.is_blank(lines[-1]):
                lines.pop()
            while lines and self.is_blank(lines[0]):
                lines.pop(0)
        return [Strip(line, Segment.get_line_length(line)) for line in lines]

    def is_blank(self, line: list[Segment]) -> bool:
        """Nothing but spaces on the view's own background (a code block's padding is not blank)."""
        background = self.style.bgcolor
        return all(not segment.text.strip() and (segment.style is None or segment.style.bgcolor in (None, background))
                   for segment in line)


@dataclass
class _OpenFence:
    marker: str
    length: int
    lexer: str
    chunked: bool  # the fence began a block, so its lines may be cut into CodeChunks
    lines: int = 0  # code lines since the last cut
    cuts: int = 0


class MarkdownView(ScrollView, can_focus=True):
    """A scrollable, growable Markdown document (``update`` replaces, ``append`` grows)."""

    DEFAULT_CSS = """
    MarkdownView {
        height: 1fr;
        overflow-y: scroll;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, markdown: str = "", *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._renderer = None  # the render loop's worker
        self._caught_up = asyncio.Event()
        self._caught_up.set()
        # A console of its own: it renders in a worker thread (width is given per render).
        self._render_console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                                       legacy_windows=False, markup=False, emoji=False, highlight=False)
        self._reset()
        self._text = markdown
        self._split()

    def _reset(self) -> None:
        self._text = ""
        self._blocks: list[str | CodeChunk] = []  # finished blocks (they never change again)
        self._tail_start = 0  # text[_tail_start:] is the unfinished tail
        self._scanned = 0  # text[:_scanned] has been read line by line
        self._fence: _OpenFence | None = None  # the code fence open at _scanned
        self._previous_blank = False
        self._previous_ends_block = False  # a heading or a closing fence
        self._width = 0  # the width the cached lines were rendered at
        self._settled_lines: list[Strip] = []  # lines of _blocks[:_settled_count]
        self._settled_count = 0
        self._lines: list[Strip] = []
        self._version = 0  # changes of text, width or theme so far
        self._generation = 0  # documents so far (update() starts a new one)
        self._rendered_version = 0  # the change _lines show

    @property
    def source(self) -> str:
        return self._text

    # -- text in ---------------------------------------------------------------------------------

    def update(self, markdown: str) -> None:
        """Show ``markdown`` instead of the current document."""
        version, generation = self._version, self._generation
        self._reset()
        self._version = self._rendered_version = version
        self._generation = generation + 1  # a render of the old text still running is dropped
        self._text = markdown
        self._split()
        self._render()

    def append(self, fragment: str) -> None:
        """Add text at the end; re-renders only what is not finished yet."""
        if not fragment:
            return
        self._text += fragment
        self._split()
        self._render()

    def _split(self) -> None:
        """Move every block that is certainly finished from the tail into ``_blocks``.

        Outside code, a block ends before a line at the left margin that follows a blank line, a
        heading or a closing fence, or that is itself a heading or an opening fence. A long code
        block that began a block is cut every ``CODE_CHUNK_LINES`` lines.
        """
        text = self._text
        position = self._scanned
        while (end := text.find("\n", position)) >= 0:
            line = text[position:end]
            self._read_line(line, position, end + 1)
            position = end + 1
        self._scanned = position

    def _settle(self, block: str | CodeChunk, next_start: int) -> None:
        self._blocks.append(block)
        self._tail_start = next_start

    def _read_line(self, line: str, start: int, next_start: int) -> None:
        blank = not line.strip()
        fence = self._fence
        match = _FENCE.match(line)
        if fence is not None:
            closing = (match is not None and match.group(1)[0] == fence.marker
                       and len(match.group(1)) >= fence.length and not match.group(2).strip())
            if closing:
                if fence.chunked and fence.cuts:
                    code = self._text[self._tail_start:start]
                    self._settle(CodeChunk(code, fence.lexer, first=False, last=True), next_start)
                self._fence = None
                self._previous_ends_block, self._previous_blank = True, False
                return
            fence.lines += 1
            if fence.chunked and fence.lines >= CODE_CHUNK_LINES:
                code_start = self._tail_start if fence.cuts else self._text.index("\n", self._tail_start) + 1
                code = self._text[code_start:next_start]
                self._settle(CodeChunk(code, fence.lexer, first=fence.cuts == 0, last=False), next_start)
                fence.lines, fence.cuts = 0, fence.cuts + 1
            return
        heading = _HEADING.match(line) is not None
        at_margin = not blank and line[0] not in " \t"
        if at_margin and start > self._tail_start and (
                self._previous_blank or self._previous_ends_block or heading or match is not None):
            self._settle(self._text[self._tail_start:start], start)
        if match is not None and (match.group(1)[0] == "~" or "`" not in match.group(2)):
            lexer = match.group(2).strip().partition(" ")[0] or "text"
            self._fence = _OpenFence(match.group(1)[0], len(match.group(1)), lexer,
                                     chunked=start == self._tail_start)
        self._previous_blank = blank
        self._previous_ends_block = heading

    # -- lines out -------------------------------------------------------------------------------
    #
    # Rendering runs in a worker thread (asyncio.to_thread): Rich and Pygments are pure Python,
    # and a burst of new blocks would otherwise hold the event loop for tens of milliseconds.
    # One render loop per view; text arriving meanwhile marks it dirty and it goes round again.

    @property
    def _render_width(self) -> int:
        return self.scrollable_content_region.width

    def _tail_block(self) -> str | CodeChunk:
        """The unfinished tail, as the block it will become."""
        fence = self._fence
        tail = self._text[self._tail_start:]
        if fence is not None and fence.chunked and fence.cuts:
            return CodeChunk(tail, fence.lexer, first=False, last=True)
        return tail

    def _render(self) -> None:
        """Bring the lines up to date with the text, soon and off the event loop."""
        self._version += 1
        self._caught_up.clear()
        if self._renderer is None or self._renderer.is_finished:
            self._renderer = self.run_worker(self._render_loop(), group="markdown-render")

    async def _render_loop(self) -> None:
        while self._version != self._rendered_version:
            width = self._render_width
            if width <= 0 or not self.is_mounted:
                return  # the first resize renders
            version, generation = self._version, self._generation
            if width != self._width:
                self._width = width
                self._settled_lines, self._settled_count = [], 0
            blocks = self._blocks[self._settled_count:]
            job = _RenderJob(blocks, self._tail_block(), width, self.rich_style,
                             "monokai" if self.app.current_theme.dark else "default", bool(self._settled_lines))
            new_lines, tail = await asyncio.to_thread(job.run, self._render_console)
            if width != self._width or generation != self._generation:
                continue  # resized or replaced meanwhile: start again
            self._settled_lines.extend(new_lines)
            self._settled_count += len(blocks)
            gap = [_BLANK] if tail and self._settled_lines and not _joins(job.tail) else []
            self._lines = self._settled_lines + gap + tail
            self.virtual_size = Size(width, len(self._lines))
            self.refresh()
            self._rendered_version = version
        self._caught_up.set()

    @property
    def plain_lines(self) -> list[str]:
        """The document as drawn, one plain string per line (styles dropped)."""
        return [strip.text.rstrip() for strip in self._lines]

    async def wait_rendered(self) -> None:
        """Until the lines show all the text given so far."""
        await self._caught_up.wait()

    @property
    def rendered(self) -> bool:
        return self._caught_up.is_set()

    def on_resize(self) -> None:
        if self._render_width != self._width:
            self._render()

    def on_mount(self) -> None:
        self.watch(self.app, "theme", lambda _theme: self._rerender_all(), init=False)
        self._render()

    def _rerender_all(self) -> None:
        self._width = 0
        self._render()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        return self._lines[index].crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)
