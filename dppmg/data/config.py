"""Config of the data stage: which dataset, how it is processed, and the synthetic world.

The stage's values per preset and dataset live here (:data:`DATA_PRESET_TABLE`,
:data:`DATA_DEFAULTS`, resolved by :func:`data_config`), so that loading a dataset by name never
reaches back into :mod:`dppmg.config`, which holds every other stage's table and includes this one
in its ``PRESET_TABLE``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dppmg.errors import ConfigError

DATASETS = ("movielens", "movielens-1m", "hm", "synthetic")
PRESETS = ("smoke", "small", "paper")


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


# Per preset: the real datasets' processing and the synthetic world's size. The real datasets at
# `smoke` are small copies (checking that every stage runs, in minutes).
DATA_PRESET_TABLE: dict[str, dict[str, dict[str, Any]]] = {
    "data": {"smoke": {"max_users": 120, "max_items": 300}, "small": {}, "paper": {}},
    "synthetic": {"smoke": {"num_users": 120, "num_items": 240}, "small": {"num_users": 600, "num_items": 900},
                  "paper": {"num_users": 2000, "num_items": 3000}},
}

DATA_DEFAULTS = {
    "movielens": {"positive_threshold": 4.0, "min_user_interactions": 5, "min_item_interactions": 1},
    "movielens-1m": {"positive_threshold": 4.0, "min_user_interactions": 5, "min_item_interactions": 1},
    # The k-core documented for the H&M sample (customers >= 5 purchases, articles >= 2 buyers).
    "hm": {"positive_threshold": None, "min_user_interactions": 5, "min_item_interactions": 2},
    "synthetic": {"positive_threshold": None, "min_user_interactions": 5, "min_item_interactions": 1},
}


def check_preset(preset: object) -> str:
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return preset


def check_dataset(dataset: object) -> str:
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return dataset


def data_config(dataset: str, preset: str = "small", **overrides: Any) -> DataConfig:
    """The data config of ``dataset`` at ``preset``, with explicit overrides applied last
    (``synthetic``: a dict of :class:`SyntheticConfig` fields, or one)."""
    check_preset(preset)
    check_dataset(dataset)
    synthetic = overrides.pop("synthetic", {}) or {}
    if isinstance(synthetic, SyntheticConfig):
        synthetic = dataclasses.asdict(synthetic)
    for given, cls, what in ((overrides, DataConfig, "data"), (synthetic, SyntheticConfig, "synthetic")):
        unknown = sorted(set(given) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown {what} config option(s): {', '.join(unknown)}; "
                              f"expected some of {', '.join(sorted(f.name for f in dataclasses.fields(cls)))}")
    values: dict[str, Any] = {"dataset": dataset, **DATA_DEFAULTS[dataset],
                              **({} if dataset == "synthetic" else DATA_PRESET_TABLE["data"][preset]), **overrides}
    values["synthetic"] = SyntheticConfig(**{**DATA_PRESET_TABLE["synthetic"][preset], **synthetic})
    if isinstance(values.get("split_ratios"), list):
        values["split_ratios"] = tuple(values["split_ratios"])
    return DataConfig(**values)
