"""The typed results of the rating math: what ``compute_leaderboard`` returns.

Plain frozen dataclasses without numpy, so the app and the CLI can import them (and a
screen can hold one) at no start-up cost; ``scoring.leaderboard`` fills them in.
``Leaderboard.to_json()`` is the documented JSON shape of ``blindside leaderboard --json``;
keep it stable when adding fields (add keys, never rename or move one).

An interval is ``(low, high)``; ``None`` marks one that is unbounded: the votes cannot place
the model yet (``provisional``), so it has no meaningful rating at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

METHODS = ("bt", "elo", "trueskill")
CI_METHODS = ("bootstrap", "sandwich")
# the exclusion counts every leaderboard reports, in this order (others may follow)
EXCLUSION_KEYS = ("error", "identity_leak", "unvoted", "missing_style")

Interval = tuple[float, float]


@dataclass(frozen=True)
class LeaderboardRequest:
    """What to rate and how: the rating options and the filters choosing the battles."""

    method: str = "bt"
    ci: str = "bootstrap"
    rounds: int = 100
    style_control: bool = True
    anchor: tuple[str, float] | None = None
    category: str | None = None
    voter: str | None = None  # only this voter's votes, whatever their kind (judge:NAME for a judge)
    judges: bool = False  # without a voter: every judge's votes beside the humans'
    include_leaks: bool = False
    seed: int = 42
    matrices: bool = False
    style_convention: str = "fastchat"  # fastchat | arena-rank (see scoring.bt.style_convention_setup)
    # variant families (see scoring.families): (model name, family) from the config's ``family``,
    # and (fnmatch glob, family) from ``--family GLOB=NAME``
    families: tuple[tuple[str, str], ...] = ()
    family_globs: tuple[tuple[str, str], ...] = ()


    @property
    def vote_kinds(self) -> tuple[str, ...] | None:
        """The kinds of vote rated: humans only by default; None (any) for one named voter."""
        if self.voter:
            return None
        return ("human", "judge") if self.judges else ("human",)

    @property
    def votes_rated(self) -> str:
        """Which votes are rated, in words: ``humans``, ``humans and judges`` or the voter's name."""
        if self.voter:
            return self.voter
        return "humans and judges" if self.judges else "humans"


@dataclass(frozen=True)
class StyleRating:
    """A model's rating on the style-controlled (contextual Bradley-Terry) board."""

    rating: float
    ci: Interval
    rank: int
    rank_shift: int  # raw rank minus style-controlled rank: > 0 = ranks higher once style is controlled
    provisional: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"rating": self.rating, "ci": list(self.ci), "rank": self.rank,
                "rank_shift": self.rank_shift, "provisional": self.provisional}


@dataclass(frozen=True)
class TrueSkillFit:
    """TrueSkill's own figures: rating = mu, conservative = mu - 3 sigma."""

    mu: float
    sigma: float
    conservative: float


@dataclass(frozen=True)
class FamilySelection:
    """A family's best member on one board (raw or style-controlled) and what picking it is worth:
    the expected selection inflation if the variants were equally strong, and an interval that
    allows for having picked the maximum of ``best_of`` (see ``scoring.families``)."""

    best: str
    best_of: int  # the family's placed members on this board
    expected_selection_inflation: float
    selection_adjusted_ci: Interval

    def to_json(self) -> dict[str, Any]:
        return {"best": self.best, "best_of": self.best_of,
                "expected_selection_inflation": self.expected_selection_inflation,
                "selection_adjusted_ci": list(self.selection_adjusted_ci)}


def retest_advice(model: str, best_of: int) -> str:
    return (f"re-test {model} on fresh battles: its rating is the best of {best_of} variants, "
            "so it carries the luck of the pick")


