"""Stage functions executed by the harness notebooks (the notebooks only set parameters).

Each stage loads what it needs, computes its metrics, writes one result JSON (see
:mod:`dppmg.infra.results`) with provenance and returns the result dict for display.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from dppmg.config import data_config, quantizer_config, selection_config
from dppmg.data import dataset_statistics, load_dataset
from dppmg.data.features import feature_cache_file, item_features
from dppmg.errors import ConfigError
from dppmg.evaluation.evaluate import evaluate
from dppmg.experiments.selection import run_selections
from dppmg.infra.provenance import StageTimer
from dppmg.infra.results import make_result, write_result
from dppmg.infra.seeding import check_seed, seed_everything
from dppmg.methods import DPPMG
from dppmg.registry import resolve_stage1
from dppmg.ui.plotting import item_grid, loss_curves, training_curves


def dataset_stats_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                        data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                        method: str = "-") -> dict[str, Any]:
    """Load and process ``dataset``; record its statistics table and save an item grid."""
    seed_everything(check_seed(seed))
    config = data_config(dataset, preset)
    with StageTimer("load_and_process") as timer:
        data = load_dataset(config, data_root=data_root)
    stats = dataset_statistics(data)
    if figure_dir is not None:
        stats["figure"] = str(item_grid(data, Path(figure_dir) / f"{dataset}_items.png", seed=seed))
    result = make_result("dataset_stats", dataset, method, preset, seed, stats, config, [timer.record])
    write_result(output_json, result)
    return result


def features_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                   data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                   method: str = "-") -> dict[str, Any]:
    """Extract (or load cached) frozen text and image features; record sizes, timing and cache use."""
    seed_everything(check_seed(seed))
    config = data_config(dataset, preset)
    data = load_dataset(config, data_root=data_root)
    metrics: dict[str, Any] = {"items": data.num_items}
    timings = []
    for modality in ("text", "image"):
        cached = feature_cache_file(data, modality).is_file()
        with StageTimer(f"{modality}_features") as timer:
            t0 = time.perf_counter()
            feats = item_features(data, modality)
            elapsed = time.perf_counter() - t0
        timings.append(timer.record)
        norms = (feats ** 2).sum(axis=1) ** 0.5
        metrics[modality] = {"dim": int(feats.shape[1]), "from_cache": cached, "seconds": round(elapsed, 3),
                             "items_per_second": round(data.num_items / max(elapsed, 1e-9), 1),
                             "mean_norm": float(norms.mean()), "finite": bool((feats == feats).all())}
    result = make_result("features", dataset, method, preset, seed, metrics, config, timings)
    write_result(output_json, result)
    return result




def preference_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                     data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                     method: str = DPPMG.name) -> dict[str, Any]:
    """Stage 1 for one method: train, quantize (DPPMG), evaluate ranking; plot training curves."""
    from dppmg.preference.train import fit_and_save


    record, _ = fit_and_save(resolve_stage1(dataset, preset, check_seed(seed), method), data_root=data_root,
                             output_json=output_json, progress=False)
    if figure_dir is not None and record["metrics"].get("history"):
        training_curves(record["metrics"]["history"],
                        Path(figure_dir) / f"preference_{dataset}_{method}_seed{seed}.png",
                        f"{method} on {dataset} (seed {seed}): valid ranking per epoch")
    return record


def selection_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                    data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                    method: str = "preference") -> dict[str, Any]:
    """The settings of one group of :mod:`dppmg.experiments.selection` (``method``: one of its
    ``SELECTION_GROUPS``), chosen on the validation split."""
    seed = check_seed(seed)
    with StageTimer(f"selection_{method}") as timer:
        selections = run_selections(dataset, preset, seed, data_root=data_root, groups=(method,))
    config = {"selection": selection_config(preset, dataset).to_dict()}
    result = make_result("selection", dataset, method, preset, seed, {"selections": selections}, config,
                         [timer.record])
    write_result(output_json, result)
    return result


def evaluation_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                     data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                     method: str = DPPMG.name, users: int | None = None) -> dict[str, Any]:
    """Train (or load) one registered generation method, generate for test users and compute every
    metric with the evaluator (:func:`dppmg.evaluation.evaluate.evaluate`); plot its reward and
    token-training curves where it has them."""
    grid = None if figure_dir is None else Path(figure_dir) / f"evaluation_{dataset}_{method}_seed{seed}.png"
    result = evaluate(dataset, method, preset, check_seed(seed), output_json, data_root=data_root, users=users,
                      progress=False, grid=grid)
    curves = result["metrics"].get("reward_curves")
    if figure_dir is not None and curves:
        path = loss_curves(curves, Path(figure_dir) / f"reward_curves_{dataset}_{method}_seed{seed}.png",
                           f"{dataset} ({preset}, seed {seed}): reward fine-tuning (reward model, training users)",
                           smooth=5)
        result["metrics"]["figures"] = result["metrics"].get("figures", []) + [str(path)]
        write_result(output_json, result)
    losses = result["metrics"].get("token_losses")
    if figure_dir is not None and losses:
        path = loss_curves(losses, Path(figure_dir) / f"token_training_{dataset}_{method}_seed{seed}.png",
                           f"{dataset} ({preset}, seed {seed}): preference-token embedding training")
        result["metrics"]["figures"] = result["metrics"].get("figures", []) + [str(path)]
        write_result(output_json, result)
    return result


def sensitivity_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                      data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                      method: str = "codebook") -> dict[str, Any]:
    """One group of the sensitivity sweeps (``method``): ``codebook`` (K x L over one trained
    Stage 1 model: ranking kept, collisions; :mod:`dppmg.experiments.sensitivity_preference`) or
    ``generation`` (K, then L, through Stages 1-3 on validation users;
    :mod:`dppmg.experiments.sensitivity_generation`)."""
    from dppmg.experiments.sensitivity_generation import codebook_generation_sweep
    from dppmg.experiments.sensitivity_preference import codebook_sweep

    seed = check_seed(seed)
    sweeps = {"codebook": codebook_sweep, "generation": codebook_generation_sweep}
    if method not in sweeps:
        raise ConfigError(f"unknown sensitivity group {method!r}; expected one of {', '.join(sweeps)}")
    with StageTimer(f"sensitivity_{method}") as timer:
        metrics = sweeps[method](dataset, preset, seed, data_root=data_root, progress=False)
    config = {"quantizer": dataclasses.asdict(quantizer_config(dataset, preset)), "group": method}
    result = make_result("sensitivity", dataset, method, preset, seed, metrics, config, [timer.record])
    write_result(output_json, result)
    return result
