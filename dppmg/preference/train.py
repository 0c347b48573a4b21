"""Stage 1 end to end: train a preference model, quantize its per-modality user preferences into
tokens, evaluate it as a recommender and save a checkpoint (:mod:`dppmg.preference.checkpoint`).

Cold start: a user without training interactions has no graph neighbours, so their propagated
vector is an untrained embedding. Such users get the mean preference of the users who do have
training interactions (per modality), and therefore the tokens of the "average user".
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dppmg.data import load_dataset
from dppmg.data.features import extract_features
from dppmg.data.schema import InteractionData
from dppmg.infra import cache
from dppmg.infra.provenance import StageTimer
from dppmg.infra.results import make_result, read_result, write_result
from dppmg.infra.seeding import seed_everything
from dppmg.preference.checkpoint import checkpoint_dir, save_stage1
from dppmg.preference.config import Stage1Config
from dppmg.preference.model import FitResult, cold_start_fill, fit_preference, popularity_scores
from dppmg.preference.quantize import ResidualQuantizer, quantizer_report, train_quantizer
from dppmg.preference.ranking import RankingEvaluator, UserScorer, factor_scorer
from dppmg.preference.recovery import ground_truth_recovery


@dataclass
class Stage1Result:
    """What :func:`run_stage1` returns: the metrics, the fitted model and the codes."""

    config: Stage1Config
    metrics: dict[str, Any]
    fit: FitResult | None = None
    quantizers: dict[str, ResidualQuantizer] = field(default_factory=dict)
    user_codes: dict[str, np.ndarray] = field(default_factory=dict)
    item_codes: dict[str, np.ndarray] = field(default_factory=dict)
    preferences: dict[str, np.ndarray] = field(default_factory=dict)


def run_stage1(data: InteractionData, features: dict[str, np.ndarray] | None, config: Stage1Config,
               generator: torch.Generator, progress: bool = True,
               resume_dir: str | os.PathLike | None = None) -> Stage1Result:
    """Train, quantize and evaluate; returns metrics (with per-user test values for paired tests).
    ``resume_dir``: where the preference model's training checkpoint is kept (see
    :func:`~dppmg.preference.model.fit_preference`)."""
    evaluator = RankingEvaluator(data)
    if config.preference is None:
        return Stage1Result(config, _ranking_block(evaluator, popularity_scores(data)))
    fit = fit_preference(data, features, config.preference, generator, evaluator, progress=progress,
                         resume_dir=resume_dir)
    reps = fit.model.preferences()
    has_train = evaluator.has_train
    reps = {m: (cold_start_fill(p, has_train), q) for m, (p, q) in reps.items()}
    scores = factor_scorer(reps)
    metrics: dict[str, Any] = _ranking_block(evaluator, scores)
    metrics.update(best_epoch=fit.best_epoch, epoch_seconds=round(fit.epoch_seconds, 4),
                   cold_start_users=int((~has_train).sum()), history=fit.history)
    result = Stage1Result(config, metrics, fit=fit,
                          preferences={m: p.numpy() for m, (p, _) in reps.items()})
    if len(reps) > 1:
        metrics["per_modality_test"] = {m: evaluator.evaluate(factor_scorer({m: (p, q)}), "test")
                                        for m, (p, q) in reps.items()}
    if data.ground_truth is not None and {"text", "image"} <= set(reps):
        metrics["ground_truth_recovery"] = ground_truth_recovery(
            data, {m: p.numpy() for m, (p, _) in reps.items()}, {m: q.numpy() for m, (_, q) in reps.items()},
            seed=config.seed)
    if config.quantizer is not None:
        reconstructed = {}
        metrics["quantizer"] = {}
        for m, (p, q) in reps.items():
            quantizer, history = train_quantizer(p, config.quantizer, generator, progress=progress)
            result.quantizers[m] = quantizer
            result.user_codes[m] = quantizer.encode(p).numpy()
            result.item_codes[m] = quantizer.encode(q).numpy()
            reconstructed[m] = quantizer.decode(torch.as_tensor(result.user_codes[m]))
            metrics["quantizer"][m] = {**quantizer_report(quantizer, p), "history": history}
        quant_scores = factor_scorer({m: (reconstructed[m], q) for m, (_, q) in reps.items()})
        quantized = _ranking_block(evaluator, quant_scores)
        quant_test = quantized["test"]
        metrics["quantized_valid"] = quantized["valid"]
        metrics["quantized_test"] = quant_test
        metrics["quantized_test_per_user"] = quantized["test_per_user"]
        metrics["quantized_recall_kept"] = quant_test["recall@20"] / max(metrics["test"]["recall@20"], 1e-12)
    return result


def _ranking_block(evaluator: RankingEvaluator, scores: torch.Tensor | UserScorer) -> dict[str, Any]:
    per_user = evaluator.per_user(scores, "test")
    has_target = evaluator.evaluated_users("test")
    test = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
    return {"valid": evaluator.evaluate(scores, "valid"), "test": test,
            "test_per_user": {"user_index": has_target.tolist(),
                              "recall@20": np.round(per_user["recall@20"], 6).tolist()}}


def training_dir(folder: Path) -> Path:
    """Where the training checkpoint of the Stage 1 checkpoint ``folder`` is kept until it is saved."""
    return folder.with_name(folder.name + ".training")


def fit_and_save(config: Stage1Config, *, data_root: str | None = None,
                 cache_dir: str | os.PathLike | None = None, output_json: str | os.PathLike | None = None,
                 progress: bool = True) -> tuple[dict[str, Any], Path]:
    """Load data and features, run the Stage 1 of ``config`` (resolved by the caller, e.g.
    :func:`dppmg.registry.resolve_stage1`), save the checkpoint and its result JSON.

    Returns (result dict in the shared result schema, checkpoint folder).
    """
    dataset, preset, seed, method = config.dataset, config.preset, config.seed, config.method
    generators = seed_everything(seed)
    timings = []
    with StageTimer("load_data") as t:
        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    timings.append(t.record)
    features = None
    if config.preference is not None and config.preference.uses_features:
        with StageTimer("features") as t:
            features = extract_features(data, cache_dir=cache_dir, progress=progress)
        timings.append(t.record)
    folder = checkpoint_dir(config, cache_dir)
    training = training_dir(folder)

    with cache.lock(folder, "stage-1 checkpoint"):
        with StageTimer("train_and_evaluate") as t:
            result = run_stage1(data, features, config, generators.torch, progress=progress, resume_dir=training)
        timings.append(t.record)
        record = make_result("preference", dataset, method, preset, seed, result.metrics, config, timings)
        record["metrics"]["checkpoint"] = str(folder)
        save_stage1(result, data, folder, record)
        shutil.rmtree(training, ignore_errors=True)
    if output_json is not None:
        write_result(output_json, record)
    return record, folder


def load_or_fit(config: Stage1Config, *, data_root: str | None = None,
                cache_dir: str | os.PathLike | None = None, progress: bool = True,
                timings: list[dict[str, Any]] | None = None, label: str | None = None) -> tuple[dict[str, Any], Path]:
    """The Stage 1 run of ``config``: its result record and checkpoint folder, trained and saved
    only if the cache lacks them (the wall time of a training that ran is appended to
    ``timings`` as ``label``, by default ``"stage1 <method>"``)."""
    folder = checkpoint_dir(config, cache_dir)
    with cache.lock(folder, "stage-1 checkpoint"):
        if cache.reuse(folder, "stage-1 checkpoint"):
            return read_result(folder / "metrics.json"), folder
        with StageTimer(label or f"stage1 {config.method}") as t:
            record, folder = fit_and_save(config, data_root=data_root, cache_dir=cache_dir, progress=progress)
        if timings is not None:
            timings.append(t.record)
    return record, folder
