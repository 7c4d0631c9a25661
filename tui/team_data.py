"""Glue between the vote store and the team views: voters' fingerprints, agreement, the board.

Every vote is read through one store call, ``Store.votes_with_features()`` (one
``battles.store.ShownVote`` per vote, as its voter saw the battle), so the team views depend on
the store in one place. From those rows this module builds the inputs of ``scoring.fingerprints``
(``ShownVote``, left/right as shown) and ``scoring.agreement`` (``BattleVote``, the winner
mapped back to the battle's own model_a / model_b).

Votes without a voter name (imported logs) cannot be told apart by person: they count in the
pooled fingerprints and in the board's ratings, each one as its own anonymous voter in the
pooled agreement, and never as a voter of their own in ``voters``.

Twins (a model against its own treated copy, e.g. ``x`` and ``x-chatty``): from the config,
models whose settings are the same but for ``treatment`` (provider, model id, URL, model file,
temperature, system prompt, token limit) are twins; the untreated one's name is their base.
Models of imported logs that the config does not name are matched by name: ``NAME-chatty``,
``NAME+chatty``, ``NAME-plain`` and ``NAME+plain`` are the treated twins of ``NAME``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from battles.config import ModelConfig
from battles.errors import ConfigError
from battles.store import ShownVote as StoredVote
from battles.store import Store
from scoring.agreement import BattleVote, agreement_summary, group_agreement, voter_pair_agreement
from scoring.battles_table import STYLE_FEATURES
from scoring.fingerprints import (ShownVote, fingerprints, room_fingerprint, style_comparison, style_scale,
                                  voter_fingerprint)

# scoring calls the answer length "length"; the store counts it in tokens.
_STORE_FEATURE = {"length": "tokens"}
TREATMENT_SUFFIXES = ("chatty", "plain")
HUMANS = "humans"  # the pooled human voters, beside each judge
_TO_BATTLE_TERMS = {"left": "model_a", "right": "model_b"}


# -- reading ------------------------------------------------------------------------------------

def load_votes(store: Store, battle_ids: Iterable[str] | None = None) -> list[StoredVote]:
    """Every counted vote as its voter saw it (see the module doc); only ``battle_ids`` if given."""
    rows = list(store.votes_with_features())
    if battle_ids is not None:
        wanted = set(battle_ids)
        rows = [r for r in rows if r.battle_id in wanted]
    return rows


def models_of(rows: Iterable[StoredVote]) -> set[str]:
    """The models the votes in ``rows`` were cast on."""
    return {m for r in rows for m in (r.model_left, r.model_right)}


def deck_battle_ids(store: Store, name: str) -> list[str]:
    """The battles of deck ``name`` in playing order; ConfigError (exit 2) when there is no such deck."""
    if store.conn.execute("SELECT 1 FROM decks WHERE name = ?", (name,)).fetchone() is None:
        raise ConfigError(f"no deck {name!r} in {store.path}; build it first with: blindside deck build {name} ...")
    return [r[0] for r in store.conn.execute(
        "SELECT battle_id FROM deck_battles WHERE deck = ? ORDER BY position", (name,))]


_RAW_SIDE = {"A": "left", "B": "right", "C": "tie"}  # Assistant A is the answer shown first


def judge_position_votes(store: Store) -> list[ShownVote]:
    """Every judge's raw verdicts, before MT-Bench's consistency rule, as votes shown in their
    order: in ``ab`` the battle's model A is shown first, in ``ba`` its model B. A judge's
    position bias is read from these, so one that always answers [[A]] chose the first-shown
    answer every time (its decided votes are all ties and would say nothing)."""
    from battles.judging.runner import judge_voter
    from battles.judging.schema import iter_judgments

    models = dict(((r[0], (r[1], r[2])) for r in store.conn.execute(
        "SELECT id, model_a, model_b FROM battles b WHERE status = 'complete' AND model_a != model_b "
        "AND identity_leak = 0 AND EXISTS (SELECT 1 FROM judgments j WHERE j.battle_id = b.id)")))
    out = []
    for j in iter_judgments(store):
        if j.verdict is None or j.battle_id not in models:
            continue
        a, b = models[j.battle_id]
        left, right = (a, b) if j.order == "ab" else (b, a)
        out.append(ShownVote(voter=judge_voter(j.judge), battle=j.battle_id, left=left, right=right,
                             winner=_RAW_SIDE[j.verdict], kind="judge"))
    return out


# -- twins --------------------------------------------------------------------------------------

def _settings_key(model: ModelConfig) -> ModelConfig:
    return dataclasses.replace(model, name="", treatment=None, aliases=())


def twins_map(models: Iterable[str], config_models: Mapping[str, ModelConfig] | None = None
              ) -> dict[str, tuple[str, str | None]]:
    """model -> (base, treatment or None), for :func:`scoring.fingerprints.voter_fingerprint`.

    ``models``: the names in the votes. See the module doc for how twins are found."""
    twins: dict[str, tuple[str, str | None]] = {}
    configured = list((config_models or {}).values())
    untreated = {_settings_key(m): m.contestant for m in configured if not m.treatment}
    for m in configured:
        base = untreated.get(_settings_key(m), m.contestant) if m.treatment else m.contestant
        twins[m.contestant] = (base, m.treatment or None)
    for name in models:
        if name in twins:
            continue
        twins[name] = (name, None)
        for treatment in TREATMENT_SUFFIXES:
            for sep in ("-", "+"):
                if name.endswith(sep + treatment) and len(name) > len(sep + treatment):
                    twins[name] = (name[: -len(sep + treatment)], treatment)
    return twins


# -- rows to scoring inputs ---------------------------------------------------------------------

_STORE_KEYS = tuple(_STORE_FEATURE.get(name, name) for name in STYLE_FEATURES)


def _features(side: Mapping[str, Any] | None) -> list | None:
    """STYLE_FEATURES order; None stays None (numpy reads it as NaN, unknown: never 0)."""
    return None if side is None else [side.get(key) for key in _STORE_KEYS]


def shown_votes(rows: Iterable[StoredVote]) -> list[ShownVote]:
    """The rows as scoring's ``ShownVote`` records; an unnamed voter keeps the name ``""``."""
    return [ShownVote(voter=r.voter or "", battle=r.battle_id, left=r.model_left, right=r.model_right,
                      winner=r.winner, left_features=_features(r.features_left),
                      right_features=_features(r.features_right), kind=r.kind or "human")
            for r in rows]


