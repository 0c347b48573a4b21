"""The synthetic world: deterministic from its seed, and its ground truth drives the data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dppmg.config import SyntheticConfig
from dppmg.data import load_dataset
from dppmg.data.synthetic import generate_synthetic


def test_same_seed_same_world(tmp_path):
    cfg = SyntheticConfig(num_users=40, num_items=60, seed=3)
    a = generate_synthetic(cfg, tmp_path / "a")
    b = generate_synthetic(cfg, tmp_path / "b")
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items.drop(columns="image_path"), b.items.drop(columns="image_path"))
    for pa, pb in zip(a.items["image_path"][:10], b.items["image_path"][:10]):
        assert open(pa, "rb").read() == open(pb, "rb").read()


def test_other_seed_other_world(tmp_path):
    a = generate_synthetic(SyntheticConfig(num_users=40, num_items=60, seed=3), tmp_path / "a")
    b = generate_synthetic(SyntheticConfig(num_users=40, num_items=60, seed=4), tmp_path / "b")
    assert not a.interactions[["user_id", "item_id"]].equals(b.interactions[["user_id", "item_id"]])


def test_ground_truth_drives_interactions(smoke_synthetic):
    data = smoke_synthetic
    gt = data.ground_truth
    inter = data.interactions.merge(gt["users"], on="user_id").merge(gt["items"], on="item_id")
    colour_match = float((inter["colour"] == inter["pref_colour"]).mean())
    style_match = float((inter["style"] == inter["pref_style"]).mean())
    # Chance is 1/6 for both; the utility makes preferred attributes several times more frequent.
    assert colour_match > 0.4 and style_match > 0.3


def test_divergent_users_have_different_text_and_image_preferences(smoke_synthetic):
    gt = smoke_synthetic.ground_truth
    users = gt["users"]
    paired = users["pref_style"].map(gt["style_paired_with_colour"]) == users["pref_colour"]
    assert (paired == ~users["divergent"]).all()
    assert 0.3 < users["divergent"].mean() < 0.7


def test_texts_name_the_visible_attributes(smoke_synthetic):
    items = smoke_synthetic.items
    for row in items.head(30).itertuples():
        assert row.colour in row.text and row.shape in row.text and row.style in row.text


def test_load_is_cached_and_identical(session_cache):
    a = load_dataset("synthetic", preset="smoke", cache_dir=session_cache)
    b = load_dataset("synthetic", preset="smoke", cache_dir=session_cache, use_cache=False)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    assert np.array_equal(a.items["item_id"], b.items["item_id"])
