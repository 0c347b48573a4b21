"""How the tokens depend on the codebook: a sweep of its size K and depth L over one trained
Stage 1 model.

For each (K, L) of the grid, a residual quantizer (the preset's, with ``codebook_size = K`` and
``levels = L``) is trained on each branch of the *same* trained DPPMG preference model of
(dataset, preset, seed) — only the quantizer changes, so the differences are the codebook's — and
reports the ranking kept after quantization (Recall@20 with every user's preference replaced by
its reconstruction, on the validation and test splits, and its ratio to the unquantized test
Recall@20), the collision rate (users sharing all their codes), the codebook utilisation and the
reconstruction error. Each quantizer trains from its own generator, seeded from (seed, K, L), so a
point does not depend on which others were computed.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch

CODEBOOK_SIZES = (8, 32, 128)
DEPTHS = (1, 2, 3, 4)


def point_seed(seed: int, codebook_size: int, levels: int) -> int:
    """The seed of the quantizers of one grid point."""
    return int(seed) * 1_000_003 + int(codebook_size) * 101 + int(levels)


def codebook_sweep(dataset: str, preset: str, seed: int, *, sizes: Sequence[int] = CODEBOOK_SIZES,
                   depths: Sequence[int] = DEPTHS, data_root: str | None = None,
                   cache_dir: str | os.PathLike | None = None, progress: bool = False) -> dict[str, Any]:
    """The sweep of the module docstring: ``{"points": [...], "unquantized": {...}, "configured": {...}}``."""
    from tqdm.auto import tqdm

    from dppmg.config import quantizer_config
    from dppmg.data import load_dataset
    from dppmg.methods import DPPMG
    from dppmg.preference.checkpoint import load_preferences
    from dppmg.preference.quantize import quantizer_report, train_quantizer
    from dppmg.preference.ranking import RankingEvaluator, factor_scorer
    from dppmg.preference.train import load_or_fit

    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    record, folder = load_or_fit(DPPMG.stage1_config(dataset, preset, seed), data_root=data_root, cache_dir=cache_dir,
                                 progress=progress)
    reps = load_preferences(folder, data, cache_dir)
    evaluator = RankingEvaluator(data)
    unquantized = {split: evaluator.evaluate(factor_scorer(reps), split)["recall@20"] for split in ("valid", "test")}
    grid = [(int(k), int(depth)) for k in sizes for depth in depths]
    points = []
    for k, depth in tqdm(grid, desc=f"codebook sweep {dataset}", disable=not progress, leave=False):
        config = quantizer_config(dataset, preset, codebook_size=k, levels=depth)
        generator = torch.Generator().manual_seed(point_seed(seed, k, depth))
        reconstructed, per_branch = {}, {}
        for branch, (p, q) in reps.items():
            quantizer, _ = train_quantizer(p, config, generator, progress=False)
            with torch.no_grad():
                reconstructed[branch] = (quantizer.decode(quantizer.encode(p)), q)
            report = quantizer_report(quantizer, p)
            per_branch[branch] = {"collision_rate": report["collision_rate"], "recon_mse": report["recon_mse"],
                                  "utilisation": sum(lv["utilisation"] for lv in report["levels"]) / depth,
                                  "distinct_tuples": report["distinct_tuples"]}
        scores = factor_scorer(reconstructed)
        valid, test = (evaluator.evaluate(scores, split)["recall@20"] for split in ("valid", "test"))
        points.append({"codebook_size": k, "levels": depth, "quantized valid recall@20": valid,
                       "quantized test recall@20": test,
                       "recall kept (test)": test / max(unquantized["test"], 1e-12),
                       "collision rate": sum(b["collision_rate"] for b in per_branch.values()) / len(per_branch),
                       "utilisation": sum(b["utilisation"] for b in per_branch.values()) / len(per_branch),
                       "branches": per_branch})
    configured = quantizer_config(dataset, preset)
    return {"points": points, "unquantized": {f"{s} recall@20": v for s, v in unquantized.items()},
            "configured": {"codebook_size": configured.codebook_size, "levels": configured.levels},
            "stage1_checkpoint": str(folder), "stage1_config": record["provenance"]["config"]}
