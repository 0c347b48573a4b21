"""Stage functions executed by the harness notebooks (the notebooks only set parameters).

Each stage loads what it needs, computes its metrics, writes one result JSON (see
:mod:`dppmg.results`) with provenance and returns the result dict for display.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from dppmg.config import data_config
from dppmg.data import dataset_statistics, load_dataset
from dppmg.errors import ConfigError
from dppmg.features import feature_cache_file, item_features
from dppmg.plotting import item_grid
from dppmg.provenance import StageTimer
from dppmg.results import make_result, write_result
from dppmg.seeding import check_seed, seed_everything


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
                     method: str = "dppmg") -> dict[str, Any]:
    """Stage 1 for one method: train, quantize (DPPMG), evaluate ranking; plot training curves."""
    from dppmg.plotting import training_curves
    from dppmg.stage1 import fit_and_save

    record, _ = fit_and_save(dataset, preset, check_seed(seed), method, data_root=data_root,
                             output_json=output_json, progress=False)
    if figure_dir is not None and record["metrics"].get("history"):
        training_curves(record["metrics"]["history"],
                        Path(figure_dir) / f"preference_{dataset}_{method}_seed{seed}.png",
                        f"{method} on {dataset} (seed {seed}): valid ranking per epoch")
    return record


def generation_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                     data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                     method: str = "dppmg", users: int | None = None) -> dict[str, Any]:
    """Stage 2: train (or load) the token-reading generators, generate for test users and test
    whether the generations are personalized (see :mod:`dppmg.personalization`)."""
    from dppmg.data.images import load_image_array
    from dppmg.personalization import personalization_report, sample_test_users
    from dppmg.plotting import generation_grid, history_vs_generated_grid, loss_curves
    from dppmg.stage1 import checkpoint_dir, fit_and_save, stage1_config
    from dppmg.stage2 import load_or_train_pipeline

    if method != "dppmg":
        raise ConfigError(f"the generation stage runs method 'dppmg', not {method!r}")
    seed = check_seed(seed)
    users = users if users is not None else GENERATION_USERS[preset]
    timings = []
    if not checkpoint_dir(stage1_config(dataset, preset, seed)).is_dir():
        with StageTimer("stage1") as timer:
            fit_and_save(dataset, preset, seed, "dppmg", data_root=data_root, progress=False)
        timings.append(timer.record)
    with StageTimer("stage2_train_or_load") as timer:
        pipe, data = load_or_train_pipeline(dataset, preset, seed, data_root=data_root, progress=False)
    timings.append(timer.record)
    user_ids = sample_test_users(data, users, seed)
    with StageTimer("generate") as timer:
        results = pipe(user_ids, seed=seed)
    timings.append(timer.record)
    with StageTimer("personalization_tests") as timer:
        report = personalization_report(pipe, data, user_ids, seed=seed, results=results)
    timings.append(timer.record)
    metrics: dict[str, Any] = {"users": len(user_ids), "user_ids": user_ids, **report,
                               "token_losses": pipe.meta.get("token_losses"),
                               "image_backbone": pipe.meta.get("image_backbone")}
    if figure_dir is not None:
        figure_dir = Path(figure_dir)
        shown = results[:8]
        images = load_image_array(data, pipe.image_backbone.config.width, pipe.image_backbone.config.height)
        history = [images[items[-4:]] for items in data.items_by_user([r["user_id"] for r in shown], "train")]
        metrics["figures"] = [
            str(generation_grid(results[:12], figure_dir / f"generation_{dataset}_seed{seed}.png",
                                f"{dataset} ({preset}): DPPMG generations for test users, seed {seed}")),
            str(history_vs_generated_grid(history, shown, figure_dir / f"generation_history_{dataset}_seed{seed}.png",
                                          f"{dataset}: last training-history images vs the generated item")),
        ]
        if metrics["token_losses"]:
            metrics["figures"].append(str(loss_curves(
                metrics["token_losses"], figure_dir / f"token_training_{dataset}_seed{seed}.png",
                f"{dataset}: preference-token embedding training (seed {seed})")))
    config = {"stage2": pipe.config.to_dict(), "users": users, "pipeline": {k: v for k, v in pipe.meta.items()
                                                                           if k != "token_losses"}}
    result = make_result("generation", dataset, method, preset, seed, metrics, config, timings)
    write_result(output_json, result)
    return result


# Test users generated for per preset. At small on 2 CPU cores a user costs ~0.4 s of text (sampled
# 16 at a time) and ~0.6 s of image; 256 users give the sign test power to see a 58/42 split.
GENERATION_USERS = {"smoke": 6, "small": 256, "paper": 1024}


def evaluation_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                     data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                     method: str = "dppmg", users: int | None = None) -> dict[str, Any]:
    """Train (or load) one registered generation method, generate for test users and compute every
    metric with the evaluator (:func:`dppmg.evaluate.evaluate`); plot reward curves."""
    from dppmg.evaluate import evaluate
    from dppmg.plotting import loss_curves

    grid = None if figure_dir is None else Path(figure_dir) / f"evaluation_{dataset}_{method}_seed{seed}.png"
    result = evaluate(dataset, method, preset, check_seed(seed), output_json, data_root=data_root, users=users,
                      progress=False, grid=grid)
    curves = result["metrics"].get("reward_curves")
    if figure_dir is not None and curves and method == "dppmg":
        path = loss_curves(curves, Path(figure_dir) / f"reward_curves_{dataset}_seed{seed}.png",
                           f"{dataset} ({preset}, seed {seed}): reward fine-tuning (reward model, training users)",
                           smooth=5)
        result["metrics"]["figures"] = result["metrics"].get("figures", []) + [str(path)]
        write_result(output_json, result)
    return result
