"""The one seeding function of the suite.

Every stage calls :func:`seed_everything` once and then draws randomness only from the explicit
generators it returns, so a result is a function of its recorded seed. A model that every method
and seed share (the catalogue-adapted text and image backbones, cached per dataset and config)
trains from :func:`shared_model_generator` instead, so what the cache holds never depends on which
cell happened to train it first.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np

from dppmg.errors import ConfigError


@dataclass(frozen=True)
class Generators:
    """Explicit random generators derived from one seed."""

    seed: int
    numpy: np.random.Generator
    torch: "object"  # torch.Generator; typed loosely so importing this module stays cheap


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as an int, or raise naming the argument (bools and floats are refused)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ConfigError(f"{name} must be in [0, 2**32), got {seed}")
    return int(seed)


def seed_everything(seed: int) -> Generators:
    """Seed Python, NumPy and torch globally and return explicit generators for the same seed."""
    import torch

    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    gen = torch.Generator().manual_seed(seed)
    return Generators(seed=seed, numpy=np.random.default_rng(seed), torch=gen)


SHARED_MODEL_SEED = 0


def shared_model_generator() -> "object":
    """A fresh torch generator at :data:`SHARED_MODEL_SEED` for one shared model's training."""
    import torch

    return torch.Generator().manual_seed(SHARED_MODEL_SEED)


# Validation draws (its users, its generations' noise) come from their own stream of the seed.
VALIDATION_STREAM = 1


def split_seed(seed: int, split: str) -> int:
    """The seed a ``split``'s users and generations are drawn with: ``seed`` itself for the test
    split, an independent seed derived from it for the validation split.

    A selection runs at the seed of the test cells it chooses for. With one seed for both, a
    validation run and a test cell of the same users would sample the same noise and give
    identical generations, and a reference-free metric (consistency) would be chosen on the test
    numbers themselves."""
    seed = check_seed(seed)
    if split == "test":
        return seed
    return int(np.random.SeedSequence([seed, VALIDATION_STREAM]).generate_state(1)[0])
