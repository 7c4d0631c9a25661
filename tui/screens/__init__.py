"""Screens of the Textual app: battle (the default), leaderboard, history, models, help."""
