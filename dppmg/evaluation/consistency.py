"""Do a generation's image and text belong together? Scored by the evaluator, never by the reward
model alone.

* ``evaluator`` / ``reward_model``: each generated (image, text) pair's alignment score under the
  two models; a method that games the reward shows as a gap between them.
* ``matching``: the matching test of :mod:`dppmg.evaluation.statistics` on
  ``C[u, v] = evaluator(image_v, text_u)``: does each text fit its own image better than the other
  generations' images? (For real catalogue pairs this is the measurability check of consistency.)
* ``matching_unseen``: the same over the generations that are not items either alignment model
  was trained on (for a method returning catalogue items; generated items are all unseen).
* ``retrieval``: the evaluator's text-to-image accuracy within consecutive batches.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from dppmg.data.schema import InteractionData
from dppmg.evaluation import metrics
from dppmg.evaluation.statistics import matching_test
from dppmg.reward.alignment import training_items


def pair_matrix(model, image_feats: np.ndarray, text_feats: np.ndarray) -> np.ndarray:
    """``C[u, v]`` = ``model``'s alignment of text u with image v."""
    with torch.no_grad():
        return model.similarity(torch.as_tensor(image_feats, dtype=torch.float32),
                                torch.as_tensor(text_feats, dtype=torch.float32)).double().numpy()


def consistency_tests(results: Sequence[dict[str, Any]], data: InteractionData, image_feats: np.ndarray,
                      text_feats: np.ndarray, evaluator, reward_model, seed: int, retrieval_batch: int,
                      permutations: int | None = None) -> dict[str, Any]:
    kwargs = {} if permutations is None else {"permutations": permutations}
    out: dict[str, Any] = {"evaluator": metrics.consistency_scores(evaluator, image_feats, text_feats),
                           "reward_model": metrics.consistency_scores(reward_model, image_feats, text_feats),
                           "retrieval": metrics.retrieval_accuracy(evaluator, image_feats, text_feats, retrieval_batch)}
    C = pair_matrix(evaluator, image_feats, text_feats)
    out["matching"] = matching_test(C, seed, **kwargs) if len(C) >= 3 else {"skipped": "fewer than 3 users"}
    seen = set(training_items(data, evaluator.config).tolist()) | set(training_items(data, reward_model.config).tolist())
    unseen = np.flatnonzero([r.get("item") is None or int(r["item"]) not in seen for r in results])
    out["matching_unseen"] = ({**matching_test(C[np.ix_(unseen, unseen)], seed, **kwargs), "user_index": unseen.tolist()}
                              if len(unseen) >= 3 else {"users": int(len(unseen)), "skipped": "fewer than 3 users"})
    return out
