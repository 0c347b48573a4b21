"""Is Stage 2's generation personalized? Paired tests against other users' histories.

For each test user u and a randomly drawn other user v (fixed by the seed):

    own(u)   = mean cos(f(generated_u), f(i)) over i in u's training history
    other(u) = mean cos(f(generated_u), f(i)) over i in v's training history

with f = EfficientNet-Lite0 features for images (the catalogue's images taken at the generators'
32x48 resolution, like the generated ones, see :func:`dppmg.features.lowres_item_features`) and
MiniLM embeddings for texts. The report gives
the mean paired difference own - other and a one-sided sign test (H1: own > other). On the
synthetic world it also scores the generated items against the users' true preferred attributes
(dominant colour of the image, style words of the text), for the pipeline as trained and with the
users' tokens shuffled among them (the control).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
from PIL import Image
from scipy.stats import binomtest

from dppmg.data.schema import InteractionData
from dppmg.data.synthetic import COLOURS, STYLE_WORDS
from dppmg.features import encode_lowres_images, get_encoder, item_features, lowres_item_features


def sign_test(diff: np.ndarray) -> tuple[int, int, float]:
    """Users with a positive difference, users with a non-zero one, and the one-sided sign-test p
    (H1: positive differences are more likely than negative ones)."""
    wins, nonzero = int((diff > 0).sum()), int((diff != 0).sum())
    return wins, nonzero, float(binomtest(wins, nonzero, 0.5, alternative="greater").pvalue) if nonzero else 1.0


def paired_personalization(generated: np.ndarray, item_feats: np.ndarray, histories: Sequence[np.ndarray],
                           rng: np.random.Generator) -> dict[str, Any]:
    """own - other similarity per user (see module docstring), with a sign test."""
    from dppmg.metrics import mean_cosine_to_sets

    n = len(histories)
    others = (np.arange(n) + rng.integers(1, n, size=n)) % n if n > 1 else np.zeros(n, dtype=int)
    own = mean_cosine_to_sets(generated, item_feats, histories)
    other = mean_cosine_to_sets(generated, item_feats, [histories[o] for o in others])
    diff = own - other
    wins, nonzero, p = sign_test(diff)
    return {"mean_own": float(own.mean()), "mean_other": float(other.mean()), "mean_paired_difference": float(diff.mean()),
            "users_own_closer": wins, "users": n, "sign_test_p": float(p), "per_user_difference": diff.round(6).tolist()}


def dominant_colour(image: Image.Image) -> str:
    """The palette colour nearest to the image's saturated pixels (synthetic world only)."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3)
    saturation = arr.max(axis=1) - arr.min(axis=1)
    # The shape covers a small part of the canvas: vote with its most saturated pixels only.
    pixels = arr[saturation >= np.quantile(saturation, 0.95)]
    names, palette = list(COLOURS), np.array(list(COLOURS.values()), dtype=np.float32)
    votes = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
    return names[int(np.bincount(votes, minlength=len(names)).argmax())]


def text_style(text: str) -> str | None:
    """The style whose words occur most in ``text`` (None if none does)."""
    words = text.lower()
    counts = {s: sum(words.count(w) for w in (s, *STYLE_WORDS[s])) for s in STYLE_WORDS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else None


def shuffled_tokens(pipeline, seed: int):
    """A copy of the pipeline whose users' token sets are permuted among users (the control)."""
    rng = np.random.default_rng(seed)
    users = list(pipeline.token_table)
    perm = rng.permutation(len(users))
    control = copy.copy(pipeline)
    control.token_table = {u: pipeline.token_table[users[j]] for u, j in zip(users, perm)}
    return control


def sample_test_users(data: InteractionData, n: int | None, seed: int) -> list[str]:
    """Up to ``n`` users with test interactions (all if ``n`` is None), drawn with ``seed``, sorted."""
    test = data.split_frame("test")
    ids = data.users["user_id"].to_numpy()[np.unique(test["user"].to_numpy())]
    if n is not None and n < len(ids):
        ids = np.random.default_rng(seed).choice(ids, size=n, replace=False)
    return sorted(ids.tolist(), key=lambda u: (len(u), u))


def personalization_report(pipeline, data: InteractionData, user_ids: Sequence[str], seed: int = 0,
                           results: Sequence[dict] | None = None, **generate_kwargs: Any) -> dict[str, Any]:
    """Generate for ``user_ids`` (or take the pipeline's ``results`` for them) and compute the
    paired tests (and, on the synthetic world, attribute accuracy against shuffled tokens)."""
    if results is None:
        results = pipeline(list(user_ids), seed=seed, **generate_kwargs)
    if [r["user_id"] for r in results] != list(user_ids):
        raise ValueError("results must be the pipeline's outputs for user_ids, in order")
    histories = data.items_by_user(user_ids, "train")
    rng = np.random.default_rng(seed)
    # Catalogue images go through the generators' resolution too (as in dppmg.metrics), so that the
    # comparison is about content, not about full-resolution photos vs 32x48 samples.
    gen_images = np.stack([np.asarray(x["image"].convert("RGB")) for x in results])
    height, width = gen_images.shape[1:3]
    report: dict[str, Any] = {
        "image": paired_personalization(encode_lowres_images(gen_images),
                                        lowres_item_features(data, width, height, progress=False), histories, rng),
        "text": paired_personalization(get_encoder("text").encode([x["text"] for x in results], progress=False),
                                       item_features(data, "text", progress=False), histories, rng),
        "samples": [{"user_id": x["user_id"], "text": x["text"], "tokens": x["tokens"]} for x in results[:8]],
    }
    if data.ground_truth is not None:
        report["ground_truth"] = {"dppmg": attribute_accuracy(results, data),
                                  "shuffled_tokens": attribute_accuracy(
                                      shuffled_tokens(pipeline, seed)(list(user_ids), seed=seed, **generate_kwargs), data)}
    return report


def ground_truth_hits(results: Sequence[dict], data: InteractionData) -> dict[str, np.ndarray]:
    """Per generation: does the image show the user's true colour, the text the true style (1/0)?"""
    from dppmg.errors import DPPMGError

    if data.ground_truth is None:
        raise DPPMGError(f"dataset {data.name!r} has no ground-truth preferences; attribute accuracy is "
                         "defined on the synthetic world only")
    truth = data.ground_truth["users"].set_index("user_id")
    return {"image_colour": np.array([dominant_colour(x["image"]) == truth.loc[x["user_id"], "pref_colour"]
                                      for x in results], dtype=float),
            "text_style": np.array([text_style(x["text"]) == truth.loc[x["user_id"], "pref_style"]
                                    for x in results], dtype=float)}


def attribute_accuracy(results: Sequence[dict], data: InteractionData) -> dict[str, float]:
    hits = ground_truth_hits(results, data)
    return {"image_colour_accuracy": float(hits["image_colour"].mean()),
            "text_style_accuracy": float(hits["text_style"].mean()), "chance": 1 / len(COLOURS)}
