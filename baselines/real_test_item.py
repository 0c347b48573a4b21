"""A reference, not a method: each user's real next item (the first item of their test period).

It answers "what do the metrics give for the item the user actually chose next?". It reads the
test split, which no method may do, so its row is an upper reference for the personalization
tests (own history vs another user's) and for consistency (a real catalogue image with its own
text), not a competitor. A user without a test interaction has no next item: an error names it.
"""

from __future__ import annotations

from typing import Any, Sequence

from PIL import Image

from dppmg.data import load_dataset
from dppmg.data.images import load_image_array
from dppmg.errors import DPPMGError
from dppmg.interface import GenerationMethod


class RealTestItem(GenerationMethod):
    name = "real-test-item"
    description = "reference: the user's real next item (first test interaction); reads the test split"
    kind = "reference"
    order = 90
    generation_items = {}  # looks items up: generates nothing

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        self.data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        self.images = load_image_array(self.data, cache_dir=cache_dir)
        return self.data

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        tests = self.data.items_by_user(list(user_ids), "test")
        missing = [u for u, t in zip(user_ids, tests) if not len(t)]
        if missing:
            raise DPPMGError(f"{self.name}: user(s) {missing[:5]} have no test interaction in {self.data.name!r}")
        texts = self.data.items["text"].tolist()
        return [{"user_id": u, "text": texts[t[0]], "image": Image.fromarray(self.images[t[0]]), "item": int(t[0])}
                for u, t in zip(user_ids, tests)]

    def config(self) -> dict[str, Any]:
        return {"reads": "test split", "item": "first test interaction in time order"}
