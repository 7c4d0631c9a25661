"""Columnar battle table: the only input the rating math needs.

A battle is one vote between two anonymous answers: model ``a`` was shown on
the left, model ``b`` on the right, and the voter picked ``model_a``,
``model_b``, ``tie`` or ``both_bad``.  Filters (category, voter, exclusions)
are applied by the caller before building the table.

Outcome convention (LMArena's): a win is 1.0 for ``a``, a loss 0.0, and both
``tie`` and ``both_bad`` count as half a win (0.5).  ``winner_code`` keeps the
four labels apart for counting.

Style features are per side, in the column order of :data:`STYLE_FEATURES`;
NaN means "unknown" (for example a battle imported without its answers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

STYLE_FEATURES: tuple[str, ...] = ("length", "emoji", "header", "list", "bold")

# winner codes
WIN_A = 0
WIN_B = 1
TIE = 2
BOTH_BAD = 3

WINNER_LABELS: tuple[str, ...] = ("model_a", "model_b", "tie", "both_bad")
_WINNER_TO_CODE = {
    "model_a": WIN_A,
    "model_b": WIN_B,
    "tie": TIE,
    "both_bad": BOTH_BAD,
    # LMArena's older spelling of both_bad
    "tie (bothbad)": BOTH_BAD,
}
# outcome (score of model a) per winner code
CODE_TO_OUTCOME = np.array([1.0, 0.0, 0.5, 0.5])


def _factorize(values_a: Sequence[str], values_b: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Map two sequences of names to indices into one sorted list of names.

    Hash-based: ``np.unique`` on a 2M-element string array takes ~9 s on the
    bench machine because it sorts long strings; a dict lookup per row takes
    ~0.5 s for 1M battles.  The result is the same as
    ``np.unique(np.concatenate([a, b]), return_inverse=True)``.
    """
    if isinstance(values_a, np.ndarray):
        values_a = values_a.tolist()
    if isinstance(values_b, np.ndarray):
        values_b = values_b.tolist()
    names = sorted(set(values_a).union(values_b))
    index = {name: i for i, name in enumerate(names)}
    get = index.__getitem__
    a = np.fromiter(map(get, values_a), dtype=np.int64, count=len(values_a))
    b = np.fromiter(map(get, values_b), dtype=np.int64, count=len(values_b))
    return [str(n) for n in names], a, b


def winner_codes(winner: Sequence[str]) -> np.ndarray:
    """Vectorised mapping of winner labels to codes (WIN_A, WIN_B, TIE, BOTH_BAD)."""
    if isinstance(winner, np.ndarray) and winner.dtype.kind in "iu":
        codes = winner.astype(np.int8)
        if codes.size and (codes.min() < 0 or codes.max() > 3):
            raise ValueError("winner codes must be in 0..3")
        return codes
    if isinstance(winner, np.ndarray):
        winner = winner.tolist()
    try:
        return np.fromiter(map(_WINNER_TO_CODE.__getitem__, winner), dtype=np.int8, count=len(winner))
    except KeyError as exc:
        raise ValueError(
            f"unknown winner label {exc.args[0]!r}; expected one of {', '.join(WINNER_LABELS)}"
        ) from None


def _as_features(x, n: int, name: str) -> np.ndarray | None:
    if x is None:
        return None
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape != (n, len(STYLE_FEATURES)):
        raise ValueError(f"{name} must have shape ({n}, {len(STYLE_FEATURES)}), got {arr.shape}")
    return arr


