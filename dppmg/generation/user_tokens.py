"""Per-user continuous tokens on the shared backbones: the mechanism of the PEPLER and textual
inversion baselines, which are DPPMG's token embeddings without the graph and without quantization.

Each user gets ``k`` tokens of their own (``<{prefix}_{user}_{j}>``) in one generator's tokenizer
(the LM's for text, the MiniLM conditioner's for images), each row initialised, as DPPMG's are,
from the embeddings of the words of the user's history texts
(:func:`~dppmg.generation.injection.init_from_texts`). :class:`UserTokens` offers the surface that
Stage 2's training loops read (:func:`~dppmg.generation.train.train_text_tokens` /
:func:`~dppmg.generation.train.train_image_tokens`), so the rows are learned by the same loss,
optimizer, steps, batch size and validation choice of the step as DPPMG's tokens; only what a
token stands for differs (one user instead of a shared code). Trained rows are cached per
(dataset, backbone, config, seed). A user without training history has no training pairs: their
rows keep the initialisation's fallback, the mean embedding of every user's history words (the
"average user", as DPPMG's cold-start rule gives such users the mean preference).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch

from dppmg.data.schema import data_signature
from dppmg.errors import ConfigError, DPPMGError
from dppmg.generation.backbones import Backbones
from dppmg.generation.image_backbone import TextCondition
from dppmg.generation.injection import PreferenceTokenEmbedding, new_token_embedding
from dppmg.generation.prompts import text_prompt
from dppmg.generation.train import train_image_tokens, train_text_tokens
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, read_versioned_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir

USER_TOKENS_VERSION = 1


def user_token_names(data, k: int, prefix: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each user's ``k`` token names (``<{prefix}_{user index}_{j}>``) and, per token, the texts of
    the user's training history its embedding is initialised from."""
    users = data.users["user_id"].tolist()
    token_of = {u: [f"<{prefix}_{i}_{j}>" for j in range(k)] for i, u in enumerate(users)}
    texts = data.items["text"].tolist()
    histories = data.items_by_user(users, "train")
    meanings = {t: [texts[i] for i in h] for u, h in zip(users, histories) for t in token_of[u]}
    return token_of, meanings


class UserTokens:
    """``k`` learned tokens per user in the ``modality`` generator of ``backbones``.

    Args:
        backbones: the dataset's shared :class:`~dppmg.generation.backbones.Backbones`.
        modality: ``"text"`` (tokens in the LM's prompt) or ``"image"`` (tokens as the image prompt).
        k: tokens per user.
        prefix: the token names' prefix (one per method, so two methods never share a name).
    """

    def __init__(self, backbones: Backbones, modality: str, k: int, prefix: str):
        if modality not in ("text", "image"):
            raise ConfigError(f"modality must be 'text' or 'image', got {modality!r}")
        if k < 1:
            raise ConfigError(f"k (tokens per user) must be at least 1, got {k}")
        self.backbones, self.modality, self.k, self.prefix = backbones, modality, k, prefix
        data = backbones.data
        self.config = backbones.stage2
        self.text_model, self.text_tokenizer = backbones.text_model, backbones.tokenizer
        self.image_backbone = backbones.image
        self.token_of, meanings = user_token_names(data, k, prefix)
        tokens = [t for names in self.token_of.values() for t in names]
        if modality == "text":
            self.text_tokens = new_token_embedding(self.text_tokenizer, self.text_model.get_input_embeddings(),
                                                   tokens, meanings)
        else:
            conditioner = self.image_backbone.conditioner
            self.image_tokens = new_token_embedding(conditioner.tokenizer, conditioner.model.get_input_embeddings(),
                                                    tokens, meanings)

    @property
    def module(self) -> PreferenceTokenEmbedding:
        return self.text_tokens if self.modality == "text" else self.image_tokens

    # ----- what Stage 2's training loops read ----------------------------------------------
    def _tokens(self, user_id: str) -> list[str]:
        if user_id not in self.token_of:
            raise DPPMGError(f"unknown user id {user_id!r} ({len(self.token_of)} users have tokens)")
        return self.token_of[user_id]

    def text_prompt(self, user_id: str) -> str:
        return text_prompt(self._tokens(user_id))

    def image_prompt(self, user_id: str, text: str | None = None) -> str:
        return " ".join(self._tokens(user_id))

    def text_embeds(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_tokens(input_ids, self.text_model.get_input_embeddings())

    def image_condition(self, prompts: Sequence[str]) -> TextCondition:
        return self.image_backbone.conditioner.condition_with_tokens(prompts, self.image_tokens)

    # ----- training and generation ---------------------------------------------------------
    def cache_folder(self, seed: int, cache_dir: str | os.PathLike | None = None) -> Path:
        data = self.backbones.data
        backbone = (self.config.text.kind if self.modality == "text" else self.image_backbone.folder.name)
        steps = self.config.text_steps if self.modality == "text" else self.config.image_steps
        key = stable_hash(USER_TOKENS_VERSION, self.modality, self.k, self.prefix, backbone, data_signature(data),
                          {"steps": steps, "batch_size": self.config.batch_size, "lr": self.config.lr,
                           "validation": [self.config.validation_every, self.config.validation_pairs],
                           "max_length": self.config.text.max_length}, seed)
        return resolve_cache_dir(cache_dir) / "user_tokens" / f"{data.name}-{self.prefix}-seed{seed}-{key}"

    def train(self, seed: int, cache_dir: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
        """Learn the rows (or load them from the cache); returns the losses and the validation choice."""
        folder = self.cache_folder(seed, cache_dir)
        with cache.lock(folder, f"{self.prefix} user tokens"):
            if cache.reuse(folder, f"{self.prefix} user tokens"):
                state = torch.load(folder / "tokens.pt")
                if state["tokens"] != self.module.tokens:
                    raise DPPMGError(f"{folder}: its tokens are not this dataset's users'")
                self.module.weight.data.copy_(state["weight"])
                return read_versioned_json(folder / "training.json", USER_TOKENS_VERSION, "user tokens")["training"]
            generator = torch.Generator().manual_seed(seed)
            if self.modality == "text":
                losses, validation = train_text_tokens(self, self.backbones.data, generator, progress)
            else:
                losses, validation = train_image_tokens(self, self.backbones.data, generator, progress=progress)
            training = {"losses": [round(x, 5) for x in losses], "validation": validation}
            with cache.entry(folder, self.backbones.data.name) as tmp:
                torch.save({"tokens": self.module.tokens, "weight": self.module.weight.detach()}, tmp / "tokens.pt")
                atomic_write_json(tmp / "training.json", {"version": USER_TOKENS_VERSION, "training": training})
            return training

    @torch.no_grad()
    def generate_texts(self, user_ids: Sequence[str], seed: int) -> list[str]:
        return self.backbones.texts_from_prompts([self.text_prompt(u) for u in user_ids], seed, embed=self.text_embeds)

    @torch.no_grad()
    def generate_images(self, user_ids: Sequence[str], seed: int) -> list:
        return self.backbones.images_from_condition(self.image_condition([self.image_prompt(u) for u in user_ids]),
                                                    seed)
