"""Dataclass configs, one per stage, and the three presets.

A config is frozen: it is built once (from a preset plus explicit overrides), serialized into
every output and hashed into every cache key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dppmg.errors import ConfigError

PRESETS = ("smoke", "small", "paper")
DATASETS = ("movielens", "movielens-1m", "hm", "synthetic")
# Methods of the Stage 1 ranking table: DPPMG's modal-specific GNN, its "shared" ablation and the
# recommender baselines (defined in dppmg.preference; popularity needs no model).
STAGE1_METHODS = ("popularity", "mf-bpr", "lightgcn", "shared", "dppmg")

# Defaults per dataset: the positive threshold only applies where there are ratings; H&M's
# default k-core is the one documented in the data README (customers >= 5, articles >= 2).
_DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "movielens": {"positive_threshold": 4.0, "min_user_interactions": 5, "min_item_interactions": 1},
    "movielens-1m": {"positive_threshold": 4.0, "min_user_interactions": 5, "min_item_interactions": 1},
    "hm": {"positive_threshold": None, "min_user_interactions": 5, "min_item_interactions": 2},
    "synthetic": {"positive_threshold": None, "min_user_interactions": 5, "min_item_interactions": 1},
}

# Size of the synthetic world per preset (users, items).
_SYNTHETIC_SIZES = {"smoke": (120, 240), "small": (600, 900), "paper": (2000, 3000)}


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


def data_config(dataset: str, preset: str = "small", **overrides: Any) -> DataConfig:
    """The data config of ``dataset`` at ``preset``, with explicit overrides applied last."""
    check_preset(preset)
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    values: dict[str, Any] = {"dataset": dataset, **_DATASET_DEFAULTS[dataset]}
    users, items = _SYNTHETIC_SIZES[preset]
    synthetic_overrides = overrides.pop("synthetic", {}) or {}
    if isinstance(synthetic_overrides, SyntheticConfig):
        synthetic_overrides = dataclasses.asdict(synthetic_overrides)
    values["synthetic"] = SyntheticConfig(**{"num_users": users, "num_items": items, **synthetic_overrides})
    unknown = set(overrides) - {f.name for f in dataclasses.fields(DataConfig)}
    if unknown:
        raise ConfigError(f"unknown data config option(s): {', '.join(sorted(unknown))}")
    values.update(overrides)
    if isinstance(values.get("split_ratios"), list):
        values["split_ratios"] = tuple(values["split_ratios"])
    return DataConfig(**values)


def check_preset(preset: object) -> str:
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return preset
