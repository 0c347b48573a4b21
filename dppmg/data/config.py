"""Config of the data stage: which dataset, how it is processed, and the synthetic world.

Its values per preset and dataset are resolved in :mod:`dppmg.config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dppmg.errors import ConfigError

DATASETS = ("movielens", "movielens-1m", "hm", "synthetic")


@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in synthetic world (see :mod:`dppmg.data.synthetic`)."""

    num_users: int = 600
    num_items: int = 900
    min_history: int = 20
    max_history: int = 50
    divergent_fraction: float = 0.5
    image_weight: float = 2.0
    text_weight: float = 2.0
    render_width: int = 96
    render_height: int = 144
    seed: int = 0


@dataclass(frozen=True)
class DataConfig:
    """How a dataset is loaded and processed.

    Args:
        dataset: one of :data:`DATASETS`.
        positive_threshold: keep rated interactions with rating >= this (``None``: keep all).
        min_user_interactions / min_item_interactions: iterative k-core thresholds (1 disables).
        split_ratios: per-user chronological train/valid/test fractions.
        image_width / image_height: size of the preprocessed image cache (2:3 portrait).
        require_description: keep only items with a free-text description (plot / detail_desc).
        max_users / max_items: keep this many users (drawn with a fixed seed) and their most
            frequent items before the k-core (real datasets; ``smoke`` uses it to run in minutes).
        synthetic: the synthetic world's config (used when ``dataset == "synthetic"``).
    """

    dataset: str = "synthetic"
    positive_threshold: float | None = None
    min_user_interactions: int = 5
    min_item_interactions: int = 1
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    image_width: int = 32
    image_height: int = 48
    require_description: bool = False
    max_users: int | None = None
    max_items: int | None = None
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(DATASETS)}")
        if len(self.split_ratios) != 3 or abs(sum(self.split_ratios) - 1.0) > 1e-6 or min(self.split_ratios) < 0:
            raise ConfigError(f"split_ratios must be three non-negative fractions summing to 1, got {self.split_ratios}")
        for name in ("min_user_interactions", "min_item_interactions", "image_width", "image_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
