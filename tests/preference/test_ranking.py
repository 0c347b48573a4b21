"""Ranking metrics against cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dppmg.preference.ranking import interaction_matrix, ranking_metrics, ranking_metrics_per_user


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
