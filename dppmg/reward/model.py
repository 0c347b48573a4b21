"""The reward model: the image–text alignment model Stage 3's reward scores consistency with.

A CLIP-style pair of linear heads over the frozen EfficientNet-Lite0 and MiniLM features
(:mod:`dppmg.reward.alignment`), trained per dataset on the catalogue's (image, text) pairs with its own
seed. It is never the evaluator (:mod:`dppmg.evaluation.evaluator`): a method that games this
model's score shows as a gap between the two.
"""

from __future__ import annotations

import os
from typing import Any

from dppmg.config import alignment_config
from dppmg.data.schema import InteractionData
from dppmg.reward.alignment import AlignmentModel, load_or_train_alignment


def load_or_train_reward_model(data: InteractionData, preset: str, cache_dir: str | os.PathLike | None = None,
                               progress: bool = True, **overrides: Any) -> tuple[AlignmentModel, dict[str, Any]]:
    """The cached reward model of ``data`` at ``preset`` (trained if missing) and its report."""
    return load_or_train_alignment(data, alignment_config("reward", preset, **overrides), cache_dir, progress)