@dataclass(frozen=True)
class Family:
    """Variants of one model on the board. ``raw`` (``style_controlled``) is None when fewer than
    two members are placed on that board (or it has no 95% intervals): nothing was picked."""

    name: str
    members: tuple[str, ...]  # on the board, in board order
    raw: FamilySelection | None = None
    style_controlled: FamilySelection | None = None

    @property
    def advice(self) -> str | None:
        return None if self.raw is None else retest_advice(self.raw.best, self.raw.best_of)

    def to_json(self) -> dict[str, Any]:
        raw = self.raw
        return {"name": self.name, "members": list(self.members),
                "best": None if raw is None else raw.best,
                "best_of": None if raw is None else raw.best_of,
                "expected_selection_inflation": None if raw is None else raw.expected_selection_inflation,
                "selection_adjusted_ci": None if raw is None else list(raw.selection_adjusted_ci),
                "advice": self.advice,
                "style_controlled": None if self.style_controlled is None else self.style_controlled.to_json()}

    def member_json(self, model: str) -> dict[str, Any]:
        """The ``family`` object of one member's entry: the selection figures only on the best."""
        raw, styled = self.raw, self.style_controlled
        best = raw is not None and raw.best == model
        out = {"name": self.name, "members": list(self.members),
               "best_of": None if raw is None else raw.best_of, "best": best,
               "expected_selection_inflation": raw.expected_selection_inflation if best else None,
               "selection_adjusted_ci": list(raw.selection_adjusted_ci) if best else None,
               "advice": self.advice if best else None, "style_controlled": None}
        if styled is not None:
            styled_best = styled.best == model
            out["style_controlled"] = {
                "best_of": styled.best_of, "best": styled_best,
                "expected_selection_inflation": styled.expected_selection_inflation if styled_best else None,
                "selection_adjusted_ci": list(styled.selection_adjusted_ci) if styled_best else None}
        return out


@dataclass(frozen=True)
class ModelRating:
    model: str
    battles: int
    wins: int
    losses: int
    ties: int  # tie + both_bad
    both_bad: int
    win_rate: float | None  # wins / decisive battles; None without a decisive battle
    rating: float  # a meaningless placeholder when provisional
    ci: Interval | None  # None: unbounded, the votes cannot place the model yet
    rank: int
    provisional: bool = False
    style_controlled: StyleRating | None = None
    trueskill: TrueSkillFit | None = None
    family: Family | None = None  # the variant family the model belongs to, if any

    @property
    def placed(self) -> bool:
        return not self.provisional and self.ci is not None

    def to_json(self) -> dict[str, Any]:
        out = {
            "model": self.model, "battles": self.battles, "wins": self.wins, "losses": self.losses,
            "ties": self.ties, "both_bad": self.both_bad, "win_rate": self.win_rate, "rating": self.rating,
            "ci": [None, None] if self.ci is None else list(self.ci), "rank": self.rank,
            "provisional": self.provisional,
            "style_controlled": None if self.style_controlled is None else self.style_controlled.to_json(),
            "family": None if self.family is None else self.family.member_json(self.model),
        }
        if self.trueskill is not None:
            out.update(mu=self.trueskill.mu, sigma=self.trueskill.sigma, conservative=self.trueskill.conservative)
        return out


@dataclass(frozen=True)
class StyleCoefficient:
    """Log-odds of winning per SD of a style feature's difference between the sides."""

    log_odds_per_sd: float
    ci: Interval
    odds_ratio: float
    sd_of_ratio: float
    constant: bool  # the feature never varies in these battles: the coefficient is not estimable

    def to_json(self) -> dict[str, Any]:
        return {"log_odds_per_sd": self.log_odds_per_sd, "ci": list(self.ci), "odds_ratio": self.odds_ratio,
                "sd_of_ratio": self.sd_of_ratio, "constant": self.constant}


@dataclass(frozen=True)
class PositionBias:
    """How often the left answer wins (see ``scoring.stats.position_bias``)."""

    left_win_rate: float
    ci: Interval
    left_wins: int
    decisive_battles: int
    adjusted_log_odds: float | None = None  # left advantage in a BT fit with an intercept
    adjusted_ci: Interval | None = None

    def to_json(self) -> dict[str, Any]:
        return {"left_win_rate": self.left_win_rate, "ci": list(self.ci), "left_wins": self.left_wins,
                "decisive_battles": self.decisive_battles, "adjusted_log_odds": self.adjusted_log_odds,
                "adjusted_ci": None if self.adjusted_ci is None else list(self.adjusted_ci)}


@dataclass(frozen=True)
class Exclusions(Mapping[str, int]):
    """Battles left out of the ratings, counted by reason (a read-only mapping, in report order).

    A new reason is a new key: every reader iterates the mapping."""

    counts: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Exclusions:
        merged = {key: 0 for key in EXCLUSION_KEYS}
        merged.update((key, int(value)) for key, value in counts.items())
        return cls(tuple(merged.items()))

    def __getitem__(self, key: str) -> int:
        for name, value in self.counts:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> int:
        return sum(value for _, value in self.counts)

    def to_json(self) -> dict[str, int]:
        return dict(self.counts)


