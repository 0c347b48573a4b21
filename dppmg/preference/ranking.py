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
    return _metrics_of_ranked(scores[has_target], targets[has_target], ks)


def _metrics_of_ranked(scores: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Per-row Recall@K / NDCG@K of rows that all have targets (excluded items already at -inf)."""
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


# Up to this many (user, item) cells, membership is a bitmap lookup (64 MB at most).
DENSE_LOOKUP_CELLS = 1 << 26


class SparseInteractions:
    """One split's (user, item) pairs as a CSR structure: ``indptr`` (n_users + 1) and ``indices``.

    Memory is linear in the number of interactions (a dense (users, items) matrix is not: 100k
    users x 50k items would be 5 GB of booleans).

    Args:
        pairs: int (n, 2) array of (user, item) indices.
        num_users / num_items: the sizes of the index spaces.
    """

    def __init__(self, pairs: np.ndarray, num_users: int, num_items: int):
        self.num_users, self.num_items = num_users, num_items
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        keys = np.unique(pairs[:, 0] * num_items + pairs[:, 1])
        self.keys = torch.as_tensor(keys)
        users = keys // num_items
        self.indices = torch.as_tensor(keys % num_items)
        self.indptr = torch.as_tensor(np.searchsorted(users, np.arange(num_users + 1)))
        self._bitmap: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def counts(self) -> torch.Tensor:
        """Interactions per user."""
        return self.indptr[1:] - self.indptr[:-1]

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor: is (users[k], items[k]) one of the pairs (a bitmap lookup where users x
        items is at most :data:`DENSE_LOOKUP_CELLS`, else a binary search, O(k log n))."""
        query = users.long() * self.num_items + items.long()
        if self.num_users * self.num_items <= DENSE_LOOKUP_CELLS:
            if self._bitmap is None:
                self._bitmap = torch.zeros(self.num_users * self.num_items, dtype=torch.bool)
                self._bitmap[self.keys] = True
            return self._bitmap[query]
        if not len(self.keys):
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def row(self, user: int) -> torch.Tensor:
        return self.indices[self.indptr[user]:self.indptr[user + 1]]

    def block(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(row positions within ``users``, item indices) of the pairs of a block of users."""
        starts, ends = self.indptr[users], self.indptr[users + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(len(users)), lengths)
        offsets = torch.arange(int(lengths.sum())) - torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        return rows, self.indices[torch.repeat_interleave(starts, lengths) + offsets]

    def dense_block(self, users: torch.Tensor) -> torch.Tensor:
        """Bool (len(users), num_items) matrix of a block of users."""
        out = torch.zeros(len(users), self.num_items, dtype=torch.bool)
        rows, cols = self.block(users)
        out[rows, cols] = True
        return out


# Scores of a block of users for all items: (user indices) -> float (len(users), num_items), a
# tensor of its own (the evaluation masks it in place).
UserScorer = Callable[[torch.Tensor], torch.Tensor]
# Users per block of the batched evaluation: bounds its memory to ~64 MB of scores.
SCORE_BLOCK_FLOATS = 16_000_000


def dense_scorer(scores: torch.Tensor) -> UserScorer:
    """A :data:`UserScorer` over a precomputed (users, items) score matrix (indexing copies the rows)."""
    return lambda users: scores[users]


def factor_scorer(reps: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> UserScorer:
    """A :data:`UserScorer` for s(u, i) = Σ_m <p_u^m, q_i^m> that never builds the full matrix."""

    def score(users: torch.Tensor) -> torch.Tensor:
        total = None
        for p, q in reps.values():
            block = p[users] @ q.T
            total = block if total is None else total.add_(block)
        return total

    return score


class RankingEvaluator:
    """Full-ranking evaluation of a dataset's valid and test splits, batched over users.

    Scores are computed for blocks of users at a time and the known positives are masked from the
    block's CSR rows, so time and memory are linear in users x items per block and in the number of
    interactions, never in a dense (users, items) matrix of the whole split.

    Args:
        data: a processed, split dataset.
    """

    def __init__(self, data: InteractionData):
        n_u, n_i = data.num_users, data.num_items
        self.num_users, self.num_items = n_u, n_i
        self.train = SparseInteractions(data.user_item_pairs("train"), n_u, n_i)
        self.valid = SparseInteractions(data.user_item_pairs("valid"), n_u, n_i)
        self.test = SparseInteractions(data.user_item_pairs("test"), n_u, n_i)
        self.known_before_test = SparseInteractions(
            np.concatenate([data.user_item_pairs("train"), data.user_item_pairs("valid")]), n_u, n_i)

    @property
    def has_train(self) -> torch.Tensor:
        return self.train.counts() > 0

    def _split(self, split: str) -> tuple[SparseInteractions, SparseInteractions]:
        if split == "valid":
            return self.valid, self.train
        if split == "test":
            return self.test, self.known_before_test
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")

    def evaluated_users(self, split: str) -> torch.Tensor:
        """Indices of the users with at least one target in ``split`` (the rows of per-user values)."""
        targets, _ = self._split(split)
        return (targets.counts() > 0).nonzero().flatten()

    def per_user(self, scores: torch.Tensor | UserScorer, split: str, ks: tuple[int, ...] = KS) -> dict[str, np.ndarray]:
        """One value per evaluated user (see :meth:`evaluated_users`) and metric.

        Args:
            scores: a dense (users, items) score matrix or a :data:`UserScorer`.
        """
        scorer = dense_scorer(scores) if isinstance(scores, torch.Tensor) else scores
        targets, exclude = self._split(split)
        users = self.evaluated_users(split)
        block = max(1, SCORE_BLOCK_FLOATS // max(self.num_items, 1))
        parts: list[dict[str, np.ndarray]] = []
        with torch.no_grad():
            for start in range(0, len(users), block):
                chunk = users[start:start + block]
                s = scorer(chunk).detach().float()
                rows, cols = exclude.block(chunk)
                s[rows, cols] = -torch.inf
                parts.append(_metrics_of_ranked(s, targets.dense_block(chunk), ks))
        names = [f"{m}@{k}" for k in ks for m in ("recall", "ndcg")]
        return {n: np.concatenate([p[n] for p in parts]) if parts else np.zeros(0, dtype=np.float32) for n in names}

    def evaluate(self, scores: torch.Tensor | UserScorer, split: str, ks: tuple[int, ...] = KS) -> dict[str, float]:
        """Mean Recall@K and NDCG@K over the users with targets in ``split``."""
        per_user = self.per_user(scores, split, ks)
        return {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
