"""LaMP-style retrieval-augmented prompting (Salemi et al., ACL 2024, "LaMP: When Large Language
Models Meet Personalization"): a text baseline that trains nothing per user.

LaMP personalizes a frozen LM by putting the user's most relevant profile entries into its
prompt. Here the profile is the user's training history and the task has no input query (the
model describes a new item for the user), so relevance is MiniLM cosine similarity to the user's
profile centroid, the mean MiniLM embedding of their history texts: the k history items most
typical of the user, most similar first. (BM25 needs a query text, which this task does not have;
with the centroid as the query the dense retriever LaMP also evaluates applies directly.) Each
retrieved text is cut to ``words_per_item`` words and the prompt reads::

    Preferences: <text 1> | <text 2> | <text 3>
    Item:

(k larger than the history takes the whole history; a user without training history gets the
frame with no texts, the non-personalized prompt), the same frame as DPPMG's token prompt, so the catalogue-adapted LM that DPPMG's text generator
uses (LoRA-adapted to the catalogue's texts) continues it with an item text. Its image is the
non-personalized backbone's (:class:`~dppmg.interface.UnimodalMethod`). At the ``paper`` preset,
:func:`paper_generate` sends the same prompts to any local causal LM.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from dppmg.data.features import item_features
from dppmg.generation.prompts import leading_words
from dppmg.interface import UnimodalMethod


def most_typical(history: np.ndarray, features: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items of ``history`` closest (cosine) to the history's mean feature, closest first."""
    if not len(history):
        return history
    vecs = features[history] / np.maximum(np.linalg.norm(features[history], axis=1, keepdims=True), 1e-12)
    centroid = vecs.mean(0)
    order = np.argsort(-(vecs @ centroid), kind="stable")
    return history[order[:k]]


def lamp_prompts(data, text_features: np.ndarray, user_ids: Sequence[str], k: int, words_per_item: int) -> list[str]:
    """Per user, the prompt holding their ``k`` most typical history texts (:func:`most_typical`)."""
    texts = data.items["text"].tolist()
    out = []
    for history in data.items_by_user(list(user_ids), "train"):
        chosen = most_typical(history, text_features, k)
        out.append(f"Preferences: {' | '.join(leading_words(texts[i], words_per_item) for i in chosen)}\nItem:")
    return out


def paper_generate(generator, data, text_features: np.ndarray, user_ids: Sequence[str], seed: int,
                   k: int = 3, words_per_item: int = 16, **generate_kwargs) -> list[str]:
    """LaMP on a local causal LM (the ``paper`` preset): ``generator`` is DPPMG's adapter built
    without new tokens (:class:`~dppmg.generation.paper.PaperTextGenerator`, LoRA-adapted to the
    catalogue as DPPMG's is); the same retrieved prompts, nothing trained per user."""
    return generator.generate(lamp_prompts(data, text_features, user_ids, k, words_per_item), seed, **generate_kwargs)


class LaMP(UnimodalMethod):
    name = "lamp"
    description = "text: the k most typical history texts in the LM's prompt (LaMP retrieval augmentation)"
    kind = "generation"
    order = 20
    modality = "text"
    k = 3
    words_per_item = 16
    # Prompts are cut from the left to this many tokens (the smoke LM has 128 positions).
    max_prompt_tokens = 96

    def fit_modality(self, backbones, preset, seed, *, cache_dir=None, progress=True):
        data = backbones.data
        self.data = data
        self.text_features = item_features(data, "text", cache_dir=cache_dir, progress=False)

    def prompts(self, user_ids: Sequence[str]) -> list[str]:
        return lamp_prompts(self.data, self.text_features, user_ids, self.k, self.words_per_item)

    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list[str]:
        ids = [p[-self.max_prompt_tokens:] for p in self.backbones.prompt_ids(self.prompts(user_ids))]
        return self.backbones.texts_from_prompts(ids, seed)

    def trained_state(self) -> str:
        import hashlib

        return hashlib.sha256(np.ascontiguousarray(self.text_features).tobytes()).hexdigest()[:16]

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "retrieval": "MiniLM cosine to the user's mean history text embedding",
                "words_per_item": self.words_per_item, "max_prompt_tokens": self.max_prompt_tokens,
                "text_generation": {k: getattr(self.backbones.stage2, k)
                                    for k in ("max_new_tokens", "top_p", "temperature", "text_batch_size")}}