@dataclass
class BattleTable:
    """Battles as parallel arrays.

    models:      model names; ``a``/``b`` index into it
    a, b:        int arrays, the model shown left (a) and right (b)
    outcome:     float array, score of a: 1.0 a won, 0.0 b won, 0.5 tie or both_bad
    winner_code: int8 array, WIN_A / WIN_B / TIE / BOTH_BAD
    features_a, features_b: optional (n, 5) float arrays, columns STYLE_FEATURES,
                 NaN where unknown
    order:       optional permutation of row indices in time order (for Elo
                 and TrueSkill); default is row order
    cluster:     optional int64 array, one value per row; rows with the same
                 value are votes on the same battle, and intervals resample
                 (bootstrap) or sum scores over (sandwich) whole clusters.
                 None: every row is its own battle
    """

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    winner_code: np.ndarray
    features_a: np.ndarray | None = None
    features_b: np.ndarray | None = None
    order: np.ndarray | None = field(default=None)
    cluster: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.models = [str(m) for m in self.models]
        self.a = np.asarray(self.a, dtype=np.int64)
        self.b = np.asarray(self.b, dtype=np.int64)
        self.winner_code = np.asarray(self.winner_code, dtype=np.int8)
        self.outcome = np.asarray(self.outcome, dtype=np.float64)
        n = self.a.shape[0]
        for name in ("b", "outcome", "winner_code"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if n and (min(self.a.min(), self.b.min()) < 0 or max(self.a.max(), self.b.max()) >= len(self.models)):
            raise ValueError("model index out of range")
        self.features_a = _as_features(self.features_a, n, "features_a")
        self.features_b = _as_features(self.features_b, n, "features_b")
        if (self.features_a is None) != (self.features_b is None):
            raise ValueError("give both features_a and features_b, or neither")
        if self.order is not None:
            self.order = np.asarray(self.order, dtype=np.int64)
            if self.order.shape != (n,):
                raise ValueError("order must be a permutation of the rows")
        if self.cluster is not None:
            self.cluster = np.asarray(self.cluster)
            if self.cluster.shape != (n,):
                raise ValueError(f"cluster must have shape ({n},)")
            if self.cluster.dtype.kind not in "iu":
                raise ValueError("cluster must hold integers (one id per battle)")
            self.cluster = self.cluster.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_records(
        cls,
        model_a: Sequence[str],
        model_b: Sequence[str],
        winner: Sequence[str],
        features_a=None,
        features_b=None,
        timestamps=None,
        clusters=None,
    ) -> "BattleTable":
        """Build a table from parallel sequences.

        ``winner`` holds labels ``model_a | model_b | tie | both_bad``.
        ``features_a``/``features_b``: (n, 5) array-likes (NaN = unknown) or None.
        ``timestamps``: optional sortable values; Elo and TrueSkill then visit
        battles in (stable) timestamp order.
        ``clusters``: optional battle keys (any hashable values), one per row;
        rows with the same key are votes on the same battle.
        """
        n = len(model_a)
        if len(model_b) != n or len(winner) != n:
            raise ValueError("model_a, model_b and winner must have the same length")
        models, a, b = _factorize(model_a, model_b)
        codes = winner_codes(winner)
        order = None
        if timestamps is not None:
            ts = np.asarray(timestamps)
            if ts.shape != (n,):
                raise ValueError("timestamps must have one value per battle")
            order = np.argsort(ts, kind="stable")
        cluster = None
        if clusters is not None:
            if len(clusters) != n:
                raise ValueError("clusters must have one value per battle")
            ids: dict = {}
            cluster = np.fromiter((ids.setdefault(c, len(ids)) for c in clusters), dtype=np.int64, count=n)
        return cls(
            models=models,
            a=a,
            b=b,
            outcome=CODE_TO_OUTCOME[codes],
            winner_code=codes,
            features_a=features_a,
            features_b=features_b,
            order=order,
            cluster=cluster,
        )

    # ---------------------------------------------------------------- helpers
    @property
    def n(self) -> int:
        return int(self.a.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def has_features(self) -> bool:
        return self.features_a is not None

    def time_order(self) -> np.ndarray:
        """Row indices in time order."""
        return self.order if self.order is not None else np.arange(self.n)

    def subset(self, rows) -> "BattleTable":
        """Rows selected by a boolean mask or an index array.

        Without ``order`` an index array may repeat rows (a resample).  With
        ``order`` the selection is taken as a set of rows, which keep their
        relative time order.
        """
        rows = np.asarray(rows)
        if rows.dtype == bool:
            keep = rows
            idx = np.flatnonzero(rows)
        else:
            idx = rows.astype(np.int64)
            keep = None
        order = None
        if self.order is not None:
            if keep is None:
                keep = np.zeros(self.n, dtype=bool)
                keep[idx] = True
                idx = np.flatnonzero(keep)
            # new position of each kept row, then the old time order restricted
            newpos = np.cumsum(keep) - 1
            order = newpos[self.order[keep[self.order]]]
        return BattleTable(
            models=list(self.models),
            a=self.a[idx],
            b=self.b[idx],
            outcome=self.outcome[idx],
            winner_code=self.winner_code[idx],
            features_a=None if self.features_a is None else self.features_a[idx],
            features_b=None if self.features_b is None else self.features_b[idx],
            order=order,
            cluster=None if self.cluster is None else self.cluster[idx],
        )

    def swapped(self) -> "BattleTable":
        """The same battles with sides exchanged and winners flipped."""
        flip = np.array([WIN_B, WIN_A, TIE, BOTH_BAD], dtype=np.int8)
        codes = flip[self.winner_code]
        return BattleTable(
            models=list(self.models),
            a=self.b.copy(),
            b=self.a.copy(),
            outcome=CODE_TO_OUTCOME[codes],
            winner_code=codes,
            features_a=None if self.features_b is None else self.features_b.copy(),
            features_b=None if self.features_a is None else self.features_a.copy(),
            order=None if self.order is None else self.order.copy(),
            cluster=None if self.cluster is None else self.cluster.copy(),
        )
