"""The instrument's statistics: user identification with power, seeds as the unit of replication.

**Matching statistic.** For the evaluated users U and their generations, ``S[u, v]`` is how well
v's generation fits u's target items (a similarity, or a preference evaluator's score). If the
generations are personalized, each user's own generation fits them better than the others' do.
Double centring removes what is not about the pairing: a user whose items are close to
everything (row effect) and a generation that is close to everything (column effect),

    D = S - mean_v S[u, v] - mean_u S[u, v] + mean S,        T = mean_u D[u, u].

**User identification.** Per user, the AUC of the own generation against the others'
(``AUC_u = mean_{v != u} 1[S[u, u] > S[u, v]]``, ties count half; chance 0.5) and whether it
ranks first (chance 1 / n).

**Permutation test.** Under the null (generations are not about their users) the assignment of
generations to users is exchangeable: T is recomputed for ``B >= 2000`` random permutations of the
columns and ``p = (1 + #{T_perm >= T}) / (1 + B)``, a valid one-sided p for any n.

**Bootstrap CI.** Percentile interval of the mean over users of the per-user contributions
``D[u, u]`` (and of ``AUC_u``), resampling users.

**Seeds.** Each seed gives one effect and one p. Across seeds the effect is reported as mean ± std
with a t-interval over seeds; the p-values are combined with Stouffer's method,
``Z = sum_i Phi^-1(1 - p_i) / sqrt(k)``; a "reproduced" verdict needs the combined p < 0.05 and
the same sign in every seed (:func:`verdict`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import stats

from dppmg.errors import DPPMGError

PERMUTATIONS = 2000
BOOTSTRAP = 2000
VERDICTS = ("reproduced", "contradicted", "inconclusive", "not measurable")


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def set_similarity_matrix(generated: np.ndarray, item_feats: np.ndarray,
                          target_sets: Sequence[np.ndarray]) -> np.ndarray:
    """``S[u, v]`` = mean cosine of generation v to the items of ``target_sets[u]``.

    The mean cosine to a set is the dot product with the mean of the set's unit vectors, so S is
    one matrix product. Every target set must be non-empty.
    """
    if len(generated) != len(target_sets):
        raise DPPMGError(f"{len(generated)} generations but {len(target_sets)} target sets")
    empty = [u for u, s in enumerate(target_sets) if not len(s)]
    if empty:
        raise DPPMGError(f"target sets of rows {empty[:5]} are empty; drop those users first")
    items = unit_rows(item_feats)
    centroids = np.stack([items[np.asarray(s)].mean(0) for s in target_sets])
    return centroids @ unit_rows(generated).T


def double_centred(S: np.ndarray) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    return S - S.mean(1, keepdims=True) - S.mean(0, keepdims=True) + S.mean()


def per_user_auc(S: np.ndarray) -> np.ndarray:
    """AUC of each user's own generation against the other users' generations (chance 0.5)."""
    n = len(S)
    own = np.diag(S)[:, None]
    off = ~np.eye(n, dtype=bool)
    wins = ((S < own) & off).sum(1) + 0.5 * ((S == own) & off).sum(1)
    return wins / max(n - 1, 1)


def permutation_null(D: np.ndarray, permutations: int, rng: np.random.Generator) -> np.ndarray:
    """T for ``permutations`` random generation-to-user assignments of the double-centred D."""
    n = len(D)
    rows = np.arange(n)
    out = np.empty(permutations)
    for start in range(0, permutations, 500):
        block = min(500, permutations - start)
        perms = np.argsort(rng.random((block, n)), axis=1)
        out[start:start + block] = D[rows, perms].mean(1)
    return out


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, resamples: int = BOOTSTRAP,
                       level: float = 0.95) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def matching_test(S: np.ndarray, seed: int, permutations: int = PERMUTATIONS,
                  bootstrap: int = BOOTSTRAP) -> dict[str, Any]:
    """The matching statistic, user identification, bootstrap CIs and the permutation p of ``S``."""
    S = np.asarray(S, dtype=np.float64)
    n = len(S)
    if S.ndim != 2 or S.shape != (n, n) or n < 3:
        raise DPPMGError(f"the matching test needs a square similarity matrix of at least 3 users, got {S.shape}")
    if not np.isfinite(S).all():
        raise DPPMGError("the similarity matrix holds non-finite values")
    rng = np.random.default_rng(seed)
    D = double_centred(S)
    contributions = np.diag(D)
    statistic = float(contributions.mean())
    null = permutation_null(D, permutations, rng)
    auc = per_user_auc(S)
    first = (S.argmax(1) == np.arange(n)) & (S.max(1) > np.partition(S, -2, axis=1)[:, -2])
    return {"users": n, "statistic": statistic,
            "ci": bootstrap_interval(contributions, rng, bootstrap),
            "p": float((1 + (null >= statistic).sum()) / (1 + permutations)),
            "p_less": float((1 + (null <= statistic).sum()) / (1 + permutations)), "permutations": permutations,
            "null_mean": float(null.mean()), "null_std": float(null.std()),
            "auc": float(auc.mean()), "auc_ci": bootstrap_interval(auc, rng, bootstrap), "auc_chance": 0.5,
            "accuracy": float(first.mean()), "accuracy_chance": 1 / n,
            "per_user": {"centred_own": np.round(contributions, 6).tolist(), "auc": np.round(auc, 6).tolist()}}


def paired_difference_test(a: np.ndarray, b: np.ndarray, seed: int, permutations: int = PERMUTATIONS,
                           bootstrap: int = BOOTSTRAP) -> dict[str, Any]:
    """Mean of ``a - b`` over the users with both values, a bootstrap CI and the one-sided
    sign-flip permutation p (H1: a > b). The pairs are users of one seed."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    diff = a[ok] - b[ok]
    if len(diff) < 3:
        raise DPPMGError(f"a paired comparison needs at least 3 users with both values, got {len(diff)}")
    rng = np.random.default_rng(seed)
    observed = diff.mean()
    signs = rng.choice(np.array([-1.0, 1.0]), size=(permutations, len(diff)))
    null = (signs * diff).mean(1)
    return {"users": int(len(diff)), "difference": float(observed), "ci": bootstrap_interval(diff, rng, bootstrap),
            "p": float((1 + (null >= observed - 1e-15).sum()) / (1 + permutations)),
            "p_less": float((1 + (null <= observed + 1e-15).sum()) / (1 + permutations)), "permutations": permutations}


