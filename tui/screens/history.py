"""Past battles, searchable; open one to read both answers and their style features.

A battle the viewing voter (``app.voter``) has not voted on keeps its secret here too, whoever
else voted on it (other humans, judges): its models show as "hidden until voted", a search by
model name does not list it (that would tell who answered), and the judges' verdicts and
reasoning (which may name a model) stay out of sight. A finished battle the viewer has not
voted on can be voted on from its detail screen; after that vote the detail shows each
judge's decided vote and its two raw verdicts, and ``j`` their full answers.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from battles.errors import BlindsideError
from battles.judging.schema import load_judgments
from battles.judging.verdict import winner_of
from battles.store import Store
from tui.rating_format import model_name
from tui.widgets.markdown_view import MarkdownView
from tui.widgets.safe_text import plain, printable

HIDDEN = "hidden until voted"
WINNER_SHORT = {"model_a": "A", "model_b": "B", "tie": "tie", "both_bad": "both bad"}
FEATURES_SHOWN = ("tokens", "words", "emoji", "header", "list", "bold", "code_blocks")


def visible_battles(store: Store, search: str | None, limit: int = 200, *, viewer: str | None = None) -> list[dict]:
    """``Store.recent_battles`` for ``viewer``, minus the battles it has not voted on that were
    found only through a model's name."""
    rows = store.recent_battles(search=search or None, limit=limit, viewer=viewer)
    if not search:
        return rows
    needle = search.lower()

    def matches_without_names(row: dict) -> bool:
        return any(needle in (row.get(key) or "").lower() for key in ("prompt", "category"))

    return [r for r in rows if r.get("mine") or matches_without_names(r)]


def models_cell(row: dict) -> Text:
    if row.get("mine") is None:
        return Text(HIDDEN, style="dim italic")
    return Text(f"{model_name(row['model_a'])} vs {model_name(row['model_b'])}")


def flags_cell(row: dict) -> Text:
    flags = []
    if row.get("identity_leak") and row.get("mine"):
        flags.append("⚠ leak")
    if row.get("status") == "error":
        flags.append("✗ error")
    elif row.get("status") == "streaming":
        flags.append("… unfinished")
    return Text(" ".join(flags), style="yellow")


def first_line(text: str | None, width: int = 60) -> str:
    line = printable((text or "").strip().splitlines()[0] if (text or "").strip() else "")
    return line if len(line) <= width else line[: width - 1] + "…"


class HistoryScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("slash", "focus_search", "Search"),
        Binding("enter", "open", "Open", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None
        self.searching = False  # a search is running in the worker

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="Search prompts, categories and (voted battles') models", id="history-search")
        yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-count", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in ("When", "Prompt", "Category", "Models", "Your vote", "Flags"):
            table.add_column(column, key=column)
        self.load()
        self.app.ratings_changed.subscribe(self, lambda _update: self.load())
        table.focus()

    def on_screen_resume(self) -> None:
        self.load()

    def action_focus_search(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed, "#history-search")
    def search_changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.2, self.load)

    @on(Input.Submitted, "#history-search")
    def search_submitted(self) -> None:
        self.load()
        self.query_one(DataTable).focus()

    def load(self) -> None:
        """Search in a thread worker (a LIKE over every prompt can take a while on a big
        database), then fill the table; a newer search cancels an older one."""
        self.searching = True
        self._search(self.query_one(Input).value.strip())

    @work(thread=True, exclusive=True, group="history-search")
    def _search(self, search: str) -> None:
        with Store(self.app.store.path) as store:  # a connection of this thread's own
            rows = visible_battles(store, search, viewer=self.app.voter)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, search, rows)

    def _show(self, search: str, rows: list[dict]) -> None:
        if search != self.query_one(Input).value.strip():
            return  # the search box changed meanwhile: a newer search is on its way
        self.searching = False
        table = self.query_one(DataTable)
        table.clear()
        for row in rows:
            table.add_row(
                Text((row.get("created") or "")[:16].replace("T", " ")),
                plain(first_line(row.get("prompt"))),
                plain(row.get("category") or ""),
                models_cell(row),
                Text(WINNER_SHORT.get(row.get("mine"), "–")),
                flags_cell(row),
                key=row["id"],
            )
        found = f"{len(rows)} battle(s)" + (f" matching {search!r}" if search else "")
        self.query_one("#history-count", Static).update(Text(found + " · enter opens one", style="dim"))

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self.app.push_screen(BattleDetailScreen(key))

    @on(DataTable.RowSelected, "#history-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(BattleDetailScreen(event.row_key.value))


def conversation(battle: dict, side: str) -> str:
    """Every turn of one side as Markdown: the prompt quoted, then the answer."""
    parts = []
    for response in battle["responses"]:
        if response["side"] != side:
            continue
        if response["turn"] > 1:
            parts.append("---")
        prompt = printable(response.get("prompt") or "")
        parts.append("\n".join(f"> {line}" for line in prompt.splitlines() or [""]))
        parts.append(printable(response.get("text") or "") or "*(no answer)*")
        if response.get("error"):
            parts.append(f"*This side failed: {printable(response['error'])}*")
    return "\n\n".join(parts) or "*(no answer stored)*"


def features_text(battle: dict, side: str) -> Text:
    features = {name: battle.get(f"{side}_{name}") for name in FEATURES_SHOWN}
    shown = [f"{value} {name.replace('_', ' ')}" for name, value in features.items() if value is not None]
    return Text(" · ".join(shown) or "no features stored", style="dim")


def own_vote(battle: dict, viewer: str | None) -> dict | None:
    """``viewer``'s own human vote on the battle (an unnamed viewer's: the unnamed vote), or None."""
    return next((v for v in battle["votes"]
                 if v["kind"] == "human" and (v["voter"] or None) == (viewer or None)), None)


def judges_text(battle: dict, judgments: list, *, full: bool = False) -> Text:
    """Each judge's decided vote and its two raw verdicts (in the battle's A / B terms); with
    ``full``, the judge's whole answers. Only ever shown after the viewer's own vote."""
    decided = {v["voter"]: v["winner"] for v in battle["votes"] if v["kind"] == "judge"}
    by_judge: dict[str, dict] = {}
    for j in judgments:
        by_judge.setdefault(j.judge, {})[j.order] = j
    text = Text()
    for judge, orders in sorted(by_judge.items()):
        vote = decided.get(f"judge:{judge}")
        raw = []
        for order, shown in (("ab", "A shown first"), ("ba", "B shown first")):
            j = orders.get(order)
            if j is None:
                continue
            said = ("failed" if j.error else "no verdict" if j.verdict is None
                    else WINNER_SHORT[winner_of(order, j.verdict)])
            raw.append(f"{said} ({shown})")
        text.append(f"judge:{printable(judge)}", style="bold")
        text.append(f" voted {WINNER_SHORT.get(vote, vote) if vote else 'nothing (no verdict to count)'}"
                    f" · raw verdicts: {', '.join(raw) or 'none'}\n")
        if full:
            for order in ("ab", "ba"):
                if order in orders:
                    text.append(f"  [{order}] ", style="dim")
                    text.append(printable(orders[order].text or orders[order].error or "") + "\n")
    if by_judge and not full:
        text.append("j: the judges' full answers", style="dim")
    return text


class BattleDetailScreen(Screen):
    """One past battle. Not voted by the viewer: names and judges hidden; a complete one can
    be voted on here."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "vote('model_a')", "A is better"),
        Binding("b", "vote('model_b')", "B is better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
        Binding("j", "toggle_judgments", "Judges' answers"),
    ]

    def __init__(self, battle_id: str) -> None:
        super().__init__()
        self.battle_id = battle_id
        self.battle: dict | None = None
        self.judgments: list = []
        self.full_judgments = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="detail-head", markup=False)
        yield Static("", id="detail-judges", markup=False)
        with Horizontal(id="detail-answers"):
            for side in ("a", "b"):
                with Vertical(classes="detail-side", id=f"detail-{side}"):
                    yield MarkdownView(classes="answer")
                    yield Static("", classes="detail-features", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @property
    def my_vote(self) -> dict | None:
        return own_vote(self.battle, self.app.voter) if self.battle else None

    @property
    def votable(self) -> bool:
        b = self.battle
        return bool(b) and self.my_vote is None and b["status"] == "complete"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "vote":
            return self.votable
        if action == "toggle_judgments":
            return self.my_vote is not None and bool(self.judgments)
        return True

    def action_toggle_judgments(self) -> None:
        if self.my_vote is None:
            return
        self.full_judgments = not self.full_judgments
        self.load()

    def load(self) -> None:
        self.battle = battle = self.app.store.battle(self.battle_id)
        head = self.query_one("#detail-head", Static)
        judges = self.query_one("#detail-judges", Static)
        if battle is None:
            head.update(Text("This battle is no longer in the database.", style="bold red"))
            return
        vote = self.my_vote
        voted = vote is not None
        # Judges' answers are read only once the viewer has voted: their reasoning may name a model.
        self.judgments = load_judgments(self.app.store, self.battle_id) if voted else []
        judges.update(judges_text(battle, self.judgments, full=self.full_judgments) if voted else "")
        judges.display = bool(self.judgments)
        for side in ("a", "b"):
            box = self.query_one(f"#detail-{side}")
            label = f"Model {side.upper()}"
            title = Text(label)
            if voted:
                title.append(f" · {model_name(battle[f'model_{side}'])}", style="bold")
            box.border_title = title
            box.query_one(MarkdownView).update(conversation(battle, side))
            box.query_one(".detail-features", Static).update(features_text(battle, side))
        text = Text()
        text.append(first_line(battle.get("prompt"), 100) + "\n", style="bold")
        meta = [(battle.get("created") or "")[:16].replace("T", " ")]
        if battle.get("category"):
            meta.append(f"category {printable(battle['category'])}")
        if voted:
            meta.append(f"you voted {WINNER_SHORT.get(vote['winner'], vote['winner'])}")
            others = [v for v in battle["votes"] if v["kind"] == "human" and v is not vote]
            if others:
                tally = ", ".join(f"{printable(v['voter'] or 'anonymous')} {WINNER_SHORT.get(v['winner'], v['winner'])}"
                                  for v in others)
                meta.append(f"others: {tally}")
            if battle.get("identity_leak"):
                meta.append("⚠ identity leak (not counted)")
        elif self.votable:
            meta.append("not voted yet: a / b / t / x to vote (models " + HIDDEN + ")")
        else:
            meta.append(f"status {battle['status']}, not votable (models {HIDDEN})")
        text.append(" · ".join(meta), style="dim")
        head.update(text)
        self.refresh_bindings()

    def action_vote(self, winner: str) -> None:
        if not self.votable:
            return
        try:
            self.app.store.record_vote(self.battle_id, winner, self.app.voter)
        except BlindsideError as exc:
            self.app.say(str(exc), severity="error")
            return
        self.app.refresh_ratings()
        self.load()
