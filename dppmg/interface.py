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

* A **unimodal baseline** (:class:`UnimodalMethod`) personalizes one modality (``modalities``)
  and takes the other from the shared backbones without user information, as ``nonpersonalized``
  does, so every method returns both; the tables read its row for its own modality only. A
  :class:`ModalityPair` joins a text and an image baseline: two separate models, the comparison a
  multimodal method must beat on consistency.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Mapping, Sequence

from dppmg.config import stage1_config
from dppmg.data.schema import InteractionData
from dppmg.generation.reuse import NONPERSONALIZED, reuse_or_generate


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
    # The modalities the method personalizes (a unimodal baseline's other modality carries no user
    # information; the main table reads its row for these only and marks the others n/a).
    modalities: ClassVar[tuple[str, ...]] = ("text", "image")
    # Per preset, the only datasets the harness runs the method on (a preset not named: every
    # dataset), e.g. the ablations at `smoke`, where CI's time allows the synthetic world only.
    preset_datasets: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Per modality, how many outputs the method's own generator makes for one user (PMG: its
    # candidates); a reference that looks items up makes none. The plan's cost model reads it.
    generation_items: ClassVar[Mapping[str, int]] = {"text": 1, "image": 1}

    @classmethod
    def stage1_config(cls, dataset: str, preset: str, seed: int, **overrides: Any):
        """This method's :class:`~dppmg.preference.config.Stage1Config` (``overrides``:
        ``preference`` / ``quantizer`` config fields) from its own ``preference`` and ``quantize``."""
        return stage1_config(dataset, preset, seed, cls.name, method_preference=cls.preference, quantize=cls.quantize,
                             **overrides)

    @classmethod
    def producers(cls) -> dict[str, str]:
        """Per modality, the registered method whose generator makes this method's output of it:
        the cells that share a producer share its generations (:mod:`dppmg.generation.reuse`)."""
        return {modality: cls.name for modality in cls.generation_items}


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

    def training_steps(self, dataset: str, preset: str, seed: int,
                       cache_dir: str | os.PathLike | None = None) -> list | None:
        """What :meth:`fit` would train and what it would load from the cache
        (:class:`~dppmg.train.TrainingStep` each), read without training; ``None``: the method does
        not say (the plan then takes its measured fit as it is)."""
        return None


class UnimodalMethod(GenerationMethod):
    """A personalized generator of one modality (``modality``: ``"text"`` or ``"image"``) on the
    dataset's shared backbones (:mod:`dppmg.generation.backbones`); the other modality is their
    non-personalized output. Subclasses implement :meth:`fit_modality` and :meth:`generate_modality`.
    """

    modality: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.modality:
            cls.modalities = (cls.modality,)
            if "generation_items" not in cls.__dict__:
                cls.generation_items = {cls.modality: 1}

    @classmethod
    def stage1_config(cls, dataset: str, preset: str, seed: int, **overrides: Any):
        """This method's :class:`~dppmg.preference.config.Stage1Config` (``overrides``:
        ``preference`` / ``quantizer`` config fields) from its own ``preference`` and ``quantize``."""
        return stage1_config(dataset, preset, seed, cls.name, method_preference=cls.preference, quantize=cls.quantize,
                             **overrides)

    @classmethod
    def producers(cls) -> dict[str, str]:
        other = "image" if cls.modality == "text" else "text"
        return {cls.modality: cls.name, other: NONPERSONALIZED}

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True, **overrides):
        from dppmg.generation.backbones import load_backbones

        backbones = load_backbones(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir, progress=progress)
        self.fit_on(backbones, preset, seed, cache_dir=cache_dir, progress=progress, **overrides)
        return backbones.data

    def fit_on(self, backbones, preset: str, seed: int, *, cache_dir=None, progress: bool = True, **overrides) -> None:
        """Fit on already loaded ``backbones`` (a :class:`ModalityPair` shares one set)."""
        if self.modality not in ("text", "image"):
            raise NotImplementedError(f"{type(self).__name__}: modality must be 'text' or 'image'")
        self.backbones = backbones
        self.cache_dir = cache_dir
        self.fit_modality(backbones, preset, seed, cache_dir=cache_dir, progress=progress, **overrides)

    def fit_modality(self, backbones, preset: str, seed: int, *, cache_dir=None, progress: bool = True,
                     **overrides) -> None:
        raise NotImplementedError

    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list:
        """Per user, the generated text (str) or image (32x48 RGB PIL image)."""
        raise NotImplementedError

    def trained_state(self) -> str:
        """A fingerprint of what :meth:`fit_modality` trained or computed that its generations
        depend on beyond :meth:`config` (:func:`dppmg.generation.reuse.tensor_fingerprint`);
        part of the key under which its generations are reused."""
        return ""

    def own_generations(self, user_ids: Sequence[str], seed: int) -> list:
        """:meth:`generate_modality`, computed once per key and reused by every cell that asks
        for the same generations (a pair reuses its parts': :mod:`dppmg.generation.reuse`)."""
        return reuse_or_generate(self.backbones, self.name, self.modality, seed, user_ids,
                                 lambda: self.generate_modality(user_ids, seed), producer_config=self.config(),
                                 state=self.trained_state(), cache_dir=getattr(self, "cache_dir", None),
                                 record=self.info.setdefault("generations", []))

    def generate(self, user_ids, seed):
        user_ids = [str(u) for u in user_ids]
        own = self.own_generations(user_ids, seed)
        other = nonpersonalized_generations(self.backbones, "image" if self.modality == "text" else "text",
                                            user_ids, seed, getattr(self, "cache_dir", None),
                                            self.info.setdefault("generations", []))
        texts, images = (own, other) if self.modality == "text" else (other, own)
        return [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]


