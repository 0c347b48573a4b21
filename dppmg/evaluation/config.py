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
        users: test users evaluated by ``dppmg evaluate`` and the evaluation suite (drawn with the
            seed; all of them where a dataset has fewer).
        generation_users: test users of the generation suite's Stage 2 personalization test.
        retrieval_batch: generations per batch of the in-batch retrieval accuracy.
        grid_users: generations shown in a result's sample grid.
    """

    users: int = 48
    generation_users: int = 256
    retrieval_batch: int = 16
    grid_users: int = 12

    def __post_init__(self) -> None:
        for name in ("users", "generation_users", "retrieval_batch", "grid_users"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"EvaluationConfig.{name} must be an int >= 2, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
