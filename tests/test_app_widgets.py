"""The app's own widgets: the Markdown view, the rating chart, safe text."""

from __future__ import annotations

import random

import pytest
from rich.text import Text
from textual.app import App

from scoring.results import ModelRating, StyleRating
from tests.fake_provider import expected_text
from tui.widgets.markdown_view import CODE_CHUNK_LINES, MarkdownView
from tui.widgets.rating_chart import draw_interval_chart
from tui.widgets.safe_text import plain, printable

TRICKY = (
    "# Title\nIntro paragraph with **bold** and `code`.\n\n"
    "- one\n- two\n\n  still item two\n\n"
    "1. first\n\n2. second\n"
    "```python\n" + "".join(f"line_{i} = {i}\n" for i in range(CODE_CHUNK_LINES * 2 + 5)) + "```\n"
    "After the code.\n## Sub\n> quote\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "~~~\nunclosed tilde fence\n\n# not a heading inside code\n"
)


class Views(App):
    def compose(self):
        yield MarkdownView(id="whole")
        yield MarkdownView(id="streamed")


def chunkings(text: str):
    yield [text]
    yield list(text)  # one character at a time
    rng = random.Random(4)
    for _ in range(3):
        pieces, i = [], 0
        while i < len(text):
            n = rng.randint(1, 40)
            pieces.append(text[i:i + n])
            i += n
        yield pieces


@pytest.mark.parametrize("text", [TRICKY, expected_text("fake:text=markdown,tokens=400"),
                                  expected_text("fake:text=code,tokens=300")], ids=["tricky", "markdown", "code"])
async def test_streamed_text_looks_the_same_however_it_was_chunked(text):
    app = Views()
    async with app.run_test(size=(70, 40)):
        whole, streamed = app.query_one("#whole", MarkdownView), app.query_one("#streamed", MarkdownView)
        whole.update(text)
        await whole.wait_rendered()
        assert any(line.strip() for line in whole.plain_lines)
        for pieces in chunkings(text):
            streamed.update("")
            for piece in pieces:
                streamed.append(piece)
            await streamed.wait_rendered()
            assert streamed.source == text
            assert streamed.plain_lines == whole.plain_lines


async def test_markup_and_escapes_in_markdown_are_shown_literally():
    app = Views()
    async with app.run_test(size=(70, 10)):
        view = app.query_one("#whole", MarkdownView)
        view.update(printable("[bold red]boom[/bold red] and \x1b[2J gone?"))
        await view.wait_rendered()
        assert view.plain_lines[0] == "[bold red]boom[/bold red] and ␛[2J gone?"


async def test_a_long_code_block_is_rendered_in_pieces_not_again_and_again():
    code = "```python\n" + "".join(f"x{i} = {i}\n" for i in range(200)) + "```\n"
    app = Views()
    async with app.run_test(size=(70, 10)):
        view = app.query_one("#streamed", MarkdownView)
        for line in code.splitlines(keepends=True):
            view.append(line)
        await view.wait_rendered()
        assert len(view._blocks) >= 200 // CODE_CHUNK_LINES  # finished pieces are kept, not re-rendered
        text_lines = [line.strip() for line in view.plain_lines if line.strip()]
        assert text_lines == [f"x{i} = {i}" for i in range(200)]  # no seams in the code


def test_printable_replaces_control_characters_only():
    assert printable("a\x1b[2Jb\x07c\td\ne\r\n\x9bz") == "a␛[2Jb␇c\td\ne\r\n\ufffdz"
    assert plain("[bold]x[/bold]").plain == "[bold]x[/bold]"
    assert isinstance(plain("x"), Text)


def rated(model: str, rating: float, ci: tuple[float, float], styled: tuple[float, tuple] | None = None):
    """A leaderboard entry with just what the chart reads."""
    style = None if styled is None else StyleRating(rating=styled[0], ci=styled[1], rank=1, rank_shift=0)
    return ModelRating(model=model, battles=10, wins=5, losses=5, ties=0, both_bad=0, win_rate=0.5,
                       rating=rating, ci=ci, rank=1, style_controlled=style)


def test_rating_chart_puts_each_interval_on_one_shared_axis():
    models = [rated("wide", 1000, (900, 1100), (1050, (1000, 1100))), rated("narrow", 1100, (1090, 1110))]
    lines = draw_interval_chart(models, width=60).plain.splitlines()
    assert len(lines) == 4  # wide raw, wide style, narrow raw, axis
    bars = [line[line.index("├"):line.index("┤") + 1] for line in lines[:3]]
    starts = [line.index("├") for line in lines[:3]]
    assert starts[0] < starts[1] < starts[2]  # 900 < 1000 < 1090 on the same scale
    assert len(bars[0]) > len(bars[1]) > len(bars[2])  # 200 > 100 > 20 points wide
    assert all(bar.count("●") == 1 for bar in bars)
    assert lines[3].split() == ["900", "1110"]


def test_rating_chart_escapes_and_shortens_model_names():
    models = [rated("evil\x1b[2J\nname" + "x" * 10_000, 1000, (900, 1100)), rated("ok", 1050, (1000, 1100))]
    lines = draw_interval_chart(models, width=80).plain.splitlines()
    assert len(lines) == 3  # two models and the axis: the newline did not add a row
    assert lines[0].startswith("evil␛[2J␊namexxx") and "\x1b" not in lines[0]
    assert all(len(line) <= 80 for line in lines)


def test_rating_chart_without_ratings_says_so():
    assert "No ratings yet" in draw_interval_chart([], 60).plain


def test_rating_chart_gives_other_scales_their_own_axis():
    models = [rated("m1", 25.0, (20.0, 30.0), (1000, (950, 1050))), rated("m2", 22.0, (18.0, 26.0), (980, (930, 1030)))]
    lines = draw_interval_chart(models, 60, same_scale=False).plain.splitlines()
    assert "style-controlled (Bradley-Terry scale)" in lines
    axes = [line.split() for line in lines if line.strip() and line.split()[0].isdigit()]
    assert axes == [["18", "30"], ["930", "1050"]]
