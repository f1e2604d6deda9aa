"""Baselines for the quality benchmark: fitted on a split's train events, scored on its test pairs.

Ratings: global mean; regularised user + item biases (alternating closed-form updates; users unseen in
training are folded in from their visible context events with the item biases fixed); scikit-surprise SVD
tuned on a validation split carved from train (unknown users/items fall back as surprise does: global mean
plus whichever biases are known).

Purchases: item popularity (train purchase count); implicit-feedback ALS matrix factorisation (Hu, Koren &
Volinsky 2008) from the `implicit` package when it is installed, else the same model in numpy. Users unseen
in training get factors recomputed from their visible context purchases with the item factors fixed (the
standard ALS fold-in); unknown items score 0.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

SVD_GRID: dict[str, tuple] = {
    "n_factors": (20, 100),
    "reg_all": (0.02, 0.1),
    "lr_all": (0.005, 0.01),
    "n_epochs": (20, 40),
}
ALS_GRID: dict[str, tuple] = {"factors": (32, 64), "regularization": (0.01, 0.1), "alpha": (1.0, 10.0, 40.0)}


# --- metrics ------------------------------------------------------------------------------------------


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error."""
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y), np.asarray(score, dtype=np.float64)))


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities (clipped to [eps, 1 - eps])."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gain(metric: str, uvp: float, mf: float) -> float:
    """UVP's gain over MF: relative RMSE reduction (metric "rmse") or AUC difference (metric "auc")."""
    return (mf - uvp) / mf if metric == "rmse" else uvp - mf


