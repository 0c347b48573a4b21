"""Generations computed once per (dataset, seed, producer, generation config, users) and reused.

Several cells of the evaluation grid generate exactly the same outputs: a two-model pair
(``lamp+pmg``) produces its parts' texts and images, and every unimodal baseline takes its other
modality from the backbones with the very calls the ``nonpersonalized`` cell makes. Each such
modality output is stored once in the cache (``generations/``) and loaded by the next cell that
asks for it: the images as the uint8 arrays they were made from, the texts as JSON, so a reused
output is bit for bit what a fresh generation gives (``tests/generation/test_reuse.py``).

The key holds everything the output depends on: the producer (the method that generates the
modality) and its resolved config, a fingerprint of its trained parameters, the backbones'
Stage 2 config (their own configs, sampling and text-generation settings included), the dataset
and its catalogue, the seed, the users in order, the torch version and thread count (a matrix
product may round differently with another number of threads) and :data:`GENERATION_VERSION`,
which is bumped whenever the sampling code changes. An entry whose key differs is never reused;
the log names the parts that differ. ``DPPMG_NO_GENERATION_REUSE=1`` turns reuse off.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from dppmg.infra import cache
from dppmg.infra.io import stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir

GENERATION_VERSION = 1
MODALITIES = ("text", "image")
# The registered name of the method whose outputs carry no user information
# (baselines.nonpersonalized.NonPersonalized takes it as its name): the producer of every unimodal
# baseline's other modality. Defined here, below the interface, so that the interface can name it.
NONPERSONALIZED = "nonpersonalized"


def reuse_enabled() -> bool:
    return os.environ.get("DPPMG_NO_GENERATION_REUSE", "") not in ("1", "true", "yes")


def tensor_fingerprint(*modules: Any) -> str:
    """SHA-256 of the parameters and buffers of torch modules (or state dicts), in name order:
    what a producer has trained, so retrained parameters never meet an old generation."""
    import torch

    h = hashlib.sha256()
    for module in modules:
        state = module.state_dict() if hasattr(module, "state_dict") else module
        for name in sorted(state):
            value = state[name]
            h.update(name.encode())
            if isinstance(value, torch.Tensor):
                h.update(value.detach().cpu().contiguous().numpy().tobytes())
            else:
                h.update(json.dumps(value, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def generation_key_parts(backbones, producer: str, modality: str, seed: int, user_ids: Sequence[str],
                         producer_config: dict[str, Any], state: str = "") -> dict[str, Any]:
    """The named parts of a generation's key (see the module docstring)."""
    import torch

    data = backbones.data
    return {"version": GENERATION_VERSION, "dataset": data.name, "producer": producer, "modality": modality,
            "seed": int(seed), "users": [str(u) for u in user_ids],
            "catalogue": stable_hash(data.items["item_id"].tolist(), data.items["text"].tolist()),
            "stage2": backbones.stage2.to_dict(), "producer_config": producer_config, "trained_state": state,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def _folder(parts: dict[str, Any], cache_dir: str | os.PathLike | None) -> Path:
    name = f"{parts['dataset']}-{parts['producer']}-{parts['modality']}-seed{parts['seed']}"
    return resolve_cache_dir(cache_dir) / "generations" / f"{name}-{stable_hash(parts)}"


def _why_not(folder: Path, parts: dict[str, Any]) -> list[str]:
    """For each other entry of the same (dataset, producer, modality, seed): which key parts differ."""
    prefix = folder.name.rsplit("-", 1)[0] + "-"
    out = []
    for other in sorted(folder.parent.glob(prefix + "*")):
        try:
            old = json.loads((other / "key.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        differ = sorted(k for k in set(parts) | set(old) if old.get(k) != parts.get(k))
        out.append(f"{other.name} (differs in {', '.join(differ)})")
    return out


def _load(folder: Path, modality: str) -> list:
    if modality == "text":
        return json.loads((folder / "texts.json").read_text(encoding="utf-8"))
    arrays = np.load(folder / "images.npy")
    return [Image.fromarray(a) for a in arrays]


def _save(tmp: Path, modality: str, outputs: list, parts: dict[str, Any]) -> None:
    (tmp / "key.json").write_text(json.dumps(parts, sort_keys=True, default=str), encoding="utf-8")
    if modality == "text":
        (tmp / "texts.json").write_text(json.dumps(list(outputs)), encoding="utf-8")
    else:
        np.save(tmp / "images.npy", np.stack([np.asarray(im.convert("RGB")) for im in outputs]))


def reuse_or_generate(backbones, producer: str, modality: str, seed: int, user_ids: Sequence[str],
                      generate: Callable[[], list], *, producer_config: dict[str, Any] | None = None,
                      state: str = "", cache_dir: str | os.PathLike | None = None,
                      log: Callable[[str], None] | None = None, record: list | None = None) -> list:
    """``generate()``'s outputs for ``user_ids`` (texts or PIL images), loaded from the cache when
    this exact generation was made before, else generated and stored.

    Args:
        backbones: the dataset's :class:`~dppmg.generation.backbones.Backbones`.
        producer / modality: the registered method whose generator makes this modality.
        producer_config / state: its resolved config and :func:`tensor_fingerprint` of what it trained.
        record: where to append ``{"producer", "modality", "reused", "entry"}`` (the result's record).
    """
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if not reuse_enabled():
        return generate()
    parts = generation_key_parts(backbones, producer, modality, seed, user_ids, producer_config or {}, state)
    folder = _folder(parts, cache_dir)
    say = log or (lambda message: None)
    with cache.lock(folder, f"{producer} {modality} generations"):
        if cache.problem(folder) is None:
            outputs, reused = _load(folder, modality), True
            say(f"{producer} {modality}: {len(outputs)} generations reused from {folder.name}")
        else:
            for why in _why_not(folder, parts):
                say(f"{producer} {modality}: not reusing {why}")
            outputs, reused = generate(), False
            with cache.entry(folder, parts["dataset"]) as tmp:
                _save(tmp, modality, outputs, parts)
    if record is not None:
        record.append({"producer": producer, "modality": modality, "reused": reused, "entry": folder.name})
    return outputs
