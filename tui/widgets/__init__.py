"""Widgets of the Textual app (answer panes, the rating chart)."""
