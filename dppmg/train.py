"""Everything DPPMG needs, from scratch or from the caches: ``dppmg train``.

Stage 1 (graph preferences and tokens, :mod:`dppmg.preference`) → the backbones (cached per
dataset) → Stage 2 (token embeddings, :mod:`dppmg.generation`) → the reward model → Stage 3 (reward
fine-tuning of the tokens, :mod:`dppmg.reward`). Every step is cached under a key of its config and
inputs, so a second call only loads; an interrupted call resumes at the first missing step (the
image backbone from its last checkpoint).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dppmg.config import reward_config, stage2_config
from dppmg.errors import ConfigError
from dppmg.generation.config import Stage2Config
from dppmg.infra import cache
from dppmg.infra.io import stable_hash
from dppmg.infra.provenance import StageTimer
from dppmg.preference.config import Stage1Config
from dppmg.reward.config import RewardConfig

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


def stage1_overrides(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The part of a run's ``overrides`` that Stage 1's config takes."""
    return {k: overrides[k] for k in ("preference", "quantizer") if k in overrides}


@dataclass(frozen=True)
class DPPMGRunConfig:
    """Every stage's config of one DPPMG run, resolved once where the run starts (the method's
    ``fit``, the CLI) and handed down as objects: no stage looks its config up again.

    Args:
        stage1 (Stage1Config): the Stage 1 run whose tokens the generators read (its dataset,
            preset and seed are the run's).
        stage2 (Stage2Config): the token embeddings and both backbones.
        reward (RewardConfig, optional): Stage 3; ``None`` trains no reward fine-tuning.
        overrides (dict): the config fields per stage the run was resolved with (the method's
            documented ones and the caller's), recorded with its results; every stage config
            above has them applied.
    """

    stage1: Stage1Config
    stage2: Stage2Config
    reward: RewardConfig | None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def resolve(cls, stage1: Stage1Config, *, reward: bool = True,
                overrides: dict[str, dict[str, Any]] | None = None) -> "DPPMGRunConfig":
        """Stage 2 and Stage 3 of ``stage1``'s dataset and preset with ``overrides`` (``stage2``,
        ``reward``) applied last (``stage1`` has its own applied already)."""
        overrides = check_overrides(overrides)
        dataset, preset = stage1.dataset, stage1.preset
        return cls(stage1, stage2_config(preset, dataset, **overrides.get("stage2", {})),
                   reward_config(preset, dataset, **overrides.get("reward", {})) if reward else None, overrides)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config of every stage, as plain dicts."""
        return {"stage1": self.stage1.to_dict(), "stage2": self.stage2.to_dict(),
                "reward": self.reward.to_dict() if self.reward is not None else None}


def train_dppmg(run: DPPMGRunConfig, *, data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                progress: bool = True):
    """Stages 1-3 of the resolved ``run``. Returns ``(pipeline, data, info)``; ``info`` holds the
    folders, the reward curves, the wall time / peak memory of every step that ran
    (``info["timings"]``) and the run's ``overrides`` (recorded: ``run`` has them applied)."""
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.preference.train import load_or_fit
    from dppmg.reward.finetune import load_or_fine_tune

    timings: list[dict[str, Any]] = []
    info: dict[str, Any] = {"timings": timings, "overrides": run.overrides}
    _, folder1 = load_or_fit(run.stage1, data_root=data_root, cache_dir=cache_dir, progress=progress,
                             timings=timings, label="stage1")
    with StageTimer("stage2") as t:
        pipe, data, loaded = load_or_train_pipeline(run.stage1, run.stage2, data_root=data_root, cache_dir=cache_dir,
                                                    progress=progress)
    # A load takes seconds, a training minutes: the plan's cost model counts only trainings.
    timings.append({**t.record, "loaded": loaded})
    info["stage1_folder"] = str(folder1)
    info["stage2_folder"] = pipe.meta["folder"]
    info["token_losses"] = pipe.meta.get("token_losses")
    info["token_validation"] = pipe.meta.get("token_validation")
    if run.reward is not None:
        pipe, info["reward"] = load_or_fine_tune(pipe, data, run.reward, run.stage1.preset, run.stage1.seed, cache_dir,
                                                 progress, timings)
    return pipe, data, info


@dataclass(frozen=True)
class TrainingStep:
    """One training step of a DPPMG run as the cache sees it before the run starts.

    Args:
        block (str): the timing block the step's wall time is recorded under (``stage1``,
            ``stage2``, ``stage3_reward_finetuning``).
        artifact (str): the cache folder it writes; where that folder's name depends on an earlier
            step not yet trained (Stage 2 on Stage 1's tokens), a key of the configs instead.
        cached (bool): whether the cache holds a complete entry (the step only loads).
    """

    block: str
    artifact: str
    cached: bool


def training_steps(run: DPPMGRunConfig, cache_dir: str | os.PathLike | None = None) -> list[TrainingStep]:
    """What :func:`train_dppmg` of ``run`` would train and what it would load, read from the
    cache without loading or training anything (the plan's cost model, :mod:`benchmark.plan`).
    The folders are the ones the run writes (the same key functions)."""
    from dppmg.generation.cache import pipeline_dir
    from dppmg.preference.checkpoint import Stage1Checkpoint, checkpoint_dir
    from dppmg.reward.finetune import reward_dir

    cached = lambda folder: cache.problem(folder, deep=False) is None  # noqa: E731
    folder1 = checkpoint_dir(run.stage1, cache_dir)
    steps = [TrainingStep("stage1", str(folder1), cached(folder1))]
    if steps[0].cached and (folder1 / "tokens.json").is_file():
        tokens = json.loads((folder1 / "tokens.json").read_text())["users"]
        folder2 = pipeline_dir(Stage1Checkpoint(folder1, {}, tokens, {}, {}, {}), run.stage2, run.stage1.seed,
                               cache_dir)
        steps.append(TrainingStep("stage2", str(folder2), cached(folder2)))
    else:
        folder2 = Path(f"{folder1.name}-untrained-{stable_hash(run.stage2.to_dict())}")
        steps.append(TrainingStep("stage2", str(folder2), False))
    if run.reward is not None:
        sampling = {k: getattr(run.stage2.image, k) for k in ("guidance_scale", "sample_eta")}
        folder3 = reward_dir(folder2, run.reward, run.stage1.seed, cache_dir, image_sampling=sampling)
        steps.append(TrainingStep("stage3_reward_finetuning", str(folder3), steps[1].cached and cached(folder3)))
    return steps