def clustered_gain_interval(
    y: np.ndarray, uvp: np.ndarray, mf: np.ndarray, users: np.ndarray, metric: str,
    resamples: int = 1000, level: float = 0.95, seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Percentile interval of `gain` under a paired bootstrap that resamples users (Poisson(1) weight per user).

    Both methods are scored on each replicate's same weighted rows. Users, not rows, are resampled: one user's
    test rows share that user's errors (a rater who rates low misses on all of them), so a row bootstrap would
    read a split of 92 users as if it held 11,490 independent ratings."""
    from sklearn.metrics import roc_auc_score

    y, uvp, mf = (np.asarray(a, dtype=np.float64) for a in (y, uvp, mf))
    codes = pd.factorize(np.asarray(users, dtype=object))[0]
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for b in range(resamples):
        w = rng.poisson(1.0, codes.max() + 1)[codes].astype(np.float64)
        if metric == "rmse":
            total = w.sum()
            a, m = (np.sqrt(np.sum(w * (y - p) ** 2) / total) for p in (uvp, mf))
        else:
            keep = w > 0
            a, m = (roc_auc_score(y[keep], p[keep], sample_weight=w[keep]) for p in (uvp, mf))
        out[b] = gain(metric, a, m)
    tail = 100 * (1 - level) / 2
    return float(np.percentile(out, tail)), float(np.percentile(out, 100 - tail))


def _codes(index: pd.Index, values: Iterable) -> np.ndarray:
    """Positions of values in an index (-1 when absent)."""
    return index.get_indexer(
        np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=object)
    )


# --- ratings ------------------------------------------------------------------------------------------


@dataclass
class GlobalMean:
    """Predicts the training mean for every pair."""

    mean: float = 0.0

    def fit(self, users: Sequence, items: Sequence, y: np.ndarray) -> GlobalMean:
        """Store the mean rating."""
        self.mean = float(np.mean(y))
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """The mean, once per pair."""
        return np.full(len(users), self.mean)


@dataclass
class UserItemBias:
    """mu + b_user + b_item with L2 penalty `reg`, fitted by alternating closed-form updates (items first)."""

    reg: float = 5.0
    iterations: int = 15
    mu: float = 0.0
    users: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    items: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    bu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, users: Sequence, items: Sequence, y: np.ndarray) -> UserItemBias:
        """Alternate b_item = sum(r - mu - b_u) / (n_i + reg) and b_user = sum(r - mu - b_i) / (n_u + reg)."""
        y = np.asarray(y, dtype=np.float64)
        self.mu = float(y.mean())
        uu, u = np.unique(np.asarray(users, dtype=object), return_inverse=True)
        ii, i = np.unique(np.asarray(items, dtype=object), return_inverse=True)
        self.users, self.items = pd.Index(uu, dtype=object), pd.Index(ii, dtype=object)
        bu, bi = np.zeros(len(uu)), np.zeros(len(ii))
        for _ in range(self.iterations):
            bi = np.bincount(i, y - self.mu - bu[u], len(ii)) / (np.bincount(i, minlength=len(ii)) + self.reg)
            bu = np.bincount(u, y - self.mu - bi[i], len(uu)) / (np.bincount(u, minlength=len(uu)) + self.reg)
        self.bu, self.bi = bu, bi
        return self

    def fold_in(self, users: Sequence, items: Sequence, y: np.ndarray) -> UserItemBias:
        """Add users unseen in fit from their events: b_user = sum(r - mu - b_i) / (n + reg), items fixed."""
        users = np.asarray(users, dtype=object)
        new = _codes(self.users, users) < 0
        if not new.any():
            return self
        nu, u = np.unique(users[new], return_inverse=True)
        pi = _codes(self.items, np.asarray(items, dtype=object)[new])
        bi = np.where(pi >= 0, self.bi[np.maximum(pi, 0)], 0.0)
        resid = np.asarray(y, dtype=np.float64)[new] - self.mu - bi
        extra = np.bincount(u, resid, len(nu)) / (np.bincount(u, minlength=len(nu)) + self.reg)
        self.users = self.users.append(pd.Index(nu, dtype=object))
        self.bu = np.concatenate([self.bu, extra])
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """mu plus whichever biases are known."""
        pu, pi = _codes(self.users, users), _codes(self.items, items)
        bu = np.where(pu >= 0, self.bu[np.maximum(pu, 0)] if len(self.bu) else 0.0, 0.0)
        bi = np.where(pi >= 0, self.bi[np.maximum(pi, 0)] if len(self.bi) else 0.0, 0.0)
        return self.mu + bu + bi


@dataclass
class TunedSVD:
    """scikit-surprise SVD with the grid point of lowest validation RMSE, refitted on all training rows."""

    grid: dict[str, tuple] = field(default_factory=lambda: dict(SVD_GRID))
    val_fraction: float = 0.1
    seed: int = 0
    best: dict = field(default_factory=dict)
    scores: list[dict] = field(default_factory=list)  # every grid point with its validation RMSE
    algo: object = None

    def fit(self, users: Sequence, items: Sequence, y: np.ndarray) -> TunedSVD:
        """Grid search on a seeded random validation split of the rows, then refit the best on all rows."""
        frame = pd.DataFrame(
            {
                "user": np.asarray(users, dtype=object),
                "item": np.asarray(items, dtype=object),
                "y": np.asarray(y, float),
            }
        )
        scale = (float(frame["y"].min()), float(frame["y"].max()))
        held = np.random.default_rng(self.seed).random(len(frame)) < self.val_fraction
        fit_rows, val_rows = frame.loc[~held], frame.loc[held]
        self.scores = []
        keys = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in keys)):
            params = dict(zip(keys, values, strict=True))
            algo = _svd(fit_rows, scale, params, self.seed)
            score = rmse(val_rows["y"].to_numpy(), _svd_predict(algo, val_rows["user"], val_rows["item"]))
            self.scores.append({**params, "val_rmse": score})
        self.best = min(self.scores, key=lambda s: s["val_rmse"]) if self.scores else {}
        params = {k: v for k, v in self.best.items() if k != "val_rmse"}
        self.algo = _svd(frame, scale, params, self.seed)
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """surprise's estimates (unknown users/items: global mean + the known biases), clipped to the scale."""
        return _svd_predict(self.algo, users, items)


def _svd(frame: pd.DataFrame, scale: tuple[float, float], params: dict, seed: int):
    """A fitted surprise SVD on (user, item, y) rows."""
    from surprise import SVD, Reader
    from surprise import Dataset as SurpriseDataset

    data = SurpriseDataset.load_from_df(frame[["user", "item", "y"]], Reader(rating_scale=scale))
    algo = SVD(random_state=seed, **params)
    algo.fit(data.build_full_trainset())
    return algo


def _svd_predict(algo, users: Sequence, items: Sequence) -> np.ndarray:
    """surprise predictions for (user, item) pairs."""
    return np.array([algo.predict(u, i).est for u, i in zip(users, items, strict=True)], dtype=np.float64)


# --- purchases ----------------------------------------------------------------------------------------


@dataclass
class Popularity:
    """Scores an item by its number of training purchases (0 for unseen items)."""

    counts: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.float64))

    def fit(self, users: Sequence, items: Sequence) -> Popularity:
        """Count purchases per item."""
        self.counts = pd.Series(np.asarray(items, dtype=object)).value_counts().astype(np.float64)
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """The item's count."""
        return self.counts.reindex(pd.Index(np.asarray(items, dtype=object))).fillna(0.0).to_numpy(np.float64)


