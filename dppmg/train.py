"""Everything DPPMG needs, from scratch or from the caches: ``dppmg train``.

Stage 1 (graph preferences and tokens, :mod:`dppmg.preference`) → the backbones (cached per
dataset) → Stage 2 (token embeddings, :mod:`dppmg.generation`) → the reward model → Stage 3 (reward
fine-tuning of the tokens, :mod:`dppmg.reward`). Every step is cached under a key of its config and
inputs, so a second call only loads; an interrupted call resumes at the first missing step (the
image backbone from its last checkpoint).
"""

from __future__ import annotations

import os
from typing import Any

from dppmg.provenance import StageTimer
from dppmg.seeding import check_seed


def train_dppmg(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                cache_dir: str | os.PathLike | None = None, stage1_method: str = "dppmg", reward: bool = True,
                progress: bool = True):
    """Returns ``(pipeline, data, info)``; ``info`` holds the folders, the reward curves and the
    wall time / peak memory of every step that ran (``info["timings"]``)."""
    from dppmg.config import reward_config, stage1_config
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.preference.checkpoint import checkpoint_dir
    from dppmg.preference.train import fit_and_save
    from dppmg.reward.finetune import load_or_fine_tune

    seed = check_seed(seed)
    timings: list[dict[str, Any]] = []
    info: dict[str, Any] = {"timings": timings}
    folder1 = checkpoint_dir(stage1_config(dataset, preset, seed, stage1_method), cache_dir)
    if not folder1.is_dir():
        with StageTimer("stage1") as t:
            fit_and_save(dataset, preset, seed, stage1_method, data_root=data_root, cache_dir=cache_dir,
                         progress=progress)
        timings.append(t.record)
    with StageTimer("stage2") as t:
        pipe, data = load_or_train_pipeline(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                            progress=progress, stage1_method=stage1_method)
    timings.append(t.record)
    info["stage1_folder"] = str(folder1)
    info["stage2_folder"] = pipe.meta["folder"]
    if reward:
        pipe, info["reward"] = load_or_fine_tune(pipe, data, reward_config(preset, dataset), preset, seed, cache_dir,
                                                 progress, timings)
    return pipe, data, info