@dataclass(frozen=True)
class PairwiseMatrices:
    """Row model against column model: battles, wins, ties and the decisive win rate."""

    models: tuple[str, ...]
    battles: tuple[tuple[int, ...], ...]
    wins: tuple[tuple[int, ...], ...]
    ties: tuple[tuple[int, ...], ...]
    win_rate: tuple[tuple[float | None, ...], ...]  # None where the pair has no decisive battle

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PairwiseMatrices:
        def rows(m):
            return tuple(tuple(r) for r in m)

        return cls(tuple(data["models"]), rows(data["battles"]), rows(data["wins"]), rows(data["ties"]),
                   rows(data["win_rate"]))

    def to_json(self) -> dict[str, Any]:
        return {"models": list(self.models), "battles": [list(r) for r in self.battles],
                "wins": [list(r) for r in self.wins], "ties": [list(r) for r in self.ties],
                "win_rate": [list(r) for r in self.win_rate]}


@dataclass(frozen=True)
class Anchor:
    model: str
    rating: float


@dataclass(frozen=True)
class Leaderboard:
    method: str  # bt, elo or trueskill
    ci: str  # the interval method used: bootstrap, sandwich or trueskill_3sigma
    rounds: int | None  # bootstrap rounds, None for another interval
    seed: int
    anchor: Anchor | None
    battles_used: int
    style_control: bool  # asked for; style_coefficients is None when it could not be fitted
    style_battles_used: int | None
    battles_excluded: Exclusions
    models: tuple[ModelRating, ...]  # best rating first
    style_coefficients: Mapping[str, StyleCoefficient] | None
    position_bias: PositionBias | None
    notes: tuple[str, ...] = ()
    matrices: PairwiseMatrices | None = None
    style_convention: str = "fastchat"
    families: tuple[Family, ...] = ()  # declared families with a member on the board
    # the notes about family globs that matched no model (the CLI repeats them on stderr)
    family_warnings: tuple[str, ...] = ()
    _by_name: dict[str, ModelRating] = field(default=None, init=False, repr=False, compare=False)

    def model(self, name: str) -> ModelRating | None:
        """The entry of model ``name``, None when it has no counted battles."""
        if self._by_name is None:
            object.__setattr__(self, "_by_name", {m.model: m for m in self.models})
        return self._by_name.get(name)

    @property
    def has_style(self) -> bool:
        return any(m.style_controlled is not None for m in self.models)

    def to_json(self) -> dict[str, Any]:
        out = {
            "method": self.method,
            "ci": self.ci,
            "rounds": self.rounds,
            "seed": self.seed,
            "anchor": None if self.anchor is None else {"model": self.anchor.model, "rating": self.anchor.rating},
            "battles_used": self.battles_used,
            "style_control": self.style_control,
            "style_convention": self.style_convention,
            "style_battles_used": self.style_battles_used,
            "battles_excluded": self.battles_excluded.to_json(),
            "models": [m.to_json() for m in self.models],
            "style_coefficients": None if self.style_coefficients is None
            else {name: c.to_json() for name, c in self.style_coefficients.items()},
            "position_bias": None if self.position_bias is None else self.position_bias.to_json(),
            "notes": list(self.notes),
            "families": [f.to_json() for f in self.families],
        }
        if self.matrices is not None:
            out["matrices"] = self.matrices.to_json()
        return out


_FEATURE_WORDS = {
    "length": "a one-SD longer answer",
    "emoji": "a one-SD more emoji-laden answer",
    "header": "one SD more headers",
    "list": "one SD more list items",
    "bold": "one SD more bold text",
}


def describe_style_coefficient(feature: str, log_odds_per_sd: float, ci=None) -> str:
    """'a one-SD longer answer adds 0.25 log-odds (odds x1.28) of winning'."""
    subject = _FEATURE_WORDS.get(feature, f"one SD more {feature}")
    verb = "adds" if log_odds_per_sd >= 0 else "removes"
    text = (
        f"{subject} {verb} {abs(log_odds_per_sd):.2f} log-odds "
        f"(odds x{math.exp(log_odds_per_sd):.2f}) of winning"
    )
    if ci is not None:
        text += f" [95% {ci[0]:+.2f} to {ci[1]:+.2f}]"
    return text