def _confidence(
    users: np.ndarray, items: np.ndarray, user_index: pd.Index, item_index: pd.Index
) -> sparse.csr_matrix:
    """User x item purchase counts (rows/cols absent from the indexes are skipped)."""
    u, i = _codes(user_index, users), _codes(item_index, items)
    ok = (u >= 0) & (i >= 0)
    return sparse.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.float32), (u[ok], i[ok])), shape=(len(user_index), len(item_index))
    )


def als_solve(counts: sparse.csr_matrix, fixed: np.ndarray, reg: float, alpha: float) -> np.ndarray:
    """Rows' factors given the other side's: (F'F + F'(C-I)F + reg I)^-1 F'Cp; C = alpha * count where bought, else 1.

    The confidence convention is `implicit`'s (its AlternatingLeastSquares scales the matrix by alpha).
    """
    k = fixed.shape[1]
    gram = fixed.T @ fixed + reg * np.eye(k)
    out = np.zeros((counts.shape[0], k))
    for row in range(counts.shape[0]):
        start, end = counts.indptr[row], counts.indptr[row + 1]
        if start == end:
            continue
        cols, conf = counts.indices[start:end], alpha * counts.data[start:end]
        f = fixed[cols]
        out[row] = np.linalg.solve(gram + (f.T * (conf - 1.0)) @ f, f.T @ conf)
    return out


@dataclass
class ImplicitALS:
    """Implicit-feedback ALS: `implicit`'s AlternatingLeastSquares when importable, else numpy (`als_solve`)."""

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0
    backend: str = "auto"  # "auto" | "implicit" | "numpy"
    users: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    items: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    user_factors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    item_factors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _model: object = None

    def __post_init__(self) -> None:
        if self.backend == "auto":
            self.backend = "implicit" if _has_implicit() else "numpy"

    def fit(self, users: Sequence, items: Sequence) -> ImplicitALS:
        """Factorise the user x item purchase-count matrix."""
        users, items = np.asarray(users, dtype=object), np.asarray(items, dtype=object)
        self.users = pd.Index(np.unique(users), dtype=object)
        self.items = pd.Index(np.unique(items), dtype=object)
        counts = _confidence(users, items, self.users, self.items)
        if self.backend == "implicit":
            from implicit.cpu.als import AlternatingLeastSquares

            with threadpool_limits(1, "blas"):  # implicit parallelises itself; a BLAS pool on top thrashes
                model = AlternatingLeastSquares(
                    factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                    iterations=self.iterations, random_state=self.seed, num_threads=2,
                )  # fmt: skip
                model.fit(counts, show_progress=False)
            self._model = model
            self.user_factors = np.asarray(model.user_factors, dtype=np.float64)
            self.item_factors = np.asarray(model.item_factors, dtype=np.float64)
            return self
        rng = np.random.default_rng(self.seed)
        self.user_factors = rng.normal(0, 0.01, (len(self.users), self.factors))
        self.item_factors = rng.normal(0, 0.01, (len(self.items), self.factors))
        transposed = counts.T.tocsr()
        for _ in range(self.iterations):
            self.user_factors = als_solve(counts, self.item_factors, self.regularization, self.alpha)
            self.item_factors = als_solve(transposed, self.user_factors, self.regularization, self.alpha)
        return self

    def fold_in(self, users: Sequence, items: Sequence) -> ImplicitALS:
        """Add users unseen in fit, factors solved from their purchases with the item factors fixed."""
        users, items = np.asarray(users, dtype=object), np.asarray(items, dtype=object)
        new = _codes(self.users, users) < 0
        if not new.any():
            return self
        index = pd.Index(np.unique(users[new]), dtype=object)
        counts = _confidence(users[new], items[new], index, self.items)
        if self.backend == "implicit":
            with threadpool_limits(1, "blas"):
                factors = self._model.recalculate_user(np.arange(len(index)), counts)
            factors = np.asarray(factors, dtype=np.float64).reshape(len(index), -1)
        else:
            factors = als_solve(counts, self.item_factors, self.regularization, self.alpha)
        self.users = self.users.append(index)
        self.user_factors = np.vstack([self.user_factors, factors])
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """Dot products of user and item factors (0 when either is unknown)."""
        pu, pi = _codes(self.users, users), _codes(self.items, items)
        ok = (pu >= 0) & (pi >= 0)
        out = np.zeros(len(pu))
        out[ok] = np.einsum("nk,nk->n", self.user_factors[pu[ok]], self.item_factors[pi[ok]])
        return out


