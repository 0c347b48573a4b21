"""The interface every generation method implements (DPPMG, its controls and the baselines).

* ``fit(dataset, preset, seed, ...)`` trains (or loads from the cache) whatever the method needs
  from the training interactions and returns the processed dataset;
* ``generate(user_ids, seed)`` returns, per user, ``{"user_id", "text", "image", ...}`` with a
  32x48 RGB image;
* ``config()`` is recorded as the method's resolved configuration in every result file.

Evaluation is shared (:func:`dppmg.evaluate.evaluate`); the registry is :mod:`dppmg.methods`.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Sequence

from dppmg.data.schema import InteractionData


class GenerationMethod:
    """Base class of a personalized multimodal generator (see the module docstring)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    def fit(self, dataset: str, preset: str, seed: int, *, data_root: str | None = None,
            cache_dir: str | os.PathLike | None = None, progress: bool = True) -> InteractionData:
        raise NotImplementedError

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What to record as this method's resolved configuration in a result file."""
        return {}
