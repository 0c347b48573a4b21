"""The own-vs-other personalization test and the synthetic world's attribute detectors."""

from __future__ import annotations

import numpy as np
import pytest


def test_paired_personalization_detects_a_personal_signal():
    from dppmg.evaluation.personalization import paired_personalization

    rng = np.random.default_rng(0)
    items = rng.normal(size=(40, 8))
    histories = [np.arange(10 * k, 10 * k + 10) for k in range(4)]
    generated = np.stack([items[h].mean(0) for h in histories])  # each user's own centroid
    rep = paired_personalization(generated, items, histories, np.random.default_rng(1))
    assert rep["users_own_closer"] == 4 and rep["mean_paired_difference"] > 0
    assert rep["sign_test_p"] == pytest.approx(1 / 16)


def test_attribute_detectors():
    from PIL import Image as PILImage

    from dppmg.data.synthetic import render_item
    from dppmg.evaluation.ground_truth import dominant_colour, text_style

    img = render_item("blue", "star", "striped", np.random.default_rng(0))
    assert dominant_colour(img) == "blue"
    assert dominant_colour(PILImage.new("RGB", (8, 8), (214, 39, 40))) == "red"
    assert text_style("A retro, nostalgic piece in vintage style") == "vintage"
    assert text_style("nothing here") is None


def test_every_modality_compares_each_user_with_the_same_other_user():
    from dppmg.evaluation.personalization import own_vs_other

    rng = np.random.default_rng(0)
    items = {"image": rng.normal(size=(60, 8)), "text": rng.normal(size=(60, 8))}
    histories = [np.arange(5 * k, 5 * k + 5) for k in range(12)]
    # The text generations are the image ones in another space: with the same "other" users the
    # per-user differences agree exactly; with independent draws they would not.
    generated = {"image": np.stack([items["image"][h].mean(0) for h in histories])}
    items["text"], generated["text"] = items["image"].copy(), generated["image"].copy()
    report = own_vs_other(generated, items, histories, seed=3)
    assert report["image"]["per_user_difference"] == report["text"]["per_user_difference"]
    again = own_vs_other(generated, items, histories, seed=4)
    assert again["image"]["per_user_difference"] != report["image"]["per_user_difference"]


def test_sample_test_users_is_seeded_and_sorted(smoke_synthetic):
    from dppmg.evaluation.personalization import sample_test_users

    a, b = sample_test_users(smoke_synthetic, 5, 0), sample_test_users(smoke_synthetic, 5, 0)
    assert a == b and len(a) == 5 and a == sorted(a, key=lambda u: (len(u), u))
    assert sample_test_users(smoke_synthetic, 5, 1) != a
    with_test = set(smoke_synthetic.users["user_id"].to_numpy()[smoke_synthetic.split_frame("test")["user"].unique()])
    assert set(sample_test_users(smoke_synthetic, None, 0)) == with_test
