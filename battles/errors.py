"""Errors a user can act on. The command line prints their message and exits; no traceback."""


class BlindsideError(Exception):
    """Base class: the message says what was wrong and what to do."""

    exit_code = 1


class ConfigError(BlindsideError):
    """The config file or a command-line setting is unusable."""

    exit_code = 2


class StoreError(BlindsideError):
    """The database cannot be opened or written as asked."""

    exit_code = 2


class VoteError(BlindsideError):
    """A vote was refused (unknown battle, already voted, battle not votable)."""

    exit_code = 1