def nonpersonalized_generations(backbones, modality: str, user_ids: Sequence[str], seed: int,
                                cache_dir: str | os.PathLike | None = None, record: list | None = None) -> list:
    """The backbones' output without user information for ``user_ids`` (the ``nonpersonalized``
    method's, and every unimodal baseline's other modality): made once per key, then reused."""
    make = backbones.nonpersonalized_texts if modality == "text" else backbones.nonpersonalized_images
    return reuse_or_generate(backbones, NONPERSONALIZED, modality, seed, user_ids,
                             lambda: make(len(user_ids), seed), cache_dir=cache_dir, record=record)


class ModalityPair(GenerationMethod):
    """Two separate unimodal models: ``text_method``'s texts with ``image_method``'s images, fitted
    on one shared set of backbones. Each modality is generated without seeing the other."""

    text_method: ClassVar[type[UnimodalMethod]]
    image_method: ClassVar[type[UnimodalMethod]]

    @classmethod
    def stage1_config(cls, dataset: str, preset: str, seed: int, **overrides: Any):
        """This method's :class:`~dppmg.preference.config.Stage1Config` (``overrides``:
        ``preference`` / ``quantizer`` config fields) from its own ``preference`` and ``quantize``."""
        return stage1_config(dataset, preset, seed, cls.name, method_preference=cls.preference, quantize=cls.quantize,
                             **overrides)

    @classmethod
    def producers(cls) -> dict[str, str]:
        return {"text": cls.text_method.name, "image": cls.image_method.name}

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True, **overrides):
        from dppmg.generation.backbones import load_backbones

        if self.text_method.modality != "text" or self.image_method.modality != "image":
            raise TypeError(f"{type(self).__name__}: text_method must be a text and image_method an image method")
        backbones = load_backbones(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir, progress=progress)
        self.parts = (self.text_method(), self.image_method())
        for part in self.parts:
            part.fit_on(backbones, preset, seed, cache_dir=cache_dir, progress=progress, **overrides)
            self.info.setdefault("timings", []).extend(part.info.get("timings", []))
        return backbones.data

    def generate(self, user_ids, seed):
        user_ids = [str(u) for u in user_ids]
        texts, images = (part.own_generations(user_ids, seed) for part in self.parts)
        self.info["generations"] = [g for part in self.parts for g in part.info.get("generations", [])]
        return [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]

    def config(self):
        return {part.name: part.config() for part in self.parts}
