"""The evaluator: the image–text alignment model that judges consistency in the evaluation.

Two-layer MLP heads over the frozen EfficientNet-Lite0 and MiniLM features (:mod:`dppmg.reward.alignment`),
seeded and built differently from the reward model, and never trained on an item that is a target
of the test period. No training stage imports this module (a test checks it), so no method can
train against it.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from dppmg.config import alignment_config
from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.reward.alignment import AlignmentModel, load_or_train_alignment


def load_or_train_evaluator(data: InteractionData, preset: str, cache_dir: str | os.PathLike | None = None,
                            progress: bool = True, **overrides: Any) -> tuple[AlignmentModel, dict[str, Any]]:
    """The cached evaluator of ``data`` at ``preset`` (trained if missing) and its report."""
    return load_or_train_alignment(data, alignment_config("evaluator", preset, **overrides), cache_dir, progress)


def check_independent(reward: AlignmentModel, evaluator: AlignmentModel) -> None:
    """Raise unless the two models are different roles, seeds and heads and share no weights."""
    if reward.config.role != "reward" or evaluator.config.role != "evaluator":
        raise DPPMGError(f"expected a reward model and an evaluator, got roles {reward.config.role!r} and "
                         f"{evaluator.config.role!r}")
    if reward.config.seed == evaluator.config.seed or reward.config.head == evaluator.config.head:
        raise DPPMGError("the evaluator must be seeded and built differently from the reward model")
    reward_storage = {p.untyped_storage().data_ptr() for p in reward.parameters()}
    for name, p in evaluator.named_parameters():
        if p.untyped_storage().data_ptr() in reward_storage:
            raise DPPMGError(f"the evaluator's {name} shares memory with the reward model")
        for q in reward.parameters():
            if q.shape == p.shape and torch.equal(q, p):
                raise DPPMGError(f"the evaluator's {name} equals a reward-model weight")