def battle_winner(row: StoredVote) -> str:
    """The row's winner in the battle's own terms (model_a | model_b | tie | both_bad)."""
    winner = _TO_BATTLE_TERMS.get(row.winner, row.winner)
    if row.shown_swapped and winner in ("model_a", "model_b"):
        winner = "model_b" if winner == "model_a" else "model_a"
    return winner


def anonymous_voter(voter: str | None, i: int) -> str:
    """The voter's name, or for the i-th unnamed vote a name of its own: each counts as its own voter."""
    return voter or f"\x00anonymous-{i}"


def battle_votes(rows: Iterable[StoredVote]) -> list[BattleVote]:
    """The rows as ``BattleVote`` records; each unnamed vote is its own anonymous voter."""
    return [BattleVote(battle=r.battle_id, voter=anonymous_voter(r.voter, i), winner=battle_winner(r))
            for i, r in enumerate(rows)]


def _humans(rows: Iterable[StoredVote]) -> list[StoredVote]:
    return [r for r in rows if (r.kind or "human") == "human"]


# -- agreement ----------------------------------------------------------------------------------

def agreement_of(rows: list[StoredVote]) -> dict | None:
    """The leaderboard's ``agreement`` object over the human votes in ``rows``; None when no
    battle has two human votes. Ties and both_bad count as one category (see scoring.agreement)."""
    summary = agreement_summary(battle_votes(_humans(rows)))
    if not summary["battles_with_multiple_votes"]:
        return None
    return summary


def agreement_json(store: Store, *, battle_ids: Iterable[str] | None = None) -> dict | None:
    """``{battles_with_multiple_votes, vote_pairs, pairwise_agreement,
    pairwise_agreement_without_ties, fleiss_kappa}`` of the human votes, or None when no
    battle has two or more human votes."""
    # Only battles with two or more human votes can agree or disagree: the leaderboard of a
    # busy arena reads those, never every vote a second time.
    wanted = None if battle_ids is None else set(battle_ids)
    votes = [BattleVote(battle=battle, voter=anonymous_voter(voter, i), winner=winner)
             for i, (battle, voter, winner) in enumerate(store.shared_votes(kind="human"))
             if wanted is None or battle in wanted]
    summary = agreement_summary(votes)
    return summary if summary["battles_with_multiple_votes"] else None


# -- the voters report --------------------------------------------------------------------------

