"""How DPPMG's generated items depend on the codebook: K and L one at a time, on the validation split.

Each point is full DPPMG (Stages 1-3, the preset's everything else) with the quantizer's
``codebook_size`` K or ``levels`` L changed, evaluated like every method
(:func:`dppmg.evaluation.evaluate.evaluate`) but on validation users' validation items: this is a
description of the method, not a choice, and the test split stays for the final evaluation. The
sweep is one factor at a time around the preset's (K, L) — K over
:data:`~dppmg.experiments.sensitivity_preference.CODEBOOK_SIZES` at the preset's L, then L over
:data:`~dppmg.experiments.sensitivity_preference.DEPTHS` at the preset's K — because each point trains
Stages 1-3. Per point: the headline personalization (targets; matching statistic and user
identification AUC) per modality, the evaluator's consistency, and on the synthetic world the
true colour and style accuracy.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from dppmg.experiments.sensitivity_preference import CODEBOOK_SIZES, DEPTHS


def one_at_a_time(configured: tuple[int, int], sizes: Sequence[int] = CODEBOOK_SIZES,
                  depths: Sequence[int] = DEPTHS) -> list[tuple[str, int, int]]:
    """The sweep's points as (varied factor, K, L): K over ``sizes`` at the configured L, then L
    over ``depths`` at the configured K."""
    k0, l0 = configured
    return [("codebook_size", int(k), l0) for k in sizes] + [("levels", k0, int(depth)) for depth in depths]


def point_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The summary of one point's evaluation that the sensitivity table reads."""
    out: dict[str, Any] = {}
    for modality in ("image", "text"):
        test = metrics["personalization"][modality]["targets"]
        out[f"{modality} personalization (targets)"] = test.get("statistic")
        out[f"{modality} identification AUC (targets)"] = test.get("auc")
        out[f"{modality} personalization p"] = test.get("p")
    out["consistency (evaluator)"] = metrics["consistency"]["evaluator"]["mean"]
    if "ground_truth" in metrics:
        out["true colour acc."] = metrics["ground_truth"]["image_colour"]["mean"]
        out["true style acc."] = metrics["ground_truth"]["text_style"]["mean"]
    return out


def codebook_generation_sweep(dataset: str, preset: str, seed: int, *, users: int | None = None,
                              sizes: Sequence[int] = CODEBOOK_SIZES, depths: Sequence[int] = DEPTHS,
                              data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                              progress: bool = False) -> dict[str, Any]:
    """The sweep of the module docstring: ``{"points": [...], "configured": {...}, "users": n}``;
    ``users``: validation users per point (default: the selection config's)."""
    from tqdm.auto import tqdm

    from dppmg.config import quantizer_config, selection_config
    from dppmg.evaluation.evaluate import evaluate
    from dppmg.methods import DPPMG

    configured = quantizer_config(dataset, preset)
    users = users or selection_config(preset, dataset).users
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        sweep = one_at_a_time((configured.codebook_size, configured.levels), sizes, depths)
        for factor, k, depth in tqdm(sweep, desc=f"codebook generation sweep {dataset}", disable=not progress,
                                     leave=False):
            result = evaluate(dataset, DPPMG.name, preset, seed, Path(tmp) / f"K{k}_L{depth}.json", data_root=data_root,
                              cache_dir=cache_dir, users=users, split="valid", progress=False,
                              method_overrides={"quantizer": {"codebook_size": k, "levels": depth}})
            points.append({"varied": factor, "codebook_size": k, "levels": depth,
                           "users": len(result["metrics"]["users"]), **point_metrics(result["metrics"]),
                           "wall_time_s": result["provenance"]["wall_time_s"]})
    return {"points": points, "configured": {"codebook_size": configured.codebook_size, "levels": configured.levels},
            "users": users, "split": "valid"}
