"""Full-ranking evaluation of a recommender: Recall@K and NDCG@K, vectorized over users.

Protocol: every user with at least one target item is ranked against **all** items. Items the
user interacted with before the evaluated period are excluded from the ranking: training items
when evaluating ``valid``; training and validation items when evaluating ``test`` (they are known
positives, not candidates).

    Recall@K(u) = |top_K(u) ∩ T_u| / |T_u|
    NDCG@K(u)   = Σ_{r=1..K} 1[item at rank r ∈ T_u] / log2(r + 1)  /  Σ_{r=1..min(K,|T_u|)} 1 / log2(r + 1)

Both are averaged over users with targets.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dppmg.data.schema import InteractionData

KS = (10, 20)


def interaction_matrix(pairs: np.ndarray, num_users: int, num_items: int) -> torch.Tensor:
    """Dense bool (num_users, num_items) matrix with True at each (user, item) pair."""
    mat = torch.zeros(num_users, num_items, dtype=torch.bool)
    if len(pairs):
        idx = torch.as_tensor(pairs, dtype=torch.long)
        mat[idx[:, 0], idx[:, 1]] = True
    return mat


def ranking_metrics(scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None,
                    ks: tuple[int, ...] = KS) -> dict[str, float]:
    """Recall@K and NDCG@K from a dense score matrix.

    Args:
        scores: float (n_users, n_items); higher is better.
        targets: bool (n_users, n_items); the held-out positives.
        exclude: bool (n_users, n_items); items removed from the ranking (known positives).
        ks: cut-offs.
    """
    per_user = ranking_metrics_per_user(scores, targets, exclude, ks)
    return {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}


def ranking_metrics_per_user(scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None,
                             ks: tuple[int, ...] = KS) -> dict[str, np.ndarray]:
    """Like :func:`ranking_metrics` but one value per user with targets (for paired tests)."""
    scores = scores.detach().float().clone()
    if exclude is not None:
        scores[exclude] = -torch.inf
    has_target = targets.any(dim=1)
    scores, targets = scores[has_target], targets[has_target]
    n_targets = targets.sum(dim=1).float()
    kmax = min(max(ks), scores.shape[1])
    top = torch.topk(scores, kmax, dim=1).indices
    hits = torch.gather(targets, 1, top).float()
    discounts = 1.0 / torch.log2(torch.arange(2, kmax + 2, dtype=torch.float32))
    out: dict[str, np.ndarray] = {}
    for k in ks:
        kk = min(k, kmax)
        out[f"recall@{k}"] = (hits[:, :kk].sum(dim=1) / n_targets).numpy()
        dcg = (hits[:, :kk] * discounts[:kk]).sum(dim=1)
        ideal_len = torch.clamp(n_targets, max=kk).long()
        idcg = torch.cumsum(discounts[:kk], 0)[ideal_len - 1]
        out[f"ndcg@{k}"] = (dcg / idcg).numpy()
    return out


class RankingEvaluator:
    """Holds the target and exclusion matrices of a dataset's valid and test splits.

    Args:
        data: a processed, split dataset.
    """

    def __init__(self, data: InteractionData):
        n_u, n_i = data.num_users, data.num_items
        self.train = interaction_matrix(data.user_item_pairs("train"), n_u, n_i)
        self.valid = interaction_matrix(data.user_item_pairs("valid"), n_u, n_i)
        self.test = interaction_matrix(data.user_item_pairs("test"), n_u, n_i)

    def targets_and_exclusions(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if split == "valid":
            return self.valid, self.train
        if split == "test":
            return self.test, self.train | self.valid
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")

    def evaluate(self, scores: torch.Tensor, split: str, ks: tuple[int, ...] = KS) -> dict[str, float]:
        targets, exclude = self.targets_and_exclusions(split)
        return ranking_metrics(scores, targets, exclude, ks)

    def evaluate_fn(self, score_fn: Callable[[], torch.Tensor], split: str) -> dict[str, float]:
        with torch.no_grad():
            return self.evaluate(score_fn(), split)
