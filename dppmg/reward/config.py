"""Config of Stage 3: the reward weights and the fine-tuning schedule.

Its values per preset are resolved in :mod:`dppmg.config`; this class holds the defaults and
checks the values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dppmg.errors import ConfigError

# Part of every Stage 3 cache key: raise it when what a fine-tuning computes changes.
# 2: the text advantage's consistency term follows ``text_consistency``.
# 3: the cache key holds the image sampling settings; DDIM at the fine-tuning's own sample_steps,
#    whatever the pipeline's sampler, and the key holds guidance and eta. (That change was declared
#    as 4 here while dppmg/reward/finetune.py redefined the constant as 3, the value every key has
#    used: one definition now, at the value in effect, so the existing entries keep their keys.)
REWARD_VERSION = 3


@dataclass(frozen=True)
class RewardConfig:
    """Reward fine-tuning (serialized with the fine-tuned pipeline).

    Args:
        consistency_weight / image_personalization_weight / text_personalization_weight: a, b, c.
        steps: optimisation steps; each updates the text and the image tokens once.
        users_per_step: users per step (drawn from users with a training history).
        group_size: texts sampled per user for the group baseline.
        text_lr / image_lr: Adam learning rates of the token embeddings.
        kl_coef: β of the text KL penalty to the Stage 2 model.
        image_anchor: weight of the L2 pull of the image tokens towards their Stage 2 values.
        image_gradient: ``"refl"`` (reward on the one-step clean-image prediction at a random
            intermediate step) or ``"draft"`` (reward on the final sample, gradient through its
            last ``draft_k`` steps).
        refl_window: the fractions of the sampling steps between which ReFL stops.
        draft_k: denoising steps the image reward is backpropagated through (``"draft"`` only).
        sample_steps: DDIM steps while fine-tuning (the fine-tuning always samples with DDIM, whatever
            sampler the pipeline generates with: ReFL needs DDIM's one-step clean-image prediction).
        max_new_tokens: length of the texts sampled while fine-tuning.
        personalization_baseline: ``"none"`` (plain similarity to the user's history) or
            ``"population"`` (minus the similarity to the average user's history).
        text_consistency: whether the text's policy-gradient reward includes a·consistency:
            ``"auto"`` (unless the image reads the generated text), ``"on"`` or ``"off"``.
        image_consistency_text: the text the image step's consistency is scored against:
            ``"mean"`` (the mean feature of the user's G sampled texts) or ``"read"`` (the sample
            the image reads when ``image_sees_generated_text`` is on, the pair the evaluator sees;
            the mean otherwise).
    """

    consistency_weight: float = 1.0
    image_personalization_weight: float = 1.0
    text_personalization_weight: float = 1.0
    steps: int = 20
    users_per_step: int = 6
    group_size: int = 4
    text_lr: float = 2e-3
    image_lr: float = 2e-3
    kl_coef: float = 0.05
    image_anchor: float = 1.0
    image_gradient: str = "refl"
    refl_window: tuple[float, float] = (0.5, 0.9)
    draft_k: int = 1
    sample_steps: int = 25
    max_new_tokens: int = 48
    personalization_baseline: str = "none"
    text_consistency: str = "auto"
    image_consistency_text: str = "mean"

    def __post_init__(self):
        if self.text_consistency not in ("auto", "on", "off"):
            raise ConfigError(f"text_consistency must be 'auto', 'on' or 'off', not {self.text_consistency!r}")
        if self.image_consistency_text not in ("mean", "read"):
            raise ConfigError(f"image_consistency_text must be 'mean' or 'read', not {self.image_consistency_text!r}")
        if self.personalization_baseline not in ("population", "none"):
            raise ConfigError(f"personalization_baseline must be 'population' or 'none', "
                              f"not {self.personalization_baseline!r}")
        if self.image_gradient not in ("refl", "draft"):
            raise ConfigError(f"image_gradient must be 'refl' or 'draft', not {self.image_gradient!r}")
        lo, hi = self.refl_window
        if not 0 <= lo <= hi < 1:
            raise ConfigError(f"refl_window must satisfy 0 <= start <= end < 1, got {self.refl_window}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ROLES = ("reward", "evaluator")


@dataclass(frozen=True)
class AlignmentConfig:
    """One alignment model.

    Args:
        role: ``"reward"`` or ``"evaluator"``.
        head: ``"linear"`` (one projection) or ``"mlp"`` (Linear-GELU-LayerNorm-Linear).
        dim: shared embedding size; hidden: MLP width (unused by linear heads).
        epochs / batch_size / lr / weight_decay: AdamW schedule over the training items.
        init_temperature: starting τ (learned, clamped to >= 0.01).
        heldout_fraction: items kept out of both models' training for the retrieval report.
        validation_fraction / patience: training items that pick the epoch (best R@10), and how many
            epochs without improvement stop training.
        seed: initialisation and batch order.
    """

    role: str
    head: str
    dim: int
    hidden: int
    seed: int
    epochs: int = 60
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    init_temperature: float = 0.07
    heldout_fraction: float = 0.1
    validation_fraction: float = 0.1
    patience: int = 10

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"unknown alignment role {self.role!r}; expected one of {ROLES}")
        if self.head not in ("linear", "mlp"):
            raise ConfigError(f"unknown head {self.head!r}; expected 'linear' or 'mlp'")
