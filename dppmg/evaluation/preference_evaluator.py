"""The learned preference evaluator: would this user like this (generated) item?

A content-based recommender over the frozen item features, in the evaluation lineage of
PMG-Bench's NCF verifier and REBECA's verifier, and of another model class than Stage 1's graph
model: no interaction graph, no user or item ID embeddings, so it scores any image or text,
including a generated one. Per modality m (image: EfficientNet-Lite0 features of the 32x48 image,
the generators' resolution; text: MiniLM),

    x̃ = normalise(x - mean of the catalogue)
    φ_m(x) = W2 GELU(W1 x̃)                               (item tower)
    a_u^m  = ψ_m(mean_{j ∈ H_u} x̃_j),  ψ_m another MLP     (user tower over the pooled history)
    s_m(u, x) = <a_u^m, φ_m(x)> + w_m · φ_m(x)          s(u, i) = s_image(u, i) + s_text(u, i)

trained with BPR on the training interactions (the target item left out of the history it is
scored against, so the model cannot match an item with itself), its own seed, early stopping on
validation AUC. It is used only here, never by a method's training or reward (no training module
imports :mod:`dppmg.evaluation`; a test checks it), and it must beat popularity on test AUC to be
trusted (its report carries both). For generations, ``s_image(u, image_v)`` and
``s_text(u, text_v)`` give the S matrices of the user-identification test
(:mod:`dppmg.evaluation.statistics`).
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
from dppmg.data.schema import InteractionData, data_signature
from dppmg.errors import DPPMGError
from dppmg.evaluation.config import PreferenceEvaluatorConfig
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.preference.model import popularity_scores, sample_negatives
from dppmg.preference.ranking import SparseInteractions, interaction_matrix, ranking_metrics

EVALUATOR_VERSION = 1
MODALITIES = ("image", "text")


class ContentPreferenceModel(nn.Module):
    """The content-based preference evaluator (equations in the module docstring): a two-tower
    model per modality, users as their pooled history features.

    Args:
        dims: input feature size per modality, ``{"image": 1280, "text": 384}``.
        config: its :class:`~dppmg.evaluation.config.PreferenceEvaluatorConfig`.
    """

    def __init__(self, dims: dict[str, int], config: PreferenceEvaluatorConfig):
        super().__init__()
        self.config = config

        def mlp(d_in: int) -> nn.Module:
            return nn.Sequential(nn.Linear(d_in, config.hidden), nn.GELU(), nn.Linear(config.hidden, config.dim))

        self.item_tower = nn.ModuleDict({m: mlp(dims[m]) for m in MODALITIES})
        self.user_tower = nn.ModuleDict({m: mlp(dims[m]) for m in MODALITIES})
        self.bias = nn.ModuleDict({m: nn.Linear(config.dim, 1, bias=False) for m in MODALITIES})
        self.register_buffer("mean_image", torch.zeros(dims["image"]))
        self.register_buffer("mean_text", torch.zeros(dims["text"]))

    def normalise(self, modality: str, feats: torch.Tensor) -> torch.Tensor:
        return F.normalize(feats - getattr(self, f"mean_{modality}"), dim=-1)

    def items(self, modality: str, normalised: torch.Tensor) -> torch.Tensor:
        return self.item_tower[modality](normalised)

    def users(self, modality: str, pooled_history: torch.Tensor) -> torch.Tensor:
        return self.user_tower[modality](pooled_history)

    def score(self, modality: str, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``(n_users, n_items)`` scores of one modality from user and item vectors."""
        return users @ items.T + self.bias[modality](items).T


