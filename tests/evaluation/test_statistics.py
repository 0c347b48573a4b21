"""The instrument: the matching test finds personalization that is there, keeps its false-positive
rate at the nominal level where there is none, and seeds combine as the protocol says."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.errors import DPPMGError
from dppmg.evaluation.statistics import (
    across_seeds,
    double_centred,
    matching_test,
    paired_difference_test,
    per_user_auc,
    set_similarity_matrix,
    stouffer,
    verdict,
)


def personalized_world(n_users: int, strength: float, rng: np.random.Generator, dim: int = 16):
    """Users with their own item sets; generation u lies ``strength`` towards u's items' centroid.
    Row and column effects (popular items, generic generations) are added on purpose: the
    double centring must remove them."""
    items = rng.normal(size=(n_users * 6, dim))
    sets = [np.arange(6 * u, 6 * u + 6) for u in range(n_users)]
    centroids = np.stack([items[s].mean(0) for s in sets])
    generic = rng.normal(size=dim) * 2
    generations = strength * centroids + rng.normal(size=(n_users, dim)) + generic
    return items, sets, generations


def test_set_similarity_is_the_mean_cosine_to_the_set():
    rng = np.random.default_rng(0)
    items, sets, gen = personalized_world(5, 1.0, rng)
    S = set_similarity_matrix(gen, items, sets)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    expected = np.array([[float((unit(items[s]) @ unit(g)).mean()) for g in gen] for s in sets])
    np.testing.assert_allclose(S, expected, atol=1e-12)
    with pytest.raises(DPPMGError, match="rows \\[1\\] are empty"):
        set_similarity_matrix(gen[:2], items, [sets[0], np.zeros(0, dtype=int)])


def test_double_centring_removes_row_and_column_effects():
    rng = np.random.default_rng(1)
    S = rng.normal(size=(6, 6))
    shifted = S + rng.normal(size=(6, 1)) + rng.normal(size=(1, 6))
    np.testing.assert_allclose(double_centred(shifted), double_centred(S), atol=1e-12)
    assert np.allclose(double_centred(S).mean(0), 0) and np.allclose(double_centred(S).mean(1), 0)


def test_a_personalized_world_is_found_and_identified():
    rng = np.random.default_rng(2)
    items, sets, gen = personalized_world(40, 1.5, rng)
    out = matching_test(set_similarity_matrix(gen, items, sets), seed=0, permutations=500, bootstrap=300)
    assert out["p"] < 0.01 and out["statistic"] > 0 and out["ci"][0] > 0
    assert out["auc"] > 0.8 and out["accuracy"] > 5 * out["accuracy_chance"]
    assert len(out["per_user"]["centred_own"]) == 40 and out["p_less"] > 0.9


def test_false_positive_rate_on_simulated_nulls_is_at_most_the_nominal_level():
    # Generations permuted among users: the personalization is there, but not for its user.
    rng = np.random.default_rng(3)
    runs, rejected = 400, 0
    for _ in range(runs):
        items, sets, gen = personalized_world(24, 1.5, rng)
        S = set_similarity_matrix(gen[rng.permutation(24)], items, sets)
        rejected += matching_test(S, seed=int(rng.integers(2**31)), permutations=199, bootstrap=10)["p"] < 0.05
    assert rejected / runs <= 0.06, f"{rejected} of {runs} null runs rejected at alpha = 0.05"


def test_auc_counts_ties_half():
    S = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(per_user_auc(S), [0.75, 0.5, 1.0])


def test_paired_difference_sign_flip():
    rng = np.random.default_rng(4)
    b = rng.normal(size=60)
    up = paired_difference_test(b + 0.5 + rng.normal(scale=0.2, size=60), b, seed=0, permutations=500, bootstrap=100)
    assert up["p"] < 0.01 and up["p_less"] > 0.99 and up["difference"] == pytest.approx(0.5, abs=0.1)
    with pytest.raises(DPPMGError, match="at least 3 users"):
        paired_difference_test(np.array([1.0, np.nan]), np.array([0.0, 0.0]), seed=0)


def test_seeds_are_combined_not_pooled():
    assert stouffer([0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert stouffer([0.01, 0.01, 0.01]) < 0.01 < stouffer([0.01, 0.5, 0.9])
    agree = across_seeds([0.02, 0.03, 0.01], [0.01, 0.02, 0.04], [0.99, 0.98, 0.96])
    assert agree["all_positive"] and verdict(agree) == "reproduced"
    assert agree["ci"][0] < agree["mean"] < agree["ci"][1]
    # One seed the other way round: not reproduced even with a small combined p.
    mixed = across_seeds([0.05, 0.05, -0.001], [0.0005, 0.0005, 0.6], [0.9995, 0.9995, 0.4])
    assert mixed["p_positive"] < 0.05 and verdict(mixed) == "inconclusive"
    against = across_seeds([-0.02, -0.03, -0.01], [0.99, 0.98, 0.96], [0.01, 0.02, 0.04])
    assert verdict(against) == "contradicted" and verdict(agree, measurable=False) == "not measurable"