def stouffer(p_values: Sequence[float]) -> float:
    """Stouffer's combination of one-sided p-values (equal weights)."""
    p = np.clip(np.asarray(p_values, dtype=np.float64), 1e-300, 1 - 1e-16)
    if not len(p):
        raise DPPMGError("no p-values to combine")
    z = stats.norm.isf(p).sum() / np.sqrt(len(p))
    return float(stats.norm.sf(z))


def across_seeds(effects: Sequence[float], p_greater: Sequence[float], p_less: Sequence[float],
                 level: float = 0.95) -> dict[str, Any]:
    """The seeds' effects and one-sided p-values (one of each per seed) combined: mean ± std,
    t-interval over seeds, Stouffer's p for "positive" and for "negative", and whether every seed
    agrees in sign."""
    effects = np.asarray(effects, dtype=np.float64)
    p_values, p_less = np.asarray(p_greater, dtype=np.float64), np.asarray(p_less, dtype=np.float64)
    if not len(effects) or not len(effects) == len(p_values) == len(p_less):
        raise DPPMGError(f"{len(effects)} effects but {len(p_values)} / {len(p_less)} p-values")
    k = len(effects)
    mean = float(effects.mean())
    std = float(effects.std(ddof=1)) if k > 1 else 0.0
    half = float(stats.t.ppf((1 + level) / 2, k - 1) * std / np.sqrt(k)) if k > 1 else float("nan")
    return {"seeds": k, "mean": mean, "std": std, "ci": (mean - half, mean + half),
            "per_seed": [round(float(e), 6) for e in effects], "per_seed_p": [float(p) for p in p_values],
            "p_positive": stouffer(p_values), "p_negative": stouffer(p_less),
            "all_positive": bool((effects > 0).all()), "all_negative": bool((effects < 0).all())}


def verdict(combined: dict[str, Any], measurable: bool = True, alpha: float = 0.05) -> str:
    """``reproduced`` (combined p < alpha, every seed positive), ``contradicted`` (the same in the
    other direction), ``not measurable`` (the reference fails the test), else ``inconclusive``."""
    if not measurable:
        return "not measurable"
    if combined["p_positive"] < alpha and combined["all_positive"]:
        return "reproduced"
    if combined["p_negative"] < alpha and combined["all_negative"]:
        return "contradicted"
    return "inconclusive"