def _has_implicit() -> bool:
    """Whether the `implicit` package imports."""
    try:
        import implicit.cpu.als  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class TunedALS:
    """ImplicitALS with the grid point of best validation AUC (held-out train purchases vs sampled items)."""

    grid: dict[str, tuple] = field(default_factory=lambda: dict(ALS_GRID))
    val_fraction: float = 0.1
    seed: int = 0
    backend: str = "auto"
    best: dict = field(default_factory=dict)
    scores: list[dict] = field(default_factory=list)
    model: ImplicitALS | None = None

    def fit(self, users: Sequence, items: Sequence) -> TunedALS:
        """Grid search on a seeded random hold-out of distinct train pairs (1 sampled negative each), then refit."""
        users, items = np.asarray(users, dtype=object), np.asarray(items, dtype=object)
        rng = np.random.default_rng(self.seed)
        pairs = pd.DataFrame({"u": users, "i": items}).drop_duplicates()
        held_pairs = pairs.loc[rng.random(len(pairs)) < self.val_fraction]
        key = pd.Series(users) + "\x1f" + pd.Series(items)
        held = key.isin(set(held_pairs["u"] + "\x1f" + held_pairs["i"])).to_numpy()
        catalogue = np.unique(items)
        seen = set(key)
        neg_items = catalogue[rng.integers(0, len(catalogue), len(held_pairs))]
        keep_neg = np.array(
            [f"{u}\x1f{i}" not in seen for u, i in zip(held_pairs["u"], neg_items, strict=True)], bool
        )
        val_u = np.concatenate([held_pairs["u"].to_numpy(object), held_pairs["u"].to_numpy(object)[keep_neg]])
        val_i = np.concatenate([held_pairs["i"].to_numpy(object), neg_items[keep_neg]])
        val_y = np.concatenate([np.ones(len(held_pairs)), np.zeros(int(keep_neg.sum()))])
        self.scores = []
        keys = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in keys)):
            params = dict(zip(keys, values, strict=True))
            model = ImplicitALS(seed=self.seed, backend=self.backend, **params).fit(
                users[~held], items[~held]
            )
            score = auc(val_y, model.predict(val_u, val_i)) if 0 < val_y.sum() < len(val_y) else float("nan")
            self.scores.append({**params, "val_auc": score})
        self.best = max(self.scores, key=lambda s: -np.inf if np.isnan(s["val_auc"]) else s["val_auc"])
        params = {k: v for k, v in self.best.items() if k != "val_auc"}
        self.model = ImplicitALS(seed=self.seed, backend=self.backend, **params).fit(users, items)
        return self

    def fold_in(self, users: Sequence, items: Sequence) -> TunedALS:
        """See ImplicitALS.fold_in."""
        self.model.fold_in(users, items)
        return self

    def predict(self, users: Sequence, items: Sequence) -> np.ndarray:
        """See ImplicitALS.predict."""
        return self.model.predict(users, items)
