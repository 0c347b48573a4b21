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

from dppmg.errors import ConfigError
from dppmg.methods import DPPMG
from dppmg.infra.provenance import StageTimer
from dppmg.infra.seeding import check_seed

# What a run may override, stage by stage (each a dict of that stage's config fields).
OVERRIDE_STAGES = ("preference", "quantizer", "stage2", "reward")


def check_overrides(overrides: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDE_STAGES))
    if unknown:
        raise ConfigError(f"unknown override stage(s) {', '.join(unknown)}; expected some of {', '.join(OVERRIDE_STAGES)}")
    for stage, values in overrides.items():
        if not isinstance(values, dict):
            raise ConfigError(f"overrides of {stage!r} must be a dict of its config fields, got {type(values).__name__}")
    return overrides


def resolved_configs(dataset: str, preset: str, seed: int, *, stage1_method: str = DPPMG.name, reward: bool = True,
                     overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The resolved config of every stage :func:`train_dppmg` trains with these arguments (the
    Stage 1 run, Stage 2, and Stage 3 or ``None`` without the reward), as plain dicts."""
    from dppmg.config import reward_config, stage1_config, stage2_config

    overrides = check_overrides(overrides)
    stage1 = stage1_config(dataset, preset, seed, stage1_method,
                           **{k: overrides[k] for k in ("preference", "quantizer") if k in overrides})
    return {"stage1": stage1.to_dict(), "stage2": stage2_config(preset, dataset, **overrides.get("stage2", {})).to_dict(),
            "reward": reward_config(preset, dataset, **overrides.get("reward", {})).to_dict() if reward else None}


def train_dppmg(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                cache_dir: str | os.PathLike | None = None, stage1_method: str = DPPMG.name, reward: bool = True,
                progress: bool = True, overrides: dict[str, dict[str, Any]] | None = None):
    """Returns ``(pipeline, data, info)``; ``info`` holds the folders, the reward curves and the
    wall time / peak memory of every step that ran (``info["timings"]``). ``overrides`` maps a
    stage of :data:`OVERRIDE_STAGES` to config fields that replace the preset's."""
    from dppmg.config import reward_config, stage2_config
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.preference.train import load_or_fit
    from dppmg.reward.finetune import load_or_fine_tune

    seed = check_seed(seed)
    overrides = check_overrides(overrides)
    stage1_overrides = {k: overrides[k] for k in ("preference", "quantizer") if k in overrides}
    timings: list[dict[str, Any]] = []
    info: dict[str, Any] = {"timings": timings, "overrides": overrides}
    _, folder1 = load_or_fit(dataset, preset, seed, stage1_method, data_root=data_root, cache_dir=cache_dir,
                             progress=progress, timings=timings, **stage1_overrides)
    with StageTimer("stage2") as t:
        pipe, data = load_or_train_pipeline(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                            progress=progress, stage1_method=stage1_method,
                                            stage1_overrides=stage1_overrides,
                                            config=stage2_config(preset, dataset, **overrides.get("stage2", {})))
    timings.append(t.record)
    info["stage1_folder"] = str(folder1)
    info["stage2_folder"] = pipe.meta["folder"]
    info["token_losses"] = pipe.meta.get("token_losses")
    info["token_validation"] = pipe.meta.get("token_validation")
    if reward:
        config = reward_config(preset, dataset, **overrides.get("reward", {}))
        pipe, info["reward"] = load_or_fine_tune(pipe, data, config, preset, seed, cache_dir, progress, timings)
    return pipe, data, info
