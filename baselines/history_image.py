"""IP-Adapter-style conditioning on the user's history images (Ye et al., 2023, "IP-Adapter: Text
Compatible Image Prompt Adapter for Text-to-Image Diffusion Models"; the mechanism Pigeon and
PMG-Bench's IP-Adapter baseline personalize with).

IP-Adapter maps the image-encoder embedding of a reference image into ``k`` extra tokens that the
frozen UNet attends to beside the text tokens, and trains only the mapping on (image, same image)
pairs. Here:

* **Projection.** :class:`ImagePromptProjection`: the item's frozen EfficientNet-Lite0 feature
  (the one Stage 1 reads, L2-normalised) through a linear map and a LayerNorm into ``k`` tokens of
  the conditioner's 384-d hidden space, ``c_img = LN(W f + b)`` reshaped to ``(k, 384)``.
* **Training.** On the catalogue: each item's own image feature conditions the denoising of that
  item's image (Stage 2's epsilon-prediction loss, steps, batch size and learning rate), with the
  empty text in the text tokens' place, as at generation. The UNet and the conditioner stay
  frozen. The step kept is chosen on the validation split: every ``validation_every`` steps the
  loss of denoising validation users' validation items conditioned on the users' history images,
  which is what generation asks of the adapter.
* **Generation.** The condition is the mean of the user's training-history image features
  (renormalised); guidance is against the empty text with the image tokens masked out, which is
  the backbone's own unconditional input.

What differs from IP-Adapter: its decoupled cross-attention gives the image tokens their own
key/value projections (new weights in every cross-attention layer); here the frozen UNet's own
key/value projections read them, so only the projection is trained, within Stage 2's budget. A
user with no training history (none survives this suite's processing, but a plug-in dataset may
have one) is conditioned on the catalogue's mean feature, and the result file counts them. Its
text is the non-personalized backbone's.

At the ``paper`` preset, :class:`PaperHistoryImage` puts the same projection in front of Stable
Diffusion's UNet: the image tokens follow the CLIP embedding of the empty prompt, and guidance is
against the tokens of a zero image feature, as IP-Adapter's unconditional image embedding is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dppmg.data.features import item_features
from dppmg.data.images import load_image_array
from dppmg.data.schema import data_signature
from dppmg.generation.image_backbone import TextCondition, diffusion_loss, images_to_tensor, train_scheduler
from dppmg.generation.reuse import tensor_fingerprint
from dppmg.generation.train import KeepBest, validation_pairs
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, read_versioned_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.interface import UnimodalMethod

ADAPTER_VERSION = 1


class ImagePromptProjection(nn.Module):
    """IP-Adapter's image projection: one image feature into ``k`` cross-attention tokens,
    ``LN(W f + b)`` reshaped to ``(k, dim)``.

    Args:
        feature_dim: the image feature's size (1280 for EfficientNet-Lite0).
        dim: the UNet's cross-attention size (the conditioner's hidden size, 384).
        k: tokens per image.
    """

    def __init__(self, feature_dim: int, dim: int, k: int):
        super().__init__()
        self.k, self.dim = k, dim
        self.proj = nn.Linear(feature_dim, k * dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(features).view(len(features), self.k, self.dim))


def with_image_tokens(text: TextCondition, tokens: torch.Tensor) -> TextCondition:
    """``text`` (one row, broadcast) followed by ``tokens`` ``(n, k, dim)`` as attended positions."""
    n, k = tokens.shape[:2]
    hidden = torch.cat([text.hidden.expand(n, -1, -1), tokens.to(text.hidden.dtype)], dim=1)
    mask = torch.cat([text.mask.expand(n, -1), torch.ones(n, k, dtype=text.mask.dtype)], dim=1)
    return TextCondition(hidden, mask, text.pooled.expand(n, -1))


def masked_padding(text: TextCondition, k: int) -> TextCondition:
    """``text`` with ``k`` masked-out positions appended: the same condition, the same length as
    one with ``k`` image tokens (classifier-free guidance concatenates the two)."""
    zeros = torch.zeros(len(text), k, text.hidden.shape[-1], dtype=text.hidden.dtype)
    return TextCondition(torch.cat([text.hidden, zeros], dim=1),
                         torch.cat([text.mask, torch.zeros(len(text), k, dtype=text.mask.dtype)], dim=1), text.pooled)


class HistoryImage(UnimodalMethod):
    name = "history-image"
    description = "image: the user's mean history-image feature as extra cross-attention tokens (IP-Adapter style)"
    kind = "generation"
    order = 31
    modality = "image"
    k = 4

    def fit_modality(self, backbones, preset, seed, *, cache_dir=None, progress=True):
        data = backbones.data
        features = item_features(data, "image", cache_dir=cache_dir, progress=progress)
        self.features = F.normalize(torch.from_numpy(np.asarray(features, dtype=np.float32)), dim=-1)
        self.empty = backbones.image.conditioner.encode([""])
        # The initial weights come from the seed alone, not from whatever drew from torch's global generator.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.projection = ImagePromptProjection(self.features.shape[1], backbones.image.conditioner.dim, self.k)
        self.training = self._load_or_train(seed, cache_dir, progress)
        self.info["token_losses"] = {"image": self.training["losses"]}
        self.info["users_without_history"] = 0

    # ----- training --------------------------------------------------------------------------
    def cache_folder(self, seed: int, cache_dir: str | os.PathLike | None = None) -> Path:
        config, data = self.backbones.stage2, self.backbones.data
        key = stable_hash(ADAPTER_VERSION, self.k, self.backbones.image.folder.name, data_signature(data),
                          {"steps": config.image_steps, "batch_size": config.batch_size, "lr": config.lr,
                           "validation": [config.validation_every, config.validation_pairs]}, seed)
        return resolve_cache_dir(cache_dir) / "image_adapter" / f"{data.name}-seed{seed}-{key}"

    def history_features(self, user_ids: Sequence[str]) -> torch.Tensor:
        """Per user, the renormalised mean of their training-history image features."""
        histories = self.backbones.data.items_by_user(list(user_ids), "train")
        fallback = self.features.mean(0)
        rows = []
        for h in histories:
            rows.append(self.features[torch.from_numpy(np.array(h, dtype=np.int64))].mean(0) if len(h) else fallback)
        self.info["users_without_history"] = self.info.get("users_without_history", 0) + sum(not len(h) for h in histories)
        return F.normalize(torch.stack(rows), dim=-1)

    def condition(self, features: torch.Tensor) -> TextCondition:
        return with_image_tokens(self.empty, self.projection(features))

    def _load_or_train(self, seed: int, cache_dir, progress: bool) -> dict[str, Any]:
        folder = self.cache_folder(seed, cache_dir)
        with cache.lock(folder, "history-image adapter"):
            if cache.reuse(folder, "history-image adapter"):
                self.projection.load_state_dict(torch.load(folder / "projection.pt"))
                return read_versioned_json(folder / "training.json", ADAPTER_VERSION, "history-image adapter")["training"]
            training = self._train(torch.Generator().manual_seed(seed), cache_dir, progress)
            with cache.entry(folder, self.backbones.data.name) as tmp:
                torch.save(self.projection.state_dict(), tmp / "projection.pt")
                atomic_write_json(tmp / "training.json", {"version": ADAPTER_VERSION, "training": training})
            return training

    def _train(self, generator: torch.Generator, cache_dir, progress: bool) -> dict[str, Any]:
        config, data, backbone = self.backbones.stage2, self.backbones.data, self.backbones.image
        images = images_to_tensor(load_image_array(data, backbone.config.width, backbone.config.height,
                                                   cache_dir=cache_dir))
        scheduler = train_scheduler(backbone.config)
        held = validation_pairs(data, config.validation_pairs)
        user_ids = data.users["user_id"].tolist()
        held_features = self.history_features([user_ids[u] for u in held[:, 0]]) if len(held) else None

        @torch.no_grad()
        def validation_loss() -> float:
            fixed = torch.Generator().manual_seed(0)
            losses, weights = [], []
            for i in range(0, len(held), config.batch_size):
                chunk = slice(i, i + config.batch_size)
                cond = self.condition(held_features[chunk])
                losses.append(float(diffusion_loss(backbone.unet, scheduler, images[held[chunk, 1]], cond, fixed)))
                weights.append(len(held[chunk]))
            return float(np.average(losses, weights=weights))

        keep = KeepBest(self.projection, config, validation_loss)
        keep.every = keep.every if len(held) else 0
        optim = torch.optim.Adam(self.projection.parameters(), lr=config.lr)
        losses = []
        keep(0, config.image_steps == 0)
        for step in tqdm(range(1, config.image_steps + 1), desc="history-image adapter", disable=not progress,
                         leave=False):
            idx = torch.randint(len(images), (config.batch_size,), generator=generator)
            loss = diffusion_loss(backbone.unet, scheduler, images[idx], self.condition(self.features[idx]), generator)
            optim.zero_grad()
            loss.backward()
            optim.step()
            losses.append(round(float(loss.detach()), 5))
            keep(step, step == config.image_steps)
        validation = keep.finish()
        return {"losses": losses, "validation": validation}

    # ----- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list:
        cond = self.condition(self.history_features(user_ids))
        return self.backbones.images_from_condition(cond, seed, uncond=masked_padding(self.empty, self.k))

    def trained_state(self) -> str:
        return tensor_fingerprint(self.projection)

    def config(self) -> dict[str, Any]:
        stage2 = self.backbones.stage2
        return {"k": self.k, "features": "EfficientNet-Lite0 image features, L2-normalised",
                "condition": "mean of the user's training-history image features", "steps": stage2.image_steps,
                "batch_size": stage2.batch_size, "lr": stage2.lr,
                "chosen_step": self.training["validation"].get("chosen_step"),
                "users_without_history": self.info.get("users_without_history", 0)}


class PaperHistoryImage:
    """The history-image adapter on Stable Diffusion (the ``paper`` preset).

    Args:
        generator: DPPMG's :class:`~dppmg.generation.paper.PaperImageGenerator`, built without new
            tokens (its UNet, VAE and text encoder stay frozen).
        feature_dim: the image feature's size.
        k: image tokens.
        seed: the projection's initial weights.
    """

    def __init__(self, generator, feature_dim: int, k: int = 4, seed: int = 0):
        self.generator, self.k = generator, k
        dim = generator.pipeline.text_encoder.config.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.projection = ImagePromptProjection(feature_dim, dim, k)
        with torch.no_grad():
            self.empty = generator.encode_prompts([""])

    def embeds(self, features: torch.Tensor) -> torch.Tensor:
        """The UNet's cross-attention input: the empty prompt's CLIP states, then the image tokens."""
        tokens = self.projection(features.to(self.empty.dtype))
        return torch.cat([self.empty.expand(len(features), -1, -1), tokens], dim=1)

    def loss(self, images: torch.Tensor, features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each image denoised under its own feature's tokens (train on the catalogue)."""
        return self.generator.loss_from_embeds(images, self.embeds(features), generator)

    @torch.no_grad()
    def generate(self, features: torch.Tensor, seed: int, **generate_kwargs) -> list:
        """One image per row of ``features`` (e.g. users' mean history features)."""
        return self.generator.generate_from_embeds(self.embeds(features), self.embeds(torch.zeros_like(features)),
                                                   seed, **generate_kwargs)
