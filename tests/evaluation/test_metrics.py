"""Metrics against small cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.errors import DPPMGError
from dppmg.evaluation import metrics


def test_mean_cosine_to_sets():
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gen = np.array([[2.0, 0.0], [0.0, 3.0]])
    out = metrics.mean_cosine_to_sets(gen, items, [np.array([0]), np.array([0, 1])])
    np.testing.assert_allclose(out, [1.0, 0.5])
    assert np.isnan(metrics.mean_cosine_to_sets(gen[:1], items, [np.array([], dtype=int)])[0])
    with pytest.raises(DPPMGError, match="2 generations but 1 item sets"):
        metrics.mean_cosine_to_sets(gen, items, [np.array([0])])


def test_ssim_identical_is_one_and_noise_is_lower():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(48, 32, 3), dtype=np.uint8)
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    assert metrics.ssim(img, 255 - img) < 0
    with pytest.raises(DPPMGError, match="equal shapes"):
        metrics.ssim(img, img[:10])


def test_rouge_and_bleu_known_cases():
    ref = "a lonely detective hunts a killer in the rain"
    assert metrics.rouge_l(ref, [ref]) == pytest.approx(1.0)
    assert metrics.rouge_l(ref, ["completely unrelated words here", ref]) == pytest.approx(1.0)
    assert metrics.rouge_l("blue striped cotton shirt", [ref]) == 0.0
    assert metrics.bleu(ref, [ref]) == pytest.approx(1.0)
    assert metrics.bleu("the detective hunts", [ref]) < metrics.bleu("a lonely detective hunts a killer", [ref])
    with pytest.raises(DPPMGError, match="reference"):
        metrics.bleu(ref, [])


def test_distinct_n():
    assert metrics.distinct_n(["a b c", "d e f"], 1) == 1.0
    assert metrics.distinct_n(["a a a a"], 1) == 0.25
    assert metrics.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert metrics.distinct_n([""], 2) == 0.0


def test_frechet_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 4))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = metrics.frechet_distance(a, a + 3.0)
    assert shifted == pytest.approx(4 * 9.0, rel=1e-6)
    assert metrics.frechet_distance(a, rng.normal(size=(200, 4))) < shifted


class _Identity:
    """An 'alignment model' whose embeddings are the inputs themselves."""

    def similarity(self, image, text):
        import torch.nn.functional as F

        return F.normalize(text, dim=-1) @ F.normalize(image, dim=-1).T

    def score(self, image, text):
        return (metrics.unit(image) * metrics.unit(text)).sum(-1)


def test_consistency_and_retrieval_accuracy():
    feats = np.eye(8)
    model = _Identity()
    np.testing.assert_allclose(metrics.consistency_scores(model, feats, feats), np.ones(8))
    assert metrics.retrieval_accuracy(model, feats, feats, batch_size=4)["accuracy"] == 1.0
    swapped = feats[[1, 0, 3, 2, 5, 4, 7, 6]]
    out = metrics.retrieval_accuracy(model, feats, swapped, batch_size=4)
    assert out["accuracy"] == 0.0 and out["chance"] == 0.25
