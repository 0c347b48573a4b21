"""Is a method's generation personalized? Paired tests against other users' histories.

For each evaluated user u and another evaluated user v drawn for u (fixed by the seed; the same v
for the image and the text):

    own(u)   = mean cos(f(generated_u), f(i)) over i in u's training history
    other(u) = mean cos(f(generated_u), f(i)) over i in v's training history

with f = EfficientNet-Lite0 features for images (the catalogue's images taken at the generators'
32x48 resolution, like the generated ones, see :func:`dppmg.features.lowres_item_features`) and
MiniLM embeddings for texts. The report gives the mean paired difference own - other and a
one-sided sign test (H1: own > other).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Sequence

import numpy as np
from scipy.stats import binomtest

from dppmg.data.schema import InteractionData
from dppmg.evaluation.metrics import mean_cosine_to_sets


def sign_test(diff: np.ndarray) -> tuple[int, int, float]:
    """Users with a positive difference, users with a non-zero one, and the one-sided sign-test p
    (H1: positive differences are more likely than negative ones)."""
    wins, nonzero = int((diff > 0).sum()), int((diff != 0).sum())
    return wins, nonzero, float(binomtest(wins, nonzero, 0.5, alternative="greater").pvalue) if nonzero else 1.0


def paired_personalization(generated: np.ndarray, item_feats: np.ndarray, histories: Sequence[np.ndarray],
                           rng: np.random.Generator) -> dict[str, Any]:
    """own - other similarity per user (see module docstring), with a sign test."""
    n = len(histories)
    others = (np.arange(n) + rng.integers(1, n, size=n)) % n if n > 1 else np.zeros(n, dtype=int)
    own = mean_cosine_to_sets(generated, item_feats, histories)
    other = mean_cosine_to_sets(generated, item_feats, [histories[o] for o in others])
    diff = own - other
    wins, nonzero, p = sign_test(diff)
    return {"mean_own": float(own.mean()), "mean_other": float(other.mean()), "mean_paired_difference": float(diff.mean()),
            "users_own_closer": wins, "users": n, "sign_test_p": float(p), "per_user_difference": diff.round(6).tolist()}


def own_vs_other(generated: dict[str, np.ndarray], items: dict[str, np.ndarray], histories: Sequence[np.ndarray],
                 seed: int) -> dict[str, dict[str, Any]]:
    """:func:`paired_personalization` per modality (``generated`` / ``items``: features keyed by
    ``"image"`` and ``"text"``), every modality comparing each user with the same other user."""
    rng = np.random.default_rng(seed)
    return {m: paired_personalization(generated[m], items[m], histories, copy.deepcopy(rng)) for m in ("image", "text")}


def generation_features(results: Sequence[dict[str, Any]], data: InteractionData,
                        cache_dir: str | os.PathLike | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Features of the generations and of the catalogue in the same spaces: ``{"generated": {image,
    text}, "items": {image, text}}``; catalogue images are taken at the generated images' size."""
    from dppmg.features import encode_lowres_images, get_encoder, item_features, lowres_item_features

    images = np.stack([np.asarray(r["image"].convert("RGB")) for r in results])
    height, width = images.shape[1:3]
    return {"generated": {"image": encode_lowres_images(images),
                          "text": get_encoder("text").encode([r["text"] for r in results], progress=False)},
            "items": {"image": lowres_item_features(data, width, height, cache_dir=cache_dir, progress=False),
                      "text": item_features(data, "text", cache_dir=cache_dir, progress=False)}}


def personalization_report(results: Sequence[dict[str, Any]], data: InteractionData, seed: int,
                           cache_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """:func:`own_vs_other` of the generations ``results`` (one per user) against the users'
    training histories."""
    feats = generation_features(results, data, cache_dir)
    return own_vs_other(feats["generated"], feats["items"], data.items_by_user([r["user_id"] for r in results], "train"),
                        seed)


def sample_test_users(data: InteractionData, n: int | None, seed: int) -> list[str]:
    """Up to ``n`` users with test interactions (all if ``n`` is None), drawn with ``seed``, sorted."""
    test = data.split_frame("test")
    ids = data.users["user_id"].to_numpy()[np.unique(test["user"].to_numpy())]
    if n is not None and n < len(ids):
        ids = np.random.default_rng(seed).choice(ids, size=n, replace=False)
    return sorted(ids.tolist(), key=lambda u: (len(u), u))
