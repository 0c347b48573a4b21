"""Frozen encoders load offline from their wheels; features are cached by content."""

from __future__ import annotations

import numpy as np
import pytest

import dppmg.data.features as features
from dppmg.data.features import feature_cache_file, item_features


@pytest.fixture(scope="module")
def tiny(smoke_synthetic):
    return smoke_synthetic.replace(items=smoke_synthetic.items.head(12).reset_index(drop=True))


def test_text_features_are_minilm(tiny, tmp_path):
    feats = item_features(tiny, "text", cache_dir=tmp_path, progress=False)
    assert feats.shape == (12, 384) and feats.dtype == np.float32
    assert np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-4)
    sims = feats @ feats.T
    # Items sharing a style word group are closer than items that share nothing: a real encoder.
    assert sims.max() <= 1.0 + 1e-4 and np.isfinite(sims).all()


def test_image_features_are_efficientnet(tiny, tmp_path):
    feats = item_features(tiny, "image", cache_dir=tmp_path, progress=False)
    assert feats.shape == (12, 1280)
    assert (feats >= -0.5).all() and feats.std() > 0  # pooled swish activations: bounded below, not constant
    colours = tiny.items["colour"].to_numpy()
    normed = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = normed @ normed.T
    same = colours[:, None] == colours[None, :]
    off_diag = ~np.eye(len(colours), dtype=bool)
    assert sims[same & off_diag].mean() > sims[~same].mean()  # same-colour renders look alike


def test_cache_hit_skips_the_encoder(tiny, tmp_path, monkeypatch):
    first = item_features(tiny, "text", cache_dir=tmp_path, progress=False)

    def no_encoder(*a, **k):
        raise AssertionError("encoder loaded despite the cache")

    monkeypatch.setattr(features, "get_encoder", no_encoder)
    assert np.array_equal(item_features(tiny, "text", cache_dir=tmp_path), first)


def test_cache_key_follows_content(tiny, tmp_path):
    changed = tiny.replace(items=tiny.items.assign(text=tiny.items["text"] + " Extra words."))
    assert feature_cache_file(tiny, "text", tmp_path) != feature_cache_file(changed, "text", tmp_path)
    assert feature_cache_file(tiny, "image", tmp_path) == feature_cache_file(changed, "image", tmp_path)


def test_unknown_modality(tiny):
    from dppmg.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown modality 'audio'"):
        item_features(tiny, "audio")


def test_real_movielens_features_subset(movielens, tmp_path):
    subset = movielens.replace(items=movielens.items.head(8).reset_index(drop=True))
    feats = features.extract_features(subset, cache_dir=tmp_path, progress=False)
    assert feats["text"].shape == (8, 384) and feats["image"].shape == (8, 1280)


def test_nearest_items_excludes_itself():
    feats = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], dtype=np.float32)
    idx, sims = features.nearest_items(feats, 0, k=2)
    assert idx.tolist() == [1, 2] and sims[0] > sims[1]


def test_encoder_first_built_in_inference_mode_still_backpropagates():
    import torch

    from dppmg.data import features

    features._ENCODERS.pop(("image", "None"), None)
    with torch.inference_mode():
        features.get_encoder("image")
    x = torch.zeros(1, 3, 48, 32, requires_grad=True)
    features.encode_lowres_tensor(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
