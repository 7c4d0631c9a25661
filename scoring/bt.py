"""Bradley-Terry fits: plain (aggregated) and contextual (style control).

Conventions (LMArena's):

* P(a beats b) = 1 / (1 + 10 ** ((R_b - R_a) / 400)); internally the
  parameters ``theta`` are in log10-odds units, rating = 400 * theta + 1000.
* ``tie`` and ``both_bad`` count as half a win for each side: the outcome
  y is 0, 0.5 or 1 and the loss is sum(y * -log p + (1 - y) * -log(1 - p)).
* Ratings are normalised to mean zero over the models (mean rating 1000 before
  any anchor).  This is what LMArena's L-BFGS started at zero produces, since
  the likelihood gradient always sums to zero over models.

Plain BT
    Maximum likelihood with a negligible ridge of ``PLAIN_RIDGE * ||theta||^2``
    (1e-6, in log10 units, on the summed loss) that only exists so a model with
    no losses (or a disconnected comparison graph) gets a large finite rating
    instead of an endless iteration.  Its effect on a normal board is far below
    0.001 rating points.  The fit runs on the unordered pairs (at most
    K(K-1)/2 numbers), so it costs the same for 1k or 10M battles; the bootstrap
    draws multinomial counts over the (pair, outcome) cells, which is exactly a
    resample of battles, and solves all rounds at once with batched Newton.

Contextual BT (style control)
    logit P(a wins) = ln(10) * (theta_a - theta_b) + x . beta, with x the
    z-scored style differences; loss = summed log loss + 0.25 * ||(theta, beta)||^2
    (LMArena's ``fit_contextual_bt`` with reg=0.5).  Solved by Newton's method;
    the rating block of the design (two nonzeros per row) never materialises:
    its gradient and Hessian blocks are bincounts over the ordered pair index.

Style conventions
    ``fastchat`` (default) is the loss above.  ``arena-rank`` is the default of
    LMArena's current package (arena-rank 0.1.1, ``ContextualBradleyTerry`` on a
    ``ContextualPairDataset`` with ``reweighted=True``):
    mean_i(w_i * logloss_i) + 0.5 * reg * ||beta||^2 with reg = 1.0, the
    ratings unpenalised, and w_i = 1 / max(battles of i's unordered pair, 50)
    divided by its mean over the battles.  Multiplied by the number of battles
    m this is sum_i w_i logloss_i + (m / 2) ||beta||^2, the same minimiser, so
    it runs through the same solver with importance weights w and a penalty
    vector (0 on the ratings, m/2 on the coefficients): see
    :func:`style_convention_setup`.  Its penalty on beta, m / 2 against
    FastChat's 0.25, is 2m times as strong for the same data, which shrinks
    the coefficients strongly on a large arena (about 12x on the simulated
    arena's 20,000 battles).

Uncertainty
    Bootstrap: percentiles 2.5 / 97.5 over resampled fits (fixed seed).
    Sandwich: H^-1 G H^-1 with G the summed outer products of per-battle
    scores (Huber-White), normal interval +-1.96 sigma.
    Model-based: H^-1 (the inverse Fisher information), used as a floor for
    models with very few battles (see :mod:`scoring.leaderboard`).

Several votes on one battle (clusters)
    Votes on the same battle are correlated (voters largely agree), so they
    carry less information than as many independent battles.  Given a cluster
    id per row (``BattleTable.cluster``) the bootstrap resamples whole
    clusters (a cluster bootstrap) and the sandwich sums the scores within a
    cluster before the outer product (cluster-robust, Liang & Zeger 1986), so
    many votes on one battle do not narrow the intervals.  When every row is
    its own cluster this is exactly the per-row estimate, and the per-row
    code runs (the same random draws, the same numbers).

Which models the battles can place
    Maximum-likelihood plain BT ratings exist (are finite) only when the
    comparison graph is strongly connected (Zermelo 1929, Ford 1957): an edge
    loser -> winner for every decisive battle, both ways for a tie or
    both_bad.  :func:`placed_models` finds the models whose rating the battles
    bound (the clearly largest strongly connected component); the rest sit in
    groups that only won or only lost against it and get a rating that is an
    artefact of the tiny ridge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .graph import strong_components
from .logistic import expit

LN10 = math.log(10.0)
SCALE = 400.0
INIT_RATING = 1000.0
PLAIN_RIDGE = 1e-6
STYLE_REG = 0.25
STYLE_CONVENTIONS = ("fastchat", "arena-rank")
ARENA_RANK_REG = 1.0  # arena-rank 0.1.1 ContextualBradleyTerry(reg=1.0)
ARENA_RANK_MIN_PAIR_COUNT = 50  # ContextualPairDataset.from_pandas(min_pair_count=50)
Z95 = 1.959963984540054


def to_points(theta):
    """log10-odds -> rating points (before any anchor shift)."""
    return SCALE * np.asarray(theta) + INIT_RATING


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _laplacian(S: np.ndarray) -> np.ndarray:
    """Pairwise weights S[..., i, j] (ordered, any orientation) -> Laplacian."""
    St = np.swapaxes(S, -1, -2)
    L = -(S + St)
    d = S.sum(-1) + S.sum(-2)
    idx = np.arange(S.shape[-1])
    L[..., idx, idx] += d
    return L


# --------------------------------------------------------------------------
# Plain Bradley-Terry on aggregated pairs
# --------------------------------------------------------------------------


@dataclass
class PairCells:
    """Battles aggregated to (unordered pair, outcome) cells.

    Pairs are (i, j) with i < j; a cell holds the number of battles of that
    pair whose score for i is y (0, 0.5 or 1).  Cells are sorted by pair, so
    ``starts`` splits them into pairs for ``np.add.reduceat``.
    """

    n_models: int
    i: np.ndarray  # (P,)
    j: np.ndarray  # (P,)
    cell_pair: np.ndarray  # (C,)
    cell_y: np.ndarray  # (C,)
    cell_count: np.ndarray  # (C,) float
    starts: np.ndarray  # (P,) first cell of each pair
    n_self: int = 0  # battles of a model against itself (ignored)
    clusters: "CellClusters | None" = None  # None: every battle its own cluster

    @property
    def n_battles(self) -> float:
        return float(self.cell_count.sum())

    def pair_totals(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., C) cell counts -> (..., P) battles and (..., P) scores of i."""
        n = np.add.reduceat(counts, self.starts, axis=-1)
        s = np.add.reduceat(counts * self.cell_y, self.starts, axis=-1)
        return n, s


