"""PMG (Shen et al., WWW 2024, "PMG: Personalized Multimodal Generation with Large Language
Models"), its keyword path: preference keywords from the user's history become the image prompt,
and of N sampled candidates the one the reward model scores best against the keywords is kept.

PMG has an LLM read the user's history and write preference keywords, conditions Stable Diffusion
on them (with a soft preference embedding beside them) and picks among candidates by CLIP score
against the keywords. Here:

* **Keywords.** TF-IDF over the user's history texts (term counts in the history, inverse
  document frequency over the catalogue texts, English stop words removed): the ``keywords``
  highest-weighted words, highest first (fewer when the history has fewer words; none for a user
  without training history, whose prompt is then the empty text: the unconditional image). This is the documented fallback for PMG's LLM step; the
  135M-parameter LM of this suite does not follow a keyword-extraction instruction reliably.
* **Image.** The keywords, comma-separated, are the text prompt of the shared image backbone
  (the one DPPMG's image generator uses), sampled ``candidates`` times with different noise.
* **Pick.** The candidate with the highest reward-model image-text score against the keyword
  prompt, as PMG picks by CLIP score: the reward model is the suite's CLIP stand-in, never the
  evaluator.

PMG's soft-prompt part (a learned preference embedding appended to the keywords) has no released
code and is not implemented. Its text is the non-personalized backbone's. At the ``paper`` preset,
:func:`paper_generate` samples the candidates from Stable Diffusion.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from dppmg.data.features import encode_lowres_images, get_encoder
from dppmg.generation.reuse import tensor_fingerprint
from dppmg.interface import UnimodalMethod


def history_keywords(histories: Sequence[np.ndarray], texts: Sequence[str], n: int) -> list[list[str]]:
    """Per user, the ``n`` words of highest TF-IDF weight in their history texts (IDF over ``texts``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", sublinear_tf=True)
    vectorizer.fit(texts)
    vocabulary = vectorizer.get_feature_names_out()
    docs = [" ".join(texts[i] for i in h) for h in histories]
    weights = vectorizer.transform(docs).toarray()
    out = []
    for row in weights:
        nonzero = np.flatnonzero(row)
        order = nonzero[np.argsort(-row[nonzero], kind="stable")][:n]
        out.append([str(vocabulary[j]) for j in order])
    return out


def best_of_candidates(sample: Callable[[int], list], score: Callable[[list], np.ndarray], candidates: int) -> list:
    """Per user, the best of ``candidates`` samples: ``sample(j)`` is the j-th batch of images (one
    per user), ``score(images)`` their scores against the keyword prompts."""
    pools, scores = [], []
    for j in range(candidates):
        images = sample(j)
        pools.append(images)
        scores.append(np.asarray(score(images), dtype=float))
    best = np.argmax(np.stack(scores), axis=0)
    return [pools[b][u] for u, b in enumerate(best)]


def paper_generate(generator, prompts: Sequence[str], score: Callable[[list], np.ndarray], seed: int,
                   candidates: int = 4, **generate_kwargs) -> list:
    """PMG on a local Stable Diffusion folder (the ``paper`` preset): ``generator`` is DPPMG's
    adapter built without new tokens (:class:`~dppmg.generation.paper.PaperImageGenerator`), the
    keyword ``prompts`` (:func:`history_keywords`) its prompts, and ``score`` the reward model's
    image-text score against them, as PMG picks by CLIP score."""
    return best_of_candidates(lambda j: generator.generate(list(prompts), seed * candidates + j, **generate_kwargs),
                              score, candidates)


class PMG(UnimodalMethod):
    name = "pmg"
    description = "image: TF-IDF preference keywords as the prompt, best of N candidates by the reward model (PMG)"
    kind = "generation"
    order = 30
    modality = "image"
    keywords = 8
    candidates = 4
    generation_items = {"image": candidates}

    def fit_modality(self, backbones, preset, seed, *, cache_dir=None, progress=True):
        from dppmg.reward.model import load_or_train_reward_model

        self.data = backbones.data
        self.reward_model, _ = load_or_train_reward_model(self.data, preset, cache_dir, progress)

    def prompts(self, user_ids: Sequence[str]) -> list[str]:
        words = history_keywords(self.data.items_by_user(list(user_ids), "train"), self.data.items["text"].tolist(),
                                 self.keywords)
        return [", ".join(w) for w in words]

    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list:
        prompts = self.prompts(user_ids)
        prompt_features = get_encoder("text").encode(prompts, progress=False)
        cond = self.backbones.image.conditioner.encode(prompts)
        return best_of_candidates(lambda j: self.backbones.images_from_condition(cond, seed * self.candidates + j),
                                  lambda images: self.reward_model.score(encode_lowres_images(images), prompt_features),
                                  self.candidates)

    def trained_state(self) -> str:
        return tensor_fingerprint(self.reward_model)

    def config(self) -> dict[str, Any]:
        return {"keywords": self.keywords, "keyword_source": "TF-IDF over history texts (IDF: catalogue)",
                "candidates": self.candidates, "picked_by": "reward model image-text score against the keywords"}
