"""An example of a new method in one file (Tutorial 4): prompt both shared backbones with the
user's most recent training item.

The text is the catalogue-adapted LM's continuation of ``Preferences: <last item's first words>``
and the image is the image backbone's sample for the same words: a user enters each generator
through one text, with nothing trained per user. It is not registered; Tutorial 4 registers it for
its own process with ``dppmg.registry.register_method(LastItemPrompt)``, and one line under
``[project.entry-points."dppmg.methods"]`` in ``pyproject.toml`` would register it everywhere::

    last-item-prompt = "baselines.examples.last_item_prompt:LastItemPrompt"
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.generation.backbones import load_backbones
from dppmg.generation.prompts import leading_words
from dppmg.interface import GenerationMethod


class LastItemPrompt(GenerationMethod):
    name = "last-item-prompt"
    description = "text and image: both backbones prompted with the user's most recent training item"
    kind = "generation"
    suites = ("evaluation",)
    order = 70
    words = 12

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True, **overrides):
        self.backbones = load_backbones(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                        progress=progress)
        return self.backbones.data

    def prompts(self, user_ids: Sequence[str]) -> list[str]:
        data = self.backbones.data
        texts = data.items["text"].tolist()
        # items_by_user is in time order; a user with no training item gets the empty prompt.
        return [leading_words(texts[h[-1]], self.words) if len(h) else ""
                for h in data.items_by_user(list(user_ids), "train")]

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        user_ids = [str(u) for u in user_ids]
        prompts = self.prompts(user_ids)
        texts = self.backbones.texts_from_prompts([f"Preferences: {p}\nItem:" for p in prompts], seed)
        images = self.backbones.images_from_texts(prompts, seed)
        return [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]

    def config(self) -> dict[str, Any]:
        return {"words": self.words, "source": "the user's most recent training item"}