@dataclass
class CellClusters:
    """How the clusters' rows fall into the cells: one entry per (cluster, cell)."""

    n_clusters: int
    cluster: np.ndarray  # (T,) dense cluster label 0..n_clusters-1
    cell: np.ndarray  # (T,) cell index
    count: np.ndarray  # (T,) float, rows of that cluster in that cell


def cluster_labels(cluster) -> tuple[np.ndarray, int] | None:
    """(dense labels 0..G-1, G), or None when every row is its own cluster.

    None for ``cluster=None`` too: callers then run the per-row estimate,
    which is what a cluster estimate with singleton clusters is.
    """
    if cluster is None:
        return None
    cluster = np.asarray(cluster)
    if cluster.ndim != 1:
        raise ValueError("cluster must be one id per row")
    uniq, labels = np.unique(cluster, return_inverse=True)
    if len(uniq) == len(cluster):
        return None
    return labels.astype(np.int64).ravel(), int(len(uniq))


def cluster_bootstrap_weights(labels: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Row weights of one resample of whole clusters with replacement."""
    times = np.bincount(rng.integers(0, n_clusters, size=n_clusters), minlength=n_clusters)
    return times[labels].astype(np.float64)


def pair_cells(
    a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int, cluster: np.ndarray | None = None
) -> PairCells:
    """Aggregate battles to cells; ``cluster`` (one id per row) keeps which
    battle each row belongs to, for the cluster bootstrap and sandwich."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.float64)
    K = int(n_models)
    self_play = a == b
    n_self = int(self_play.sum())
    swap = a > b
    i = np.where(swap, b, a)
    j = np.where(swap, a, b)
    y2 = np.rint(np.where(swap, 1.0 - outcome, outcome) * 2.0).astype(np.int64)  # 0, 1, 2
    key = (i * K + j) * 3 + y2
    if n_self:
        key = key[~self_play]
    counts = np.bincount(key, minlength=K * K * 3)
    nz = np.flatnonzero(counts)
    pair_key = nz // 3
    upairs, cell_pair = np.unique(pair_key, return_inverse=True)
    starts = np.searchsorted(cell_pair, np.arange(len(upairs)))
    clusters = None
    if cluster is not None:
        cluster = np.asarray(cluster)
        if cluster.shape != a.shape:
            raise ValueError("cluster must have one id per battle")
        labelled = cluster_labels(cluster[~self_play] if n_self else cluster)
        if labelled is not None:
            labels, n_clusters = labelled
            C = len(nz)
            # cells are in ascending key order, so a row's cell is a search away
            joint = labels * C + np.searchsorted(nz, key)
            tc, tcount = np.unique(joint, return_counts=True)
            clusters = CellClusters(n_clusters, tc // C, tc % C, tcount.astype(np.float64))
    return PairCells(
        n_models=K,
        i=(upairs // K).astype(np.int64),
        j=(upairs % K).astype(np.int64),
        cell_pair=cell_pair.astype(np.int64),
        cell_y=(nz % 3) / 2.0,
        cell_count=counts[nz].astype(np.float64),
        starts=starts.astype(np.int64),
        n_self=n_self,
        clusters=clusters,
    )


def _plain_loss(theta, cells: PairCells, n, s, ridge):
    z = LN10 * (theta[:, cells.i] - theta[:, cells.j])
    return (n * _softplus(z) - s * z).sum(-1) + ridge * (theta * theta).sum(-1)


def fit_plain_batched(
    cells: PairCells,
    counts: np.ndarray | None = None,
    ridge: float = PLAIN_RIDGE,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> np.ndarray:
    """Plain BT fits for R count vectors at once.

    counts: (R, C) cell counts (None: the observed counts, R = 1).
    Returns theta (R, K) in log10-odds units, each row mean zero.
    """
    K = cells.n_models
    if counts is None:
        counts = cells.cell_count[None, :]
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    R = counts.shape[0]
    theta = np.zeros((R, K))
    if K == 0 or len(cells.i) == 0:
        return theta
    n, s = cells.pair_totals(counts)
    I, J = cells.i, cells.j
    P = len(I)
    # incidence matrix, pairs x models
    D = np.zeros((P, K))
    D[np.arange(P), I] = 1.0
    D[np.arange(P), J] = -1.0
    eyeK = np.eye(K)
    fix = np.full((K, K), 1.0 / K)  # removes the translation direction
    loss = _plain_loss(theta, cells, n, s, ridge)
    for _ in range(max_iter):
        z = LN10 * (theta[:, I] - theta[:, J])
        p = expit(z)
        grad = LN10 * (n * p - s) @ D + 2.0 * ridge * theta
        w = (LN10 * LN10) * n * p * (1.0 - p)
        S = np.zeros((R, K, K))
        S[:, I, J] = w
        H = _laplacian(S) + 2.0 * ridge * eyeK
        H = H + fix * (np.trace(H, axis1=1, axis2=2) / K + 1e-12)[:, None, None]
        step = -np.linalg.solve(H, grad[..., None])[..., 0]
        step -= step.mean(-1, keepdims=True)
        t = np.ones(R)
        for _ls in range(40):
            cand = theta + t[:, None] * step
            new_loss = _plain_loss(cand, cells, n, s, ridge)
            bad = new_loss > loss + 1e-12 * np.abs(loss)
            if not bad.any():
                break
            t = np.where(bad, t * 0.5, t)
        theta = cand
        loss = new_loss
        # stop on a small step, or when the Newton decrement (the predicted
        # loss reduction) is at the level of rounding: directions with almost
        # no curvature (a model absent from a resample) keep jittering
        decrement = -(grad * step).sum(-1)
        if np.max(np.abs(t[:, None] * step)) < tol or np.all(decrement <= 1e-12 * (1.0 + np.abs(loss))):
            break
    return theta


def _plain_curvature(cells: PairCells, theta: np.ndarray, ridge: float):
    """Per-pair win probabilities p and the Hessian H of the plain fit."""
    K = cells.n_models
    I, J = cells.i, cells.j
    n, _ = cells.pair_totals(cells.cell_count)
    p = expit(LN10 * (theta[I] - theta[J]))
    S = np.zeros((K, K))
    S[I, J] = (LN10 * LN10) * n * p * (1.0 - p)
    H = _laplacian(S) + 2.0 * ridge * np.eye(K)
    return p, H


def _mean_zero_inverse(H: np.ndarray) -> np.ndarray:
    """Inverse of H on the mean-zero subspace (ratings are identified up to a constant)."""
    K = H.shape[0]
    return np.linalg.inv(H + np.full((K, K), 1.0 / K))


def plain_sandwich_cov(cells: PairCells, theta: np.ndarray, ridge: float = PLAIN_RIDGE) -> np.ndarray:
    """Huber-White covariance of theta (log10 units, K x K) for the plain fit.

    With ``cells.clusters`` the scores are summed within each cluster first
    (cluster-robust sandwich).
    """
    K = cells.n_models
    theta = np.asarray(theta).ravel()
    if len(cells.i) == 0:
        return np.zeros((K, K))
    p, H = _plain_curvature(cells, theta, ridge)
    A = _mean_zero_inverse(H)
    if cells.clusters is not None:
        return A @ _clustered_plain_meat(cells, p) @ A
    # per-battle score variance, summed per pair: count * (y - p)^2
    r2 = cells.cell_count * (cells.cell_y - p[cells.cell_pair]) ** 2
    S = np.zeros((K, K))
    S[cells.i, cells.j] = (LN10 * LN10) * np.add.reduceat(r2, cells.starts)
    return A @ _laplacian(S) @ A


def _clustered_plain_meat(cells: PairCells, p: np.ndarray) -> np.ndarray:
    """sum over clusters of s_g s_g^T, s_g = the cluster's summed score over models."""
    from scipy.sparse import csr_matrix

    cc = cells.clusters
    K = cells.n_models
    pair = cells.cell_pair[cc.cell]
    # a row in cell (i, j, y) scores ln10 (y - p_ij) (e_i - e_j)
    r = LN10 * cc.count * (cells.cell_y[cc.cell] - p[pair])
    U = csr_matrix(
        (np.concatenate([r, -r]), (np.tile(cc.cluster, 2), np.concatenate([cells.i[pair], cells.j[pair]]))),
        shape=(cc.n_clusters, K),
    )
    return (U.T @ U).toarray()


def plain_model_cov(cells: PairCells, theta: np.ndarray, ridge: float = PLAIN_RIDGE) -> np.ndarray:
    """Model-based covariance H^-1 (inverse Fisher information, log10 units, K x K).

    Unlike the sandwich it does not shrink to zero when the residuals happen
    to vanish (one tie between two equal models has y = p = 0.5).
    """
    K = cells.n_models
    theta = np.asarray(theta).ravel()
    if len(cells.i) == 0:
        return np.zeros((K, K))
    _, H = _plain_curvature(cells, theta, ridge)
    A = _mean_zero_inverse(H)
    return A @ H @ A


def placed_models(cells: PairCells) -> np.ndarray:
    """bool (K,): the models whose plain BT rating the battles bound.

    Graph: an edge loser -> winner for each pair in which the winner scored
    (a win, or half a win from a tie / both_bad; a tie thus links both ways).
    Placed = the models of the largest strongly connected component.  When
    no component is clearly the largest (two or more share the largest size,
    or every component is a single model, e.g. two models and one decisive
    battle) no model is placed.  A strongly connected graph places every
    model that has a battle; models without battles are never placed.
    Runs on the aggregated pairs, so it costs O(pairs).
    """
    K = cells.n_models
    placed = np.zeros(K, dtype=bool)
    I, J = cells.i, cells.j
    if K == 0 or len(I) == 0:
        return placed
    n, s = cells.pair_totals(cells.cell_count)
    i_scored = s > 0  # i won (or drew) against j at least once: edge j -> i
    j_scored = s < n  # edge i -> j
    src = np.concatenate([J[i_scored], I[j_scored]])
    dst = np.concatenate([I[i_scored], J[j_scored]])
    labels = strong_components(K, src, dst)
    present = np.zeros(K, dtype=bool)
    present[I] = True
    present[J] = True
    sizes = np.bincount(labels[present], minlength=int(labels.max()) + 1)
    largest = int(sizes.max())
    if largest < 2 or int((sizes == largest).sum()) > 1:
        return placed
    return present & (labels == int(sizes.argmax()))


def plain_bootstrap_counts(cells: PairCells, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial resample of the cell counts = resample of battles with replacement.

    With ``cells.clusters``: each round draws how often each cluster is taken
    (whole clusters with replacement) and adds its rows into the cells.
    """
    cc = cells.clusters
    if cc is not None:
        C = len(cells.cell_count)
        out = np.empty((rounds, C))
        for r in range(rounds):
            times = np.bincount(rng.integers(0, cc.n_clusters, size=cc.n_clusters), minlength=cc.n_clusters)
            out[r] = np.bincount(cc.cell, weights=times[cc.cluster] * cc.count, minlength=C)
        return out
    total = int(round(cells.n_battles))
    pvals = cells.cell_count / cells.cell_count.sum()
    return rng.multinomial(total, pvals, size=rounds).astype(np.float64)


# --------------------------------------------------------------------------
# Style features
# --------------------------------------------------------------------------


@dataclass
class StyleDesign:
    """z-scored style differences for the battles that have all used features."""

    features: list[str]  # names of used columns
    columns: list[int]  # their indices in STYLE_FEATURES
    keep: np.ndarray  # bool (n,), battles in the style fit
    Xt: np.ndarray  # (F, m) z-scored, feature-major (contiguous rows)
    mean: np.ndarray  # (F,) of the raw ratio
    std: np.ndarray  # (F,) of the raw ratio (0 -> constant column, left at 0)
    n_missing: int  # battles left out because a used feature is NaN

    @property
    def X(self) -> np.ndarray:
        """(m, F) view."""
        return self.Xt.T


def style_design(features_a: np.ndarray, features_b: np.ndarray, names) -> StyleDesign | None:
    """d_f = (f_a - f_b) / (f_a + f_b + 1), z-scored over the kept battles.

    A feature unknown for every battle is dropped from the model; a battle
    with any used feature unknown (NaN on either side) is left out and
    counted in ``n_missing``.  Returns None when no feature is known at all.
    Works column by column on contiguous copies: reductions along axis 0 of
    an (n, 5) array are several times slower.
    """
    fa = np.asarray(features_a, dtype=np.float64)
    fb = np.asarray(features_b, dtype=np.float64)
    n = fa.shape[0]
    fat = np.ascontiguousarray(fa.T)
    fbt = np.ascontiguousarray(fb.T)
    known = np.isfinite(fat)
    known &= np.isfinite(fbt)
    cols = [c for c in range(fat.shape[0]) if known[c].any()]
    if not cols:
        return None
    keep = np.logical_and.reduce(known[cols], axis=0) if len(cols) > 1 else known[cols[0]].copy()
    all_kept = bool(keep.all())
    m = n if all_kept else int(keep.sum())
    Xt = np.empty((len(cols), m))
    mean = np.zeros(len(cols))
    std = np.zeros(len(cols))
    for k, c in enumerate(cols):
        x = fat[c] if all_kept else fat[c][keep]
        y = fbt[c] if all_kept else fbt[c][keep]
        if m and (x.min() < 0 or y.min() < 0):
            raise ValueError("style features must be non-negative counts")
        d = Xt[k]
        np.subtract(x, y, out=d)
        d /= x + y + 1.0
        if m:
            mean[k] = d.mean()
            d -= mean[k]
            std[k] = math.sqrt(float(d @ d) / m)
        if std[k] > 0:
            d /= std[k]
        else:
            d[:] = 0.0
    return StyleDesign(
        features=[names[c] for c in cols],
        columns=cols,
        keep=keep,
        Xt=Xt,
        mean=mean,
        std=std,
        n_missing=int(n - m),
    )


# --------------------------------------------------------------------------
# Contextual Bradley-Terry on battle rows
# --------------------------------------------------------------------------


@dataclass
class Rows:
    """Battle rows for a contextual fit (optionally weighted cells).

    ``Xt`` is feature-major, shape (F, m); F may be 0.
    """

    n_models: int
    a: np.ndarray
    b: np.ndarray
    y: np.ndarray
    Xt: np.ndarray
    weight: np.ndarray | None = None  # frequency weights (cells); None = 1
    pid: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        K = self.n_models
        self.a = np.asarray(self.a, dtype=np.int64)
        self.b = np.asarray(self.b, dtype=np.int64)
        self.y = np.asarray(self.y, dtype=np.float64)
        self.Xt = np.ascontiguousarray(np.asarray(self.Xt, dtype=np.float64).reshape(-1, len(self.a)))
        self.pid = self.a * K + self.b

    @property
    def n_features(self) -> int:
        return self.Xt.shape[0]

    @property
    def n_obs(self) -> float:
        return float(len(self.a) if self.weight is None else self.weight.sum())


class _ContextualProblem:
    """Loss, gradient and Hessian of sum_i c_i logloss_i + sum_k reg_k theta_k^2.

    ``reg`` is one number for every parameter or a vector of K + F (a
    convention may leave the ratings unpenalised).
    """

    def __init__(self, rows: Rows, reg, weight: np.ndarray | None):
        self.rows = rows
        self.reg = reg if np.isscalar(reg) else np.asarray(reg, dtype=np.float64)
        if weight is None:
            weight = rows.weight
        elif rows.weight is not None:
            weight = weight * rows.weight
        self.c = weight
        self.K = rows.n_models
        self.F = rows.n_features
        self.KK = self.K * self.K

    def logits(self, theta: np.ndarray) -> np.ndarray:
        K = self.K
        r = theta[:K]
        diff = (LN10 * (r[:, None] - r[None, :])).ravel()
        z = diff[self.rows.pid]
        if self.F:
            z += theta[K:] @ self.rows.Xt
        return z

    def loss(self, z: np.ndarray, theta: np.ndarray) -> float:
        ll = _softplus(z)
        ll -= self.rows.y * z
        ll = ll.sum() if self.c is None else ll @ self.c
        return float(ll + (self.reg * theta) @ theta)

    def _pair_matrix(self, v: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows.pid, weights=v, minlength=self.KK).reshape(self.K, self.K)

    def _assemble(self, v: np.ndarray) -> np.ndarray:
        """sum_i v_i x_i x_i^T, x_i = (ln10 (e_a - e_b), style_i)."""
        K, F = self.K, self.F
        M = np.zeros((K + F, K + F))
        M[:K, :K] = (LN10 * LN10) * _laplacian(self._pair_matrix(v))
        if F:
            Xt = self.rows.Xt
            Xv = Xt * v
            M[K:, K:] = Xv @ Xt.T
            for f in range(F):
                P = self._pair_matrix(Xv[f])
                M[:K, K + f] = LN10 * (P.sum(1) - P.sum(0))
            M[K:, :K] = M[:K, K:].T
        return M

    def grad(self, z: np.ndarray, theta: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        K = self.K
        if p is None:
            p = expit(z)
        e = p - self.rows.y
        if self.c is not None:
            e *= self.c
        g = np.empty(K + self.F)
        E = self._pair_matrix(e)
        g[:K] = LN10 * (E.sum(1) - E.sum(0))
        if self.F:
            g[K:] = self.rows.Xt @ e
        g += 2.0 * self.reg * theta
        return g

    def hess(self, z: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        if p is None:
            p = expit(z)
        w = p * (1.0 - p)
        if self.c is not None:
            w *= self.c
        H = self._assemble(w)
        H[np.diag_indices_from(H)] += 2.0 * self.reg
        return H

    def solver(self, H: np.ndarray) -> np.ndarray:
        """Inverse of H with the ratings' translation direction lifted.

        (1, 0) is an eigenvector of H (eigenvalue 2 reg of the ratings) and the gradient has
        no component along it once the ratings are centred, so adding
        s 11^T/K to the rating block changes nothing else.
        """
        K = self.K
        A = H.copy()
        if K:
            A[:K, :K] += np.trace(H[:K, :K]) / K / K + 1e-12
        return np.linalg.inv(A)


def fit_contextual(
    rows: Rows,
    reg=STYLE_REG,
    weight: np.ndarray | None = None,
    theta0: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 200,
    hessian: np.ndarray | None = None,
    p0: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Penalised contextual BT by Newton's method.

    Minimises sum_i c_i * logloss_i + reg * ||theta||^2, theta = (ratings in
    log10 units, style coefficients in natural log-odds per unit of x).
    Returns (theta, iterations); ratings come back mean-zero (exact for
    reg > 0; the normalisation for reg = 0).

    Far from the optimum (a step above 0.05) the step is damped by a line
    search on the loss.  Close to it the Hessian is frozen and only the
    gradient is recomputed (one gather, one sigmoid, one bincount and one
    matrix-vector product per iteration): convergence stays fast because the
    Hessian barely changes there, and it is refreshed if a step fails to
    shrink.  ``hessian``: a Hessian to start frozen with (the full-data
    Hessian for bootstrap refits); ``p0``: the win probabilities at
    ``theta0`` if already known.

    Stops when a step is below ``tol`` or when the error left after it,
    estimated from the contraction of successive steps as
    size * rho / (1 - rho) with rho = size / previous size, is below ``tol``.
    """
    prob = _ContextualProblem(rows, reg, weight)
    K, F = prob.K, prob.F
    theta = np.zeros(K + F) if theta0 is None else np.array(theta0, dtype=np.float64)
    if K:
        theta[:K] -= theta[:K].mean()
    if len(rows.a) == 0:
        return theta, 0
    z: np.ndarray | None = None
    loss: float | None = None
    inv = None if hessian is None else prob.solver(hessian)
    prev = math.inf
    it = 0
    for it in range(1, max_iter + 1):
        if it == 1 and p0 is not None:
            p = p0
        else:
            if z is None:
                z = prob.logits(theta)
            p = expit(z)
        grad = prob.grad(z, theta, p)
        if inv is None:
            inv = prob.solver(prob.hess(z, p))
        step = -(inv @ grad)
        if K:
            step[:K] -= step[:K].mean()
        size = float(np.max(np.abs(step)))
        decrement = float(-(grad @ step))
        if size > 0.05:
            # far away: damped Newton on a fresh Hessian
            if z is None:
                z = prob.logits(theta)
            if loss is None:
                loss = prob.loss(z, theta)
            t = 1.0
            for _ls in range(50):
                cand = theta + t * step
                zc = prob.logits(cand)
                new_loss = prob.loss(zc, cand)
                if new_loss <= loss + 1e-12 * abs(loss):
                    break
                t *= 0.5
            theta, z, loss = cand, zc, new_loss
            size *= t
            inv = None
        else:
            theta = theta + step
            z = None
            loss = None
            # keep the Hessian frozen while steps shrink fast (4x or more per
            # iteration); refresh it otherwise
            if size > 0.25 * prev:
                inv = None
        left = size * size / (prev - size) if size < prev < math.inf else math.inf
        prev = size if inv is not None else math.inf  # contraction of frozen-Hessian steps only
        if size < tol or left < tol or decrement <= 1e-13 * (1.0 + len(rows.a)):
            break
    return theta, it


def contextual_sandwich_cov(
    rows: Rows, theta: np.ndarray, reg=STYLE_REG, weight: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
) -> np.ndarray:
    """Huber-White covariance H^-1 G H^-1 of (ratings log10, coefficients).

    G sums the outer products of the per-battle scores, corrected for the
    penalty's share of the score (sum_i psi_i = 0 at the optimum).
    ``weight``: importance weights of the battles (a convention's), which
    scale each battle's score, so they enter G squared; ``rows.weight`` are
    frequency weights (a battle counted c times) and enter G once.
    ``cluster`` (one id per row): the scores are summed within each cluster
    before the outer product, and the penalty's share is spread over the
    clusters.
    """
    prob = _ContextualProblem(rows, reg, weight)
    z = prob.logits(theta)
    p = expit(z)
    H = prob.hess(z, p)
    pen = 2.0 * prob.reg * theta
    labelled = _row_clusters(rows, cluster)
    if labelled is None:
        v = (rows.y - p) ** 2
        if rows.weight is not None:
            v *= rows.weight
        if weight is not None:
            v *= weight * weight
        G = prob._assemble(v)
        G -= np.outer(pen, pen) / max(rows.n_obs, 1.0)
    else:
        labels, n_clusters = labelled
        G = _clustered_contextual_meat(prob, p, labels, n_clusters)
        G -= np.outer(pen, pen) / n_clusters
    A = prob.solver(H)
    return A @ G @ A


def _row_clusters(rows: Rows, cluster) -> tuple[np.ndarray, int] | None:
    if cluster is not None and np.shape(cluster) != rows.a.shape:
        raise ValueError("cluster must have one id per row")
    return cluster_labels(cluster)


def _clustered_contextual_meat(prob: "_ContextualProblem", p: np.ndarray, labels: np.ndarray, n_clusters: int):
    """sum over clusters of s_g s_g^T, s_g the summed scores w_i (y - p) x_i of its rows."""
    from scipy.sparse import csr_matrix

    rows = prob.rows
    K, F = prob.K, prob.F
    n = len(rows.a)
    e = rows.y - p
    if prob.c is not None:  # frequency times importance weight: each row's score, once per copy
        e = e * prob.c
    # x_i = (ln10 (e_a - e_b), style_i): 2 + F nonzeros per row
    data = [LN10 * e, -LN10 * e] + [rows.Xt[f] * e for f in range(F)]
    cols = [rows.a, rows.b] + [np.full(n, K + f) for f in range(F)]
    U = csr_matrix(
        (np.concatenate(data), (np.tile(labels, 2 + F), np.concatenate(cols))), shape=(n_clusters, K + F)
    )
    return (U.T @ U).toarray()


def arena_rank_weights(a: np.ndarray, b: np.ndarray, n_models: int,
                       min_pair_count: int = ARENA_RANK_MIN_PAIR_COUNT) -> np.ndarray:
    """arena-rank's inverse-propensity weights: 1 / max(battles of the unordered
    pair, min_pair_count) per battle, divided by their mean."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if len(a) == 0:
        return np.zeros(0)
    pair = np.minimum(a, b) * n_models + np.maximum(a, b)
    counts = np.bincount(pair, minlength=n_models * n_models)[pair].astype(np.float64)
    w = 1.0 / np.maximum(counts, min_pair_count)
    return w / w.mean()


def style_convention_setup(convention: str, rows: Rows):
    """(reg, weight) for :func:`fit_contextual` and the interval functions.

    ``fastchat``: (STYLE_REG, None).  ``arena-rank``: importance weights from
    :func:`arena_rank_weights` and a penalty of m * reg / 2 on each style
    coefficient (m = battles in the fit) and none on the ratings, the summed
    form of arena-rank's mean loss (see the module docstring).
    """
    if convention == "fastchat":
        return STYLE_REG, None
    if convention != "arena-rank":
        raise ValueError(f"style convention must be one of {STYLE_CONVENTIONS}, got {convention!r}")
    K, F = rows.n_models, rows.n_features
    reg = np.zeros(K + F)
    reg[K:] = 0.5 * ARENA_RANK_REG * len(rows.a)
    return reg, arena_rank_weights(rows.a, rows.b, K)


def bootstrap_weights(n: int, rng: np.random.Generator) -> np.ndarray:
    """Counts of each row in one resample of n rows with replacement."""
    return np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)


def fit_contextual_bootstrap(
    rows: Rows,
    theta_hat: np.ndarray,
    rounds: int,
    rng: np.random.Generator,
    reg=STYLE_REG,
    tol: float = 1e-5,
    weight: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
) -> np.ndarray:
    """(rounds, K + F) refits on battle resamples.

    ``cluster`` (one id per row): resample whole clusters instead of rows.

    Each round starts at the full-data fit with the full-data Hessian frozen
    (a resample's Hessian differs from it by O(1/sqrt(n))), so a round costs a
    few gradient evaluations, the first of them at the shared starting point.
    Each iteration shrinks the error ~50-100x on arena-sized data, so the
    estimated remaining error drops below ``tol`` = 1e-5 log10 units
    (0.004 points, against interval widths of several points) after
    typically two iterations.  ``weight``: a convention's importance weights;
    a resampled battle keeps its weight and the penalty stays that of the full
    data (arena-rank's bootstrap does the same).
    """
    out = np.empty((rounds, len(theta_hat)))
    n = len(rows.a)
    prob = _ContextualProblem(rows, reg, weight)
    z_hat = prob.logits(theta_hat)
    p_hat = expit(z_hat)
    H = prob.hess(z_hat, p_hat)
    labelled = _row_clusters(rows, cluster)
    for r in range(rounds):
        c = bootstrap_weights(n, rng) if labelled is None else cluster_bootstrap_weights(*labelled, rng)
        if weight is not None:
            c = c * weight
        out[r], _ = fit_contextual(rows, reg=reg, weight=c, theta0=theta_hat, tol=tol, hessian=H, p0=p_hat)
    return out


def percentile_interval(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.percentile(samples, [2.5, 97.5], axis=axis)
    return lo, hi


def rank_from_intervals(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """1 + number of models whose lower bound is above this model's upper bound."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return 1 + (lo[None, :] > hi[:, None]).sum(axis=1)
