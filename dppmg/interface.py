"""The interface every registered method implements: DPPMG, its ablations and controls, the
baselines and the references.

A method is a class with a registered ``name``, a one-line ``description``, a ``kind`` and the
harness ``suites`` it runs in (set by :func:`dppmg.registry.register_method`).

* A **generation method** (:class:`GenerationMethod`; kinds ``generation``, ``ablation``,
  ``control``, ``reference``) has ``fit(dataset, preset, seed, ...)``, which trains (or loads from
  the cache) whatever it needs from the training interactions and returns the processed dataset;
  ``generate(user_ids, seed)``, which returns per user ``{"user_id", "text", "image", ...}`` with a
  32x48 RGB image; and ``config()``, recorded as its resolved configuration in every result file.
* A **ranking method** (:class:`RankingMethod`; kind ``ranking``, or ``ablation``) is a Stage 1
  configuration: the :class:`~dppmg.preference.config.PreferenceConfig` overrides of the graph
  model it trains (``preference``; ``None`` for popularity, which trains nothing) and whether its
  preferences are quantized into tokens (``quantize``).

A generation method that also runs in the ranking table (DPPMG itself) sets ``preference`` and
``quantize`` too. Evaluation is shared (:func:`dppmg.evaluation.evaluate.evaluate`).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Mapping, Sequence

from dppmg.data.schema import InteractionData


class Method:
    """What every registered method has (set by :func:`~dppmg.registry.register_method`)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    suites: ClassVar[tuple[str, ...]] = ()
    order: ClassVar[int] = 100
    # Stage 1 (the "preference" suite): PreferenceConfig overrides of the model this method
    # trains, None for a method that trains none; and whether its preferences become tokens.
    preference: ClassVar[Mapping[str, Any] | None] = None
    quantize: ClassVar[bool] = False


class RankingMethod(Method):
    """A recommender of the Stage 1 ranking table (see the module docstring)."""

    kind = "ranking"
    suites = ("preference",)


class GenerationMethod(Method):
    """Base class of a personalized multimodal generator (see the module docstring)."""

    kind = "generation"
    suites = ("evaluation",)

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    def fit(self, dataset: str, preset: str, seed: int, *, data_root: str | None = None,
            cache_dir: str | os.PathLike | None = None, progress: bool = True, **overrides: Any) -> InteractionData:
        """Train or load; ``overrides`` (config fields per stage) are for methods that take them."""
        raise NotImplementedError

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What to record as this method's resolved configuration in a result file."""
        return {}
