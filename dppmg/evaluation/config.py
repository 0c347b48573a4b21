"""Config of the evaluation: how many users are evaluated, and the sizes of its statistics.

Its values per preset are resolved in :mod:`dppmg.config` and recorded in every result file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dppmg.errors import ConfigError


@dataclass(frozen=True)
class EvaluationConfig:
    """What the evaluation of one (dataset, method, seed) measures on.

    Args:
        users: users evaluated per seed by ``dppmg evaluate`` and the evaluation suite (drawn with
            the seed; all of them where a dataset has fewer).
        permutations: random generation-to-user assignments of every permutation test.
        kid_subsets / kid_subset_size: subsets the KID is averaged over, and their size (capped
            by the number of generated and reference images).
        retrieval_batch: generations per batch of the in-batch retrieval accuracy.
        grid_users: generations shown in a result's sample grid.
    """

    users: int = 256
    permutations: int = 2000
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    retrieval_batch: int = 16
    grid_users: int = 12

    def __post_init__(self) -> None:
        for name in ("users", "permutations", "kid_subsets", "kid_subset_size", "retrieval_batch", "grid_users"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"EvaluationConfig.{name} must be an int >= 2, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PreferenceEvaluatorConfig:
    """The learned preference evaluator (:mod:`dppmg.evaluation.preference_evaluator`).

    Args:
        dim / hidden: item-tower output and hidden sizes.
        epochs / batch_size / lr / weight_decay: AdamW training on the training interactions (BPR).
        patience: epochs without a better validation AUC before training stops.
        seed: initialisation, batch order and negatives (its own, never a method's).
    """

    dim: int = 64
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 3
    seed: int = 3003

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SelectionConfig:
    """The candidates the selection suite compares on the validation split
    (:mod:`dppmg.experiments.selection`).

    Args:
        preference_dims: candidate preference dimensions d of Stage 1 (for every method of a dataset).
        guidance_scales: candidate classifier-free guidance scales of the image generator.
        samplers: candidate (sampler, steps) pairs; the first is the reference the others must
            not be worse than.
        users: validation users the sampling and reward candidates are generated for.
        reward_weights: candidate reward weights (a, b, c) (consistency, image and text
            personalization); the configured weights are always a candidate too, the reference.
        precisions: candidate generation precisions; fp32 is always the reference.
        token_patiences: candidate patiences of Stage 2's early stopping (validations without a
            lower loss); the full budget is always the reference.
        stage1_budgets: candidate Stage 1 training budgets (graph steps per epoch, quantizer
            epochs) of every method of a dataset; the first is the reference. Empty (the default):
            the preset's budget does not bind on the dataset and nothing is compared.
    """

    preference_dims: tuple[int, ...] = (16, 32, 64)
    guidance_scales: tuple[float, ...] = (2.0, 3.0, 4.5, 6.0)
    samplers: tuple[tuple[str, int], ...] = (("ddim", 25), ("dpm++", 10), ("dpm++", 15), ("sde-dpm++", 15))
    users: int = 256
    reward_weights: tuple[tuple[float, float, float], ...] = ((0.5, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, 0.5, 0.5),
                                                               (1.0, 2.0, 2.0))
    precisions: tuple[str, ...] = ("fp32", "bf16")
    token_patiences: tuple[int, ...] = (1, 2, 3)
    stage1_budgets: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
