"""Everything DPPMG needs, from scratch or from the caches: ``dppmg train``.

Stage 1 (graph preferences and tokens) → the backbones (cached per dataset) → Stage 2 (token
embeddings) → the reward alignment model → Stage 3 (reward fine-tuning of the tokens). Every
step is cached under a key of its config and inputs, so a second call only loads; an interrupted
call resumes at the first missing step (the image backbone from its last checkpoint).
"""

from __future__ import annotations

import json
import os
from typing import Any

from dppmg.errors import DPPMGError
from dppmg.provenance import StageTimer
from dppmg.seeding import check_seed, seed_everything


def train_dppmg(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                cache_dir: str | os.PathLike | None = None, reward: bool = True, progress: bool = True):
    """Returns ``(pipeline, data, info)``; ``info`` holds the folders, the reward curves and the
    wall time / peak memory of every step that ran (``info["timings"]``)."""
    from dppmg.stage1 import checkpoint_dir, fit_and_save, stage1_config
    from dppmg.stage2 import load_or_train_pipeline

    seed = check_seed(seed)
    timings: list[dict[str, Any]] = []
    info: dict[str, Any] = {"timings": timings}
    folder1 = checkpoint_dir(stage1_config(dataset, preset, seed), cache_dir)
    if not folder1.is_dir():
        with StageTimer("stage1") as t:
            fit_and_save(dataset, preset, seed, "dppmg", data_root=data_root, cache_dir=cache_dir, progress=progress)
        timings.append(t.record)
    with StageTimer("stage2") as t:
        pipe, data = load_or_train_pipeline(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                            progress=progress)
    timings.append(t.record)
    info["stage1_folder"] = str(folder1)
    info["stage2_folder"] = pipe.meta["folder"]
    if reward:
        pipe, reward_info = _load_or_finetune(pipe, data, preset, seed, cache_dir, progress, timings)
        info["reward"] = reward_info
    return pipe, data, info


def _load_or_finetune(pipe, data, preset: str, seed: int, cache_dir, progress: bool, timings: list) -> tuple[Any, dict]:
    from pathlib import Path

    from dppmg.alignment import alignment_features, load_or_train_alignment
    from dppmg.io import atomic_write_json
    from dppmg.reward import (PreferenceReward, fine_tune_with_reward, image_sampling_settings, reward_config,
                               reward_dir)

    config = reward_config(preset)
    folder = reward_dir(Path(pipe.meta["folder"]), config, seed, cache_dir, image_sampling=image_sampling_settings(pipe))
    if (folder / "pipeline.json").is_file() and (folder / "reward_curves.json").is_file():
        # The backbones are already loaded: only the fine-tuned token embeddings are read.
        pipe.load_token_weights(folder)
        pipe.meta["folder"] = str(folder)
        curves = json.loads((folder / "reward_curves.json").read_text())
        return pipe, {"config": config.to_dict(), "folder": str(folder), "curves": curves}
    with StageTimer("alignment_reward_model") as t:
        model, report = load_or_train_alignment(data, "reward", preset, cache_dir=cache_dir, progress=progress)
        image_feats, text_feats = alignment_features(data, cache_dir, progress)
    timings.append(t.record)
    with StageTimer("stage3_reward_finetuning") as t:
        reward = PreferenceReward(model, data, image_feats, text_feats, config)
        curves = fine_tune_with_reward(pipe, data, reward, config, seed_everything(seed).torch, progress)
    timings.append(t.record)
    if not all(all(map(_finite, v)) for v in curves.values()):
        raise DPPMGError(f"reward fine-tuning diverged (non-finite values); nothing saved to {folder}")
    pipe.meta = {**pipe.meta, "reward": {"config": config.to_dict(), "alignment": report["config"]}}
    pipe.save_pretrained(folder)
    atomic_write_json(folder / "reward_curves.json", curves)
    pipe.meta["folder"] = str(folder)
    return pipe, {"config": config.to_dict(), "folder": str(folder), "curves": curves}


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")
