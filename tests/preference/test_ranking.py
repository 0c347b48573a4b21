"""Ranking metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dppmg.preference.ranking as ranking
from dppmg.preference.ranking import (
    RankingEvaluator,
    SparseInteractions,
    factor_scorer,
    interaction_matrix,
    ranking_metrics,
    ranking_metrics_per_user,
)


def test_hand_computed_recall_and_ndcg():
    # One user, 5 items ranked 4 > 3 > 2 > 1 > 0; targets {3, 0}.
    scores = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]])
    targets = torch.tensor([[True, False, False, True, False]])
    m = ranking_metrics(scores, targets, ks=(2, 5))
    assert m["recall@2"] == pytest.approx(0.5)  # item 3 at rank 2
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["recall@5"] == pytest.approx(1.0)
    dcg5 = 1 / math.log2(3) + 1 / math.log2(6)
    assert m["ndcg@5"] == pytest.approx(dcg5 / (1 + 1 / math.log2(3)))


def test_exclusion_removes_known_items():
    scores = torch.tensor([[5.0, 4.0, 3.0]])
    targets = torch.tensor([[False, False, True]])
    exclude = torch.tensor([[True, True, False]])
    assert ranking_metrics(scores, targets, exclude, ks=(1,))["recall@1"] == 1.0
    assert ranking_metrics(scores, targets, None, ks=(1,))["recall@1"] == 0.0


def test_users_without_targets_are_skipped_and_perfect_is_one():
    scores = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    targets = torch.tensor([[True, False], [False, False]])
    per_user = ranking_metrics_per_user(scores, targets, ks=(1,))
    assert len(per_user["recall@1"]) == 1
    assert per_user["ndcg@1"][0] == pytest.approx(1.0)


def test_interaction_matrix():
    mat = interaction_matrix(np.array([[0, 1], [1, 0]]), 2, 3)
    assert mat.tolist() == [[False, True, False], [True, False, False]]


def test_sparse_interactions_membership_and_blocks():
    pairs = np.array([[2, 4], [0, 1], [2, 0], [0, 1]])  # unsorted, one duplicate
    sparse = SparseInteractions(pairs, 3, 5)
    assert len(sparse) == 3 and sparse.counts().tolist() == [1, 0, 2]
    assert sparse.contains(torch.tensor([0, 0, 2, 1]), torch.tensor([1, 2, 4, 1])).tolist() == [True, False, True, False]
    assert sparse.dense_block(torch.tensor([2, 0])).tolist() == [[True, False, False, False, True],
                                                                 [False, True, False, False, False]]
    assert not SparseInteractions(np.zeros((0, 2)), 2, 2).contains(torch.tensor([0]), torch.tensor([1])).any()


def test_batched_evaluation_equals_the_dense_metrics(monkeypatch, smoke_synthetic):
    """Blocks of users, sparse masking and factorised scores give exactly the dense computation."""
    evaluator = RankingEvaluator(smoke_synthetic)
    n_u, n_i = smoke_synthetic.num_users, smoke_synthetic.num_items
    gen = torch.Generator().manual_seed(0)
    reps = {"text": (torch.randn(n_u, 4, generator=gen), torch.randn(n_i, 4, generator=gen)),
            "image": (torch.randn(n_u, 4, generator=gen), torch.randn(n_i, 4, generator=gen))}
    scores = sum(p @ q.T for p, q in reps.values())
    dense = {s: interaction_matrix(smoke_synthetic.user_item_pairs(s), n_u, n_i) for s in ("train", "valid", "test")}
    expected = {"valid": ranking_metrics(scores, dense["valid"], dense["train"]),
                "test": ranking_metrics(scores, dense["test"], dense["train"] | dense["valid"])}
    monkeypatch.setattr(ranking, "SCORE_BLOCK_FLOATS", 7 * n_i)  # 7 users per block
    for split in ("valid", "test"):
        assert evaluator.evaluate(scores, split) == pytest.approx(expected[split], abs=1e-6)
        assert evaluator.evaluate(factor_scorer(reps), split) == pytest.approx(expected[split], abs=1e-6)
