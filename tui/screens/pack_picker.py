"""A modal listing the built-in prompt packs; returns the chosen pack's name."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


def pack_options() -> list[Option]:
    from prompts import list_packs

    options = []
    for pack in list_packs():
        name = getattr(pack, "name", pack)
        about = getattr(pack, "description", None) or getattr(pack, "title", None)
        label = Text(str(name), style="bold")
        if about:
            label.append(f"  {about}", style="dim")
        options.append(Option(label, id=str(name)))
    return options


class PackPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="pack-dialog", classes="dialog"):
            yield Label("Draw prompts from which pack?", markup=False)
            options = pack_options()
            yield OptionList(*options, id="packs")
            if not options:
                yield Label("No prompt packs are installed; start with --prompts FILE.", markup=False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