def voters_report(rows: list[StoredVote], twins: Mapping[str, tuple[str, str | None]],
                  *, voter: str | None = None, position_votes: Iterable[ShownVote] = ()) -> dict:
    """``{"voters": [...], "humans": {...} | None, "agreement": [...], "style_comparison": {...}}``
    (see voters_command).

    Fingerprints share the style scale of all the votes; ``humans`` is every human vote pooled
    (unnamed ones included) on that scale, to set beside a judge. ``agreement`` holds each pair
    of named voters with a battle in common, and each judge against the pooled humans (unnamed
    human votes included). ``position_votes``: the judges' raw verdicts
    (:func:`judge_position_votes`), which their position bias is read from. ``style_comparison``:
    the humans' and each judge's style coefficients side by side
    (:func:`scoring.fingerprints.style_comparison`).
    ``voter``: only that voter's entry and the pairs it is in; ConfigError when it has no votes."""
    shown = shown_votes(rows)
    named = [v for v in shown if v.voter]
    if voter is not None and voter not in {v.voter for v in named}:
        from tui.widgets.safe_text import printable

        known = sorted({v.voter for v in named})
        listed = ", ".join(printable(k) for k in known[:10]) + (", ..." if len(known) > 10 else "")
        raise ConfigError(f"no votes by voter {printable(voter)!r}"
                          + (f" (voters: {listed})" if known else " (no named votes yet)"))
    scale = style_scale(shown)
    judge_names = {v.voter for v in named if v.kind == "judge"}
    raw = [v for v in position_votes if v.voter in judge_names]
    if voter is None:
        entries = fingerprints(named, twins, position_votes=raw)
    else:  # one style fit, not one per voter; on the same scale as fingerprints() uses
        entries = [voter_fingerprint([v for v in named if v.voter == voter], twins, voter=voter, scale=scale,
                                     position_votes=[v for v in raw if v.voter == voter] or None)]
    human_votes = [v for v in shown if v.kind == "human"]
    humans = room_fingerprint(human_votes, twins, name=HUMANS, scale=scale) if human_votes else None
    all_votes = battle_votes(rows)
    pairs = voter_pair_agreement([v for v in all_votes if not v.voter.startswith("\x00")])
    human_names = {bv.voter for bv, r in zip(all_votes, rows) if (r.kind or "human") == "human"}
    for judge in sorted(judge_names):
        pair = group_agreement(all_votes, judge, human_names, name=HUMANS)
        if pair["battles"]:
            pairs.append(pair)
    if voter is not None:
        pairs = [p for p in pairs if voter in (p["a"], p["b"])]
    comparison = style_comparison(humans, [e for e in entries if e["kind"] == "judge"])
    return {"voters": entries, "humans": humans, "agreement": pairs, "style_comparison": comparison}


def fingerprint_of(rows: list[StoredVote], twins: Mapping[str, tuple[str, str | None]],
                   voter: str) -> dict | None:
    """``voter``'s fingerprint on the style scale of all ``rows``; None when it has no votes."""
    shown = shown_votes(rows)
    own = [v for v in shown if v.voter == voter]
    if not own:
        return None
    return voter_fingerprint(own, twins, voter=voter, scale=style_scale(shown))


# -- the board ----------------------------------------------------------------------------------

def board_snapshot(rows: list[StoredVote], twins: Mapping[str, tuple[str, str | None]]) -> dict:
    """What the board shows, from the human votes in ``rows``:

    ``{"votes", "battles", "leaderboard" (compute_leaderboard result, or None without votes),
    "voters" ([{voter, votes}] most first), "agreement" (as agreement_of), "room" (pooled
    fingerprint, or None)}``. Ratings count every vote, their intervals clustered by battle."""
    import numpy as np

    from scoring.battles_table import BattleTable
    from scoring.leaderboard import compute_leaderboard

    humans = _humans(rows)
    shown = shown_votes(humans)
    counts = Counter(v.voter for v in shown)
    leaderboard = None
    if shown:
        unknown = [None] * len(STYLE_FEATURES)
        left_f = np.array([v.left_features or unknown for v in shown], dtype=float)
        right_f = np.array([v.right_features or unknown for v in shown], dtype=float)
        table = BattleTable.from_records(
            [v.left for v in shown], [v.right for v in shown],
            [_TO_BATTLE_TERMS.get(v.winner, v.winner) for v in shown],
            features_a=left_f, features_b=right_f, clusters=[v.battle for v in shown])
        leaderboard = compute_leaderboard(table, method="bt", ci="sandwich", rounds=1, style_control=True)
    return {
        "votes": len(humans),
        "battles": len({r.battle_id for r in humans}),
        "leaderboard": leaderboard,
        "voters": [{"voter": name, "votes": n} for name, n in
                   sorted(counts.items(), key=lambda item: (-item[1], item[0]))],
        "agreement": agreement_of(humans),
        "room": room_fingerprint(shown, twins, name="room") if shown else None,
    }


def config_models(config_path: str | None) -> dict[str, ModelConfig]:
    """The config's models, for :func:`twins_map` (none when no config file is found)."""
    from battles.config import load_config

    return dict(load_config(config_path).models)