def pooled_histories(normalised: torch.Tensor, pairs: np.ndarray, num_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per user, the sum of the normalised features of their training items, and their count."""
    sums = torch.zeros(num_users, normalised.shape[1]).index_add(0, torch.as_tensor(pairs[:, 0]),
                                                                 normalised[pairs[:, 1]])
    counts = torch.as_tensor(np.bincount(pairs[:, 0], minlength=num_users), dtype=torch.float32)
    return sums, counts


def _split_matrix(data: InteractionData, split: str) -> torch.Tensor:
    return interaction_matrix(data.user_item_pairs(split), data.num_users, data.num_items)


def ranking_auc(scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor) -> float:
    """Mean over users with targets of the AUC of their targets against every other candidate
    (the excluded known positives are no candidates), from the rank sum of the targets; tied
    scores share their average rank, so a tie counts half."""
    from scipy.stats import rankdata

    aucs = []
    for start in range(0, len(scores), 256):
        t, e = targets[start:start + 256].numpy(), exclude[start:start + 256].numpy()
        s = scores[start:start + 256].double().numpy().copy()
        keep = t.any(1)
        s, t, e = s[keep], t[keep], e[keep] & ~t[keep]
        if not len(s):
            continue
        s[e] = -np.inf  # below every candidate: they fill the lowest ranks, which are then subtracted
        ranks = rankdata(s, axis=1) - e.sum(1, keepdims=True)
        npos, nneg = t.sum(1), (~e).sum(1) - t.sum(1)
        aucs.append((np.where(t, ranks, 0).sum(1) - npos * (npos + 1) / 2) / np.maximum(npos * nneg, 1))
    return float(np.concatenate(aucs).mean()) if aucs else float("nan")


class PreferenceEvaluator:
    """A trained :class:`ContentPreferenceModel` with what it needs to score users of ``data``."""

    def __init__(self, model: ContentPreferenceModel, data: InteractionData, item_feats: dict[str, np.ndarray],
                 report: dict[str, Any], folder: Path | None = None):
        self.model, self.report, self.folder = model.eval().requires_grad_(False), report, folder
        self.user_index = {u: i for i, u in enumerate(data.users["user_id"])}
        pairs = data.user_item_pairs("train")
        with torch.no_grad():
            self.user_vectors = {}
            for m in MODALITIES:
                x = model.normalise(m, torch.as_tensor(item_feats[m], dtype=torch.float32))
                sums, counts = pooled_histories(x, pairs, data.num_users)
                self.user_vectors[m] = model.users(m, sums / counts.clamp(min=1)[:, None])

    @torch.no_grad()
    def score_matrix(self, modality: str, user_ids: list[str], feats: np.ndarray) -> np.ndarray:
        """``S[u, v]`` = the ``modality``-only score of user ``user_ids[u]`` for feature row ``v``."""
        unknown = [u for u in user_ids if u not in self.user_index]
        if unknown:
            raise DPPMGError(f"the preference evaluator knows no user(s) {unknown[:5]}")
        users = self.user_vectors[modality][torch.as_tensor([self.user_index[u] for u in user_ids])]
        items = self.model.items(modality, self.model.normalise(modality, torch.as_tensor(feats, dtype=torch.float32)))
        return self.model.score(modality, users, items).double().numpy()


def preference_evaluator_features(data: InteractionData, cache_dir: str | os.PathLike | None = None,
                                  progress: bool = True) -> dict[str, np.ndarray]:
    """What the evaluator reads of each catalogue item: 32x48 EfficientNet-Lite0 and MiniLM features."""
    return {"image": lowres_item_features(data, cache_dir=cache_dir, progress=progress),
            "text": item_features(data, "text", cache_dir=cache_dir, progress=progress)}


def evaluator_data_signature(data: InteractionData) -> dict[str, Any]:
    """What an evaluator checkpoint must match: what every model trained on ``data`` must
    (:func:`dppmg.data.schema.data_signature`, without the counts its hashes already fix) and
    the valid split, on which the evaluator stops early. Part of its cache key: keep the fields."""
    signature = data_signature(data)
    return {**{k: signature[k] for k in ("dataset", "items", "users", "train")},
            "valid": stable_hash(data.user_item_pairs("valid").tolist())}


def evaluator_dir(data: InteractionData, config: PreferenceEvaluatorConfig,
                  cache_dir: str | os.PathLike | None = None) -> Path:
    key = stable_hash(EVALUATOR_VERSION, dataclasses.asdict(config), evaluator_data_signature(data))
    return resolve_cache_dir(cache_dir) / "preference_evaluator" / f"{data.name}-{key}"


def _fit(data: InteractionData, feats: dict[str, np.ndarray], config: PreferenceEvaluatorConfig,
         progress: bool) -> tuple[ContentPreferenceModel, dict[str, Any]]:
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = ContentPreferenceModel({m: feats[m].shape[1] for m in MODALITIES}, config)
    raw = {m: torch.as_tensor(feats[m], dtype=torch.float32) for m in MODALITIES}
    for m in MODALITIES:
        getattr(model, f"mean_{m}").copy_(raw[m].mean(0))
    x = {m: model.normalise(m, raw[m]) for m in MODALITIES}
    pairs = data.user_item_pairs("train")
    pooled = {m: pooled_histories(x[m], pairs, data.num_users) for m in MODALITIES}
    train, valid = _split_matrix(data, "train"), _split_matrix(data, "valid")
    pair_t = torch.as_tensor(pairs)
    train_pairs = SparseInteractions(pairs, data.num_users, data.num_items)
    optim = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    history, best, best_state, since = [], -1.0, copy.deepcopy(model.state_dict()), 0
    for epoch in tqdm(range(1, config.epochs + 1), desc="preference evaluator", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(pairs), generator=generator)
        total = 0.0
        for start in range(0, len(pairs), config.batch_size):
            batch = pair_t[order[start:start + config.batch_size]]
            users, pos = batch[:, 0], batch[:, 1]
            neg = sample_negatives(users, train_pairs, generator)
            s_pos = s_neg = 0.0
            for m in MODALITIES:
                sums, counts = pooled[m]
                # The scored item leaves the history it is scored against (leave one out).
                own = (sums[users] - x[m][pos]) / (counts[users] - 1).clamp(min=1)[:, None]
                a = model.users(m, own)
                phi_pos, phi_neg = model.items(m, x[m][pos]), model.items(m, x[m][neg])
                s_pos = s_pos + (a * phi_pos).sum(1) + model.bias[m](phi_pos)[:, 0]
                s_neg = s_neg + (a * phi_neg).sum(1) + model.bias[m](phi_neg)[:, 0]
            loss = -F.logsigmoid(s_pos - s_neg).mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(batch)
        model.eval()
        auc = ranking_auc(_all_scores(model, data, raw), valid, train)
        history.append({"epoch": epoch, "loss": round(total / len(pairs), 5), "valid_auc": round(auc, 5)})
        if auc > best:
            best, best_state, since = auc, copy.deepcopy(model.state_dict()), 0
        else:
            since += 1
            if since >= config.patience:
                break
    model.load_state_dict(best_state)
    return model.eval().requires_grad_(False), {"history": history, "best_valid_auc": best,
                                                "best_epoch": max(history, key=lambda h: h["valid_auc"])["epoch"]}


@torch.no_grad()
def _all_scores(model: ContentPreferenceModel, data: InteractionData, raw: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every user's score for every item, users pooled over their training history."""
    pairs = data.user_item_pairs("train")
    total = torch.zeros(data.num_users, data.num_items)
    for m in MODALITIES:
        x = model.normalise(m, raw[m])
        sums, counts = pooled_histories(x, pairs, data.num_users)
        total += model.score(m, model.users(m, sums / counts.clamp(min=1)[:, None]), model.items(m, x))
    return total


def ranking_report(model: ContentPreferenceModel, data: InteractionData, feats: dict[str, np.ndarray],
                   split: str) -> dict[str, Any]:
    """AUC and Recall@20 of the evaluator and of popularity on ``split`` (valid or test; known
    positives of the earlier splits excluded from the candidates). Only ``split`` and the splits
    before it are read."""
    if split not in ("valid", "test"):
        raise DPPMGError(f"split must be 'valid' or 'test', got {split!r}")
    targets = _split_matrix(data, split)
    exclude = _split_matrix(data, "train") | (_split_matrix(data, "valid") if split == "test" else False)
    x = {m: torch.as_tensor(feats[m], dtype=torch.float32) for m in MODALITIES}
    scores, popular = _all_scores(model, data, x), popularity_scores(data)
    return {name: {"auc": ranking_auc(s, targets, exclude), "recall@20": ranking_metrics(s, targets, exclude)["recall@20"]}
            for name, s in (("evaluator", scores), ("popularity", popular))}


def load_or_train_preference_evaluator(data: InteractionData, config: PreferenceEvaluatorConfig,
                                       cache_dir: str | os.PathLike | None = None, progress: bool = True,
                                       report_test: bool = True) -> PreferenceEvaluator:
    """The cached preference evaluator of ``data`` (trained on its training split if missing).

    The report holds validation AUC / Recall@20 against popularity and, with ``report_test`` (the
    final evaluation only), the same on the test split.
    """
    feats = preference_evaluator_features(data, cache_dir, progress)
    folder = evaluator_dir(data, config, cache_dir)
    with cache.lock(folder, "preference evaluator"):
        if cache.reuse(folder, "preference evaluator"):
            return load_preference_evaluator(folder, data, feats, report_test)
        model, fit = _fit(data, feats, config, progress)
        with cache.entry(folder, data.name) as tmp:
            torch.save(model.state_dict(), tmp / "model.pt")
            atomic_write_json(tmp / "meta.json", {"version": EVALUATOR_VERSION, "config": dataclasses.asdict(config),
                                                 "data": evaluator_data_signature(data), "fit": fit})
        return load_preference_evaluator(folder, data, feats, report_test)


def load_preference_evaluator(folder: str | os.PathLike, data: InteractionData,
                              feats: dict[str, np.ndarray] | None = None, report_test: bool = True
                              ) -> PreferenceEvaluator:
    """Load an evaluator checkpoint; a clear error if it was trained on another dataset or split."""
    folder = Path(folder)
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        raise DPPMGError(f"{folder} holds no preference evaluator (no meta.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get("version") != EVALUATOR_VERSION:
        raise DPPMGError(f"{folder}: preference evaluator version {meta.get('version')} is not {EVALUATOR_VERSION}")
    for key, value in evaluator_data_signature(data).items():
        if meta["data"].get(key) != value:
            raise DPPMGError(f"{folder}: the preference evaluator was trained on another dataset or split "
                             f"({key}: {meta['data'].get(key)!r} != {value!r})")
    feats = feats if feats is not None else preference_evaluator_features(data, progress=False)
    config = PreferenceEvaluatorConfig(**meta["config"])
    model = ContentPreferenceModel({m: feats[m].shape[1] for m in MODALITIES}, config)
    model.load_state_dict(torch.load(folder / "model.pt"))
    report = {"config": meta["config"], "fit": meta["fit"], "valid": ranking_report(model, data, feats, "valid")}
    if report_test:
        report["test"] = ranking_report(model, data, feats, "test")
        report["beats_popularity"] = report["test"]["evaluator"]["auc"] > report["test"]["popularity"]["auc"]
    return PreferenceEvaluator(model, data, feats, report, folder)
