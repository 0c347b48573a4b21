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
    from dppmg.preference.train import fit_and_save

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
    """Stage 2 diagnostics of a DPPMG method: train (or load) its token-reading generators (no
    reward), generate for test users and test whether the generations are personalized with the
    evaluation's own-vs-other test; on the synthetic world also the true attributes shown, against
    the same pipeline with the users' tokens shuffled."""
    from dppmg.config import evaluation_config, stage1_config
    from dppmg.data.images import load_image_array
    from dppmg.evaluation.evaluate import ground_truth_accuracy
    from dppmg.evaluation.personalization import personalization_report, sample_test_users
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.methods import shuffled_token_table
    from dppmg.plotting import generation_grid, history_vs_generated_grid, loss_curves
    from dppmg.preference.checkpoint import checkpoint_dir
    from dppmg.preference.train import fit_and_save
    from dppmg.registry import get_spec

    stage1_method = get_spec(method, suite="generation").cls.stage1_method
    seed = check_seed(seed)
    config = evaluation_config(preset, dataset, **({} if users is None else {"generation_users": users}))
    timings = []
    if not checkpoint_dir(stage1_config(dataset, preset, seed, stage1_method)).is_dir():
        with StageTimer("stage1") as timer:
            fit_and_save(dataset, preset, seed, stage1_method, data_root=data_root, progress=False)
        timings.append(timer.record)
    with StageTimer("stage2_train_or_load") as timer:
        pipe, data = load_or_train_pipeline(dataset, preset, seed, data_root=data_root, progress=False,
                                            stage1_method=stage1_method)
    timings.append(timer.record)
    user_ids = sample_test_users(data, config.generation_users, seed)
    with StageTimer("generate") as timer:
        results = pipe(user_ids, seed=seed)
    timings.append(timer.record)
    with StageTimer("personalization_tests") as timer:
        metrics: dict[str, Any] = {"users": len(user_ids), "user_ids": user_ids,
                                   **personalization_report(results, data, seed),
                                   "samples": [{"user_id": x["user_id"], "text": x["text"], "tokens": x["tokens"]}
                                               for x in results[:8]]}
        if data.ground_truth is not None:
            shuffled = pipe.with_token_table(shuffled_token_table(pipe.token_table, seed))
            metrics["ground_truth"] = {"own_tokens": ground_truth_accuracy(results, data),
                                       "shuffled_tokens": ground_truth_accuracy(shuffled(user_ids, seed=seed), data)}
    timings.append(timer.record)
    metrics.update(token_losses=pipe.meta.get("token_losses"), image_backbone=pipe.meta.get("image_backbone"))
    if figure_dir is not None:
        figure_dir = Path(figure_dir)
        shown = results[:8]
        images = load_image_array(data, pipe.image_backbone.config.width, pipe.image_backbone.config.height)
        history = [images[items[-4:]] for items in data.items_by_user([r["user_id"] for r in shown], "train")]
        metrics["figures"] = [
            str(generation_grid(results[:config.grid_users], figure_dir / f"generation_{dataset}_seed{seed}.png",
                                f"{dataset} ({preset}): DPPMG generations for test users, seed {seed}")),
            str(history_vs_generated_grid(history, shown, figure_dir / f"generation_history_{dataset}_seed{seed}.png",
                                          f"{dataset}: last training-history images vs the generated item")),
        ]
        if metrics["token_losses"]:
            metrics["figures"].append(str(loss_curves(
                metrics["token_losses"], figure_dir / f"token_training_{dataset}_seed{seed}.png",
                f"{dataset}: preference-token embedding training (seed {seed})")))
    run_config = {"stage2": pipe.config.to_dict(), "users": len(user_ids), "evaluation": config.to_dict(),
                  "pipeline": {k: v for k, v in pipe.meta.items() if k != "token_losses"}}
    result = make_result("generation", dataset, method, preset, seed, metrics, run_config, timings)
    write_result(output_json, result)
    return result


def evaluation_stage(dataset: str, preset: str, seed: int, output_json: str | os.PathLike,
                     data_root: str | None = None, figure_dir: str | os.PathLike | None = None,
                     method: str = "dppmg", users: int | None = None) -> dict[str, Any]:
    """Train (or load) one registered generation method, generate for test users and compute every
    metric with the evaluator (:func:`dppmg.evaluation.evaluate.evaluate`); plot reward curves."""
    from dppmg.evaluation.evaluate import evaluate
    from dppmg.plotting import loss_curves

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
    return result
