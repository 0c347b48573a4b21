"""Is a method's generation personalized? User identification over all evaluated users.

For the evaluated users U and their generations, three S matrices per modality (rows: whose items
or preferences, columns: whose generation), each scored by the matching test of
:mod:`dppmg.evaluation.statistics`:

* ``targets`` (the headline, generalisation): ``S[u, v]`` = mean cosine of v's generation to u's
  items of the evaluated period (test, or validation for selection runs);
* ``history``: the same against u's training history, which the methods were fitted on;
* ``evaluator``: the learned preference evaluator's modality-only score of v's generation for
  user u (:mod:`dppmg.evaluation.preference_evaluator`).

Features: EfficientNet-Lite0 for images (the catalogue's images taken at the generators' 32x48
resolution, like the generated ones, :func:`dppmg.data.features.lowres_item_features`) and MiniLM for
texts.

**Leave one out.** A method that returns a catalogue item (the ``real-test-item`` reference, or a
retrieval baseline) says which (``"item"`` in its result): that item leaves its own user's target
set, so the reference is not credited for matching an item with itself. A user whose only target
was that item drops out of the ``targets`` view; the result counts them.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from dppmg.data.features import encode_lowres_images, get_encoder, item_features, lowres_item_features
from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.evaluation.statistics import matching_test, set_similarity_matrix
from dppmg.infra.seeding import split_seed

VIEWS = ("targets", "history", "evaluator")


def generation_features(results: Sequence[dict[str, Any]], data: InteractionData,
                        cache_dir: str | os.PathLike | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Features of the generations and of the catalogue in the same spaces: ``{"generated": {image,
    text}, "items": {image, text}}``; catalogue images are taken at the generated images' size."""
    images = np.stack([np.asarray(r["image"].convert("RGB")) for r in results])
    height, width = images.shape[1:3]
    return {"generated": {"image": encode_lowres_images(images),
                          "text": get_encoder("text").encode([r["text"] for r in results], progress=False)},
            "items": {"image": lowres_item_features(data, width, height, cache_dir=cache_dir, progress=False),
                      "text": item_features(data, "text", cache_dir=cache_dir, progress=False)}}


def leave_one_out_targets(results: Sequence[dict[str, Any]], data: InteractionData,
                          split: str) -> tuple[list[np.ndarray], int]:
    """Each user's ``split`` items without the catalogue item returned for that user (if any), and
    how many users had a returned item removed."""
    sets = data.items_by_user([r["user_id"] for r in results], split)
    out, removed = [], 0
    for r, items in zip(results, sets):
        if r.get("item") is not None and int(r["item"]) in items:
            items = items[items != int(r["item"])]
            removed += 1
        out.append(items)
    return out, removed


def personalization_tests(results: Sequence[dict[str, Any]], data: InteractionData,
                          features: dict[str, dict[str, np.ndarray]], split: str, seed: int,
                          preference_evaluator=None, permutations: int | None = None) -> dict[str, Any]:
    """The three views of the module docstring per modality (``evaluator`` only with a preference
    evaluator), each a :func:`~dppmg.evaluation.statistics.matching_test` result with the users it
    kept."""
    kwargs = {} if permutations is None else {"permutations": permutations}
    user_ids = [r["user_id"] for r in results]
    targets, removed = leave_one_out_targets(results, data, split)
    history = data.items_by_user(user_ids, "train")
    out: dict[str, Any] = {"leave_one_out": {"returned_items_removed": removed}}
    for m in ("image", "text"):
        gen, items = features["generated"][m], features["items"][m]
        views: dict[str, Any] = {}
        for view, sets in (("targets", targets), ("history", history)):
            keep = np.flatnonzero([len(s) > 0 for s in sets])
            S = set_similarity_matrix(gen[keep], items, [sets[i] for i in keep]) if len(keep) else None
            views[view] = _test(S, keep, len(sets), seed, kwargs)
        if preference_evaluator is not None:
            S = preference_evaluator.score_matrix(m, user_ids, gen)
            views["evaluator"] = _test(S, np.arange(len(user_ids)), len(user_ids), seed, kwargs)
        out[m] = views
    out["targets_dropped_users"] = out["image"]["targets"]["dropped_users"]
    return out


def _test(S: np.ndarray | None, keep: np.ndarray, total: int, seed: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    if len(keep) < 3:
        return {"users": int(len(keep)), "dropped_users": int(total - len(keep)), "skipped": "fewer than 3 users"}
    return {**matching_test(S, seed, **kwargs), "dropped_users": int(total - len(keep)),
            "user_index": keep.tolist()}


def personalization_report(results: Sequence[dict[str, Any]], data: InteractionData, seed: int,
                           split: str = "test", cache_dir: str | os.PathLike | None = None,
                           preference_evaluator=None) -> dict[str, Any]:
    """:func:`personalization_tests` of ``results`` (one generation per user), features included."""
    features = generation_features(results, data, cache_dir)
    return personalization_tests(results, data, features, split, seed, preference_evaluator)


def sample_users(data: InteractionData, n: int | None, seed: int, split: str = "test") -> list[str]:
    """Up to ``n`` users with ``split`` interactions (all if ``n`` is None or there are fewer),
    drawn with :func:`~dppmg.infra.seeding.split_seed` of ``seed`` (the seed itself for the test
    split, its own stream for the validation split), sorted."""
    frame = data.split_frame(split)
    if not len(frame):
        raise DPPMGError(f"dataset {data.name!r} has no {split} interactions to evaluate on")
    ids = data.users["user_id"].to_numpy()[np.unique(frame["user"].to_numpy())]
    if n is not None and n < len(ids):
        ids = np.random.default_rng(split_seed(seed, split)).choice(ids, size=n, replace=False)
    return sorted(ids.tolist(), key=lambda u: (len(u), u))
