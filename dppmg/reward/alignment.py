"""Image–text alignment models: CLIP-style projection heads over frozen features.

Two independent models are trained per dataset, contrastively on the catalogue's (image, text)
pairs (Radford et al., 2021, "Learning Transferable Visual Models From Natural Language
Supervision"):

    s(i, t) = cos(g_img(f_img(i)), g_txt(f_txt(t))),
    L = ½ [CE(softmax_t(s(i, ·)/τ), t_i) + CE(softmax_i(s(·, t)/τ), i_t)],

with f_img the frozen EfficientNet-Lite0 features of the image *at the generators' resolution*
(see :func:`dppmg.data.features.lowres_item_features`), f_txt the frozen MiniLM sentence embedding and
a learned temperature τ.

* The **reward model** (:mod:`dppmg.reward.model`; linear heads, 256-d, seed 1001) scores
  generations during Stage 3 reward fine-tuning.
* The **evaluator** (:mod:`dppmg.evaluation.evaluator`; two-layer MLP heads, 128-d, seed 2002)
  scores them in ``dppmg evaluate``. It never shares weights with the reward model, so a method
  that games the reward shows as a gap between the two.

Both follow one exclusion rule (:func:`training_items`): they train on the items of the training
interactions only, minus a fixed held-out tenth of the catalogue chosen by item-id hash. Neither
reads the validation or test split, and neither has seen a held-out item or an item first seen in
the test period: consistency is measured on those (:mod:`dppmg.evaluation.consistency`).

This module holds what both are made of; their settings per preset are in :mod:`dppmg.config`.

Both are evaluated by text→image retrieval on the same held-out items (R@1, R@10, with chance).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dppmg.data.features import item_features, lowres_item_features
from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.reward.config import ROLES, AlignmentConfig  # noqa: F401  (defined with the stage's configs)

# 3: one exclusion rule for both models (training interactions' items minus a hash held-out set).
ALIGNMENT_VERSION = 3
class ProjectionHead(nn.Module):
    def __init__(self, in_dim: int, config: AlignmentConfig):
        super().__init__()
        if config.head == "linear":
            self.net = nn.Linear(in_dim, config.dim)
        else:
            self.net = nn.Sequential(nn.Linear(in_dim, config.hidden), nn.GELU(), nn.LayerNorm(config.hidden),
                                     nn.Linear(config.hidden, config.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


class AlignmentModel(nn.Module):
    """CLIP-style image–text alignment over frozen features (see the module docstring).

    Args:
        config: the model's :class:`AlignmentConfig`.
        image_dim / text_dim: sizes of the frozen image and text features.
        feature_mean: per-modality means subtracted before the heads (``{"image": ..., "text": ...}``).
    """

    def __init__(self, config: AlignmentConfig, image_dim: int = 1280, text_dim: int = 384):
        super().__init__()
        self.config = config
        self.image_head = ProjectionHead(image_dim, config)
        self.text_head = ProjectionHead(text_dim, config)
        self.log_inv_temperature = nn.Parameter(torch.tensor(float(np.log(1 / config.init_temperature))))
        self.register_buffer("image_mean", torch.zeros(image_dim))
        self.register_buffer("text_mean", torch.zeros(text_dim))

    def embed_images(self, feats: torch.Tensor) -> torch.Tensor:
        return self.image_head(feats - self.image_mean)

    def embed_texts(self, feats: torch.Tensor) -> torch.Tensor:
        return self.text_head(feats - self.text_mean)

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """Alignment score of each (image, text) pair, in [-1, 1]."""
        return (self.embed_images(image_feats) * self.embed_texts(text_feats)).sum(-1)

    def similarity(self, image_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """(n_texts, n_images) score matrix."""
        return self.embed_texts(text_feats) @ self.embed_images(image_feats).T

    @torch.no_grad()
    def score(self, image_feats: np.ndarray, text_feats: np.ndarray) -> np.ndarray:
        return self(torch.as_tensor(image_feats, dtype=torch.float32),
                    torch.as_tensor(text_feats, dtype=torch.float32)).numpy()


def heldout_items(data: InteractionData, fraction: float) -> np.ndarray:
    """Items neither alignment model trains on: a fixed ``fraction`` of the catalogue chosen by a
    hash of the item ids alone, so the choice reads no interaction (and no split)."""
    ids = data.items["item_id"].astype(str).tolist()
    draw = np.array([int(stable_hash("alignment-heldout", data.name, i)[:8], 16) / 16**8 for i in ids])
    return np.flatnonzero(draw < fraction)


def training_items(data: InteractionData, config: AlignmentConfig) -> np.ndarray:
    """The one exclusion rule of both alignment models: the items of the training interactions,
    minus the held-out items. It reads the training split only, so perturbing the validation or
    test interactions cannot change either model; items first seen in the validation or test
    period (and the held-out ones) are never trained on."""
    seen = np.unique(data.user_item_pairs("train")[:, 1])
    return np.setdiff1d(seen, heldout_items(data, config.heldout_fraction))


def retrieval_report(model: AlignmentModel, image_feats: np.ndarray, text_feats: np.ndarray,
                     items: np.ndarray) -> dict[str, Any]:
    """Text→image retrieval among ``items``: the fraction of texts whose own image ranks in the top k."""
    with torch.no_grad():
        sims = model.similarity(torch.as_tensor(image_feats[items]), torch.as_tensor(text_feats[items])).numpy()
    rank = (sims > np.diag(sims)[:, None]).sum(axis=1)
    n = len(items)
    return {"items": n, "R@1": float((rank < 1).mean()), "R@10": float((rank < 10).mean()),
            "chance R@1": 1 / n, "chance R@10": min(10, n) / n, "median rank": float(np.median(rank) + 1)}


def train_alignment(image_feats: np.ndarray, text_feats: np.ndarray, items: np.ndarray, config: AlignmentConfig,
                    progress: bool = True) -> tuple[AlignmentModel, dict[str, Any]]:
    """Train one alignment model on the (image, text) pairs of ``items``.

    A ``validation_fraction`` of ``items`` (drawn with the model's seed) picks the epoch: the
    weights with the best validation text→image R@10 are kept (patience ``patience`` epochs).
    Returns (model, history with per-epoch loss and validation R@10 and the chosen epoch).
    """
    if len(items) < 4:
        raise DPPMGError(f"an alignment model needs at least four training items, got {len(items)}")
    rng = np.random.default_rng(config.seed)
    n_val = max(2, int(round(config.validation_fraction * len(items))))
    shuffled = rng.permutation(items)
    val_items, fit_items = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = AlignmentModel(config, image_feats.shape[1], text_feats.shape[1])
    img = torch.as_tensor(image_feats[fit_items], dtype=torch.float32)
    txt = torch.as_tensor(text_feats[fit_items], dtype=torch.float32)
    model.image_mean.copy_(img.mean(0))
    model.text_mean.copy_(txt.mean(0))
    generator = torch.Generator().manual_seed(config.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history: dict[str, Any] = {"loss": [], "valid_R@10": [], "fit_items": int(len(fit_items)),
                               "validation_items": int(len(val_items))}
    best, best_state, since_best = -1.0, None, 0
    for epoch in tqdm(range(config.epochs), desc=f"alignment ({config.role})", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(fit_items), generator=generator)
        total = 0.0
        for start in range(0, len(fit_items), config.batch_size):
            b = order[start:start + config.batch_size]
            if len(b) < 2:
                continue
            logits = model.similarity(img[b], txt[b]) * model.log_inv_temperature.exp().clamp(max=100.0)
            target = torch.arange(len(b))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(b)
        model.eval()
        valid = retrieval_report(model, image_feats, text_feats, val_items)["R@10"]
        history["loss"].append(round(total / len(fit_items), 5))
        history["valid_R@10"].append(round(valid, 5))
        if valid > best:
            best, best_state, since_best = valid, copy.deepcopy(model.state_dict()), 0
            history["best_epoch"] = epoch + 1
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval().requires_grad_(False)
    return model, history


def alignment_dir(data: InteractionData, config: AlignmentConfig, cache_dir: str | os.PathLike | None = None) -> Path:
    # Keyed by what the model reads: the catalogue and its training items (never the other splits).
    key = stable_hash(ALIGNMENT_VERSION, dataclasses.asdict(config), data.name, data.items["item_id"].tolist(),
                      data.items["text"].tolist(), training_items(data, config).tolist())
    return resolve_cache_dir(cache_dir) / "alignment" / f"{data.name}-{config.role}-{key}"


def alignment_features(data: InteractionData, cache_dir: str | os.PathLike | None = None,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(image, text) features the alignment models read: 32x48 EfficientNet and MiniLM."""
    return (lowres_item_features(data, cache_dir=cache_dir, progress=progress),
            item_features(data, "text", cache_dir=cache_dir, progress=progress))


def load_or_train_alignment(data: InteractionData, config: AlignmentConfig, cache_dir: str | os.PathLike | None = None,
                            progress: bool = True) -> tuple[AlignmentModel, dict[str, Any]]:
    """The cached alignment model of ``config`` for ``data`` (trained if missing) and its report."""
    folder = alignment_dir(data, config, cache_dir)
    image_feats, text_feats = alignment_features(data, cache_dir, progress)
    model = AlignmentModel(config, image_feats.shape[1], text_feats.shape[1])
    with cache.lock(folder, f"{config.role} alignment model"):
        if cache.reuse(folder, f"{config.role} alignment model"):
            model.load_state_dict(torch.load(folder / "model.pt"))
            model.eval().requires_grad_(False)
            return model, json.loads((folder / "report.json").read_text())
        train_items = training_items(data, config)
        model, history = train_alignment(image_feats, text_feats, train_items, config, progress)
        heldout = heldout_items(data, config.heldout_fraction)
        report = {"dataset": data.name, "config": dataclasses.asdict(config), "training_items": int(len(train_items)),
                  "heldout_retrieval": retrieval_report(model, image_feats, text_feats, heldout),
                  "train_retrieval_sample": retrieval_report(model, image_feats, text_feats, train_items[:len(heldout)]),
                  "history": history,
                  "temperature": float(1 / model.log_inv_temperature.exp())}
        with cache.entry(folder, data.name) as tmp:
            torch.save(model.state_dict(), tmp / "model.pt")
            atomic_write_json(tmp / "report.json", report)
        return model, report
