"""A reference, not a generator: the catalogue item the strongest Stage 1 recommender ranks first
for the user, outside their training history.

It is what generation must beat to be worth its cost: a personalized generator that does no
better than handing the user the top recommendation, image and text of a real item, adds nothing
a recommender does not already give. "Strongest" is chosen on the validation split: every
registered Stage 1 ranking method is fitted (or loaded from the Stage 1 cache) on the training
interactions of the same seed and the one with the best validation Recall@20 ranks (ties go to the
earlier method in table order). It reads the training split only; the item it returns is left out
of its user's target set in the personalization tests (leave-one-out), as the real-test-item
reference's is.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from PIL import Image

from dppmg.data import load_dataset
from dppmg.data.images import load_image_array
from dppmg.interface import GenerationMethod
from dppmg.preference.checkpoint import load_scorer
from dppmg.registry import method_names, resolve_stage1

SELECTION_METRIC = "recall@20"


class Retrieval(GenerationMethod):
    name = "retrieval"
    description = "reference: the catalogue item the validation-best Stage 1 recommender ranks first (outside the history)"
    kind = "reference"
    order = 85
    generation_items = {}  # looks items up: generates nothing

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.preference.train import load_or_fit

        self.data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        self.info["timings"] = []
        candidates = {}
        for method in method_names(suite="preference"):
            record, folder = load_or_fit(resolve_stage1(dataset, preset, seed, method), data_root=data_root,
                                         cache_dir=cache_dir, progress=progress, timings=self.info["timings"])
            candidates[method] = (float(record["metrics"]["valid"][SELECTION_METRIC]), folder)
        # max() keeps the first of equal values: the earlier method in table order.
        self.recommender = max(candidates, key=lambda m: candidates[m][0])
        self.validation = {m: round(v, 6) for m, (v, _) in candidates.items()}
        self.scorer = load_scorer(candidates[self.recommender][1], self.data, cache_dir)
        self.images = load_image_array(self.data, cache_dir=cache_dir)
        return self.data

    def top_items(self, user_ids: Sequence[str]) -> list[int]:
        """Each user's highest-scored item among those not in their training history."""
        index = {u: i for i, u in enumerate(self.data.users["user_id"].tolist())}
        users = torch.as_tensor([index[str(u)] for u in user_ids], dtype=torch.long)
        scores = self.scorer(users).clone()
        for row, items in enumerate(self.data.items_by_user([str(u) for u in user_ids], "train")):
            scores[row, torch.tensor(items, dtype=torch.long)] = float("-inf")
        return scores.argmax(dim=1).tolist()

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        texts = self.data.items["text"].tolist()
        return [{"user_id": str(u), "text": texts[i], "image": Image.fromarray(self.images[i]), "item": int(i)}
                for u, i in zip(user_ids, self.top_items(user_ids))]

    def config(self) -> dict[str, Any]:
        return {"reads": "train split", "recommender": self.recommender,
                f"valid_{SELECTION_METRIC}": self.validation, "selected_by": f"valid {SELECTION_METRIC}"}
