"""Stage 1 checkpoints: the folder later stages (and ``dppmg tokens``) read.

Checkpoint folder (``<cache>/stage1/<dataset>/<method>-<preset>-seed<S>-<key>/``)::

    config.json        the resolved Stage1Config and the dataset signature it was trained on
    preference.pt      state_dict of the ModalPreferenceGNN (absent for popularity)
    quantizer_<m>.pt   state_dict of each modality's ResidualQuantizer
    tokens.json        per-user token table {user_id: {modality: [token, ...]}}
    item_codes.npz     each item's own codes per modality (what a token "means")
    metrics.json       the result JSON (schema dppmg.result/v1) with provenance
    manifest.json      every file's size and SHA-256, written last (:mod:`dppmg.infra.cache`)

The token table is the only contract between Stage 1 and the generators of Stage 2.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dppmg.data.features import extract_features
from dppmg.data.schema import InteractionData, data_signature
from dppmg.errors import DPPMGError
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, read_versioned_json
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.infra.results import write_result
from dppmg.preference.config import CHECKPOINT_VERSION, PreferenceConfig, QuantizerConfig, Stage1Config
from dppmg.preference.model import ModalPreferenceGNN, cold_start_fill, normalized_adjacency, popularity_scores
from dppmg.preference.quantize import ResidualQuantizer, codes_to_tokens
from dppmg.preference.ranking import RankingEvaluator, dense_scorer, factor_scorer


def checkpoint_dir(config: Stage1Config, cache_dir: str | os.PathLike | None = None) -> Path:
    return (resolve_cache_dir(cache_dir) / "stage1" / config.dataset
            / f"{config.method}-{config.preset}-seed{config.seed}-{config.key}")


def rebuild_command(folder: str | os.PathLike) -> str:
    """The ``dppmg preference fit`` command that writes the checkpoint folder ``folder``."""
    folder = Path(folder)
    match = re.fullmatch(r"(?P<method>.+)-(?P<preset>[^-]+)-seed(?P<seed>\d+)-[0-9a-f]+", folder.name)
    if match is None:
        return f"dppmg preference fit --dataset {folder.parent.name}"
    return (f"dppmg preference fit --dataset {folder.parent.name} --method {match['method']} "
            f"--preset {match['preset']} --seed {match['seed']}")


def save_stage1(result, data: InteractionData, folder: Path, record: dict[str, Any] | None = None) -> Path:
    """Write the checkpoint folder of a :class:`~dppmg.preference.train.Stage1Result` as one cache
    entry (:func:`dppmg.infra.cache.entry`: written aside, sealed, swapped in), with the result JSON
    ``record`` as ``metrics.json`` if given."""
    with cache.entry(folder, data.name) as tmp:
        atomic_write_json(tmp / "config.json", {"config": result.config.to_dict(), "data": data_signature(data),
                                                "version": CHECKPOINT_VERSION})
        if result.fit is not None:
            torch.save(result.fit.model.state_dict(), tmp / "preference.pt")
        for m, quantizer in result.quantizers.items():
            torch.save(quantizer.state_dict(), tmp / f"quantizer_{m}.pt")
        if result.user_codes:
            user_ids = data.users["user_id"].tolist()
            tokens = {m: codes_to_tokens(m, codes) for m, codes in result.user_codes.items()}
            table = {uid: {m: tokens[m][u] for m in tokens} for u, uid in enumerate(user_ids)}
            atomic_write_json(tmp / "tokens.json", {"modalities": list(tokens), "users": table})
            with open(tmp / "item_codes.npz", "wb") as fh:
                np.savez(fh, **{f"item_{m}": c for m, c in result.item_codes.items()},
                         **{f"user_{m}": c for m, c in result.user_codes.items()},
                         **{f"pref_{m}": p for m, p in result.preferences.items()})
        if record is not None:
            write_result(tmp / "metrics.json", record)
    return folder


@dataclass
class Stage1Checkpoint:
    """A saved Stage 1 run, checked against the dataset it is used with.

    Args:
        folder: the checkpoint folder.
        config: its resolved :class:`~dppmg.preference.config.Stage1Config`, as a dict.
        tokens: the token table ``{user_id: {modality: [token, ...]}}``.
        item_codes / user_codes: per modality, each item's / user's code indices ``(n, L)``.
        preferences: per modality, the users' preference vectors ``(n_users, d)``.
    """

    folder: Path
    config: dict[str, Any]
    tokens: dict[str, dict[str, list[str]]]
    item_codes: dict[str, np.ndarray]
    user_codes: dict[str, np.ndarray]
    preferences: dict[str, np.ndarray]


def load_stage1(folder: str | os.PathLike, data: InteractionData) -> Stage1Checkpoint:
    """Load a checkpoint folder; raise naming the command that rebuilds it if it is absent or damaged,
    and if it was trained on another dataset, split or config version."""
    folder = Path(folder)
    cache.require(folder, "stage-1 checkpoint", rebuild_command(folder))
    meta = read_versioned_json(folder / "config.json", CHECKPOINT_VERSION, "stage-1 checkpoint",
                               "run `dppmg preference fit` first")
    expected = data_signature(data)
    for key, value in expected.items():
        if meta["data"].get(key) != value:
            raise DPPMGError(f"{folder}: checkpoint was trained on a different dataset ({key}: "
                             f"{meta['data'].get(key)!r} != {value!r}); retrain with `dppmg preference fit`")
    tokens_file = folder / "tokens.json"
    if not tokens_file.is_file():
        # The quantized methods are named by `dppmg tokens --help` (its --method choices).
        raise DPPMGError(f"{folder}: Stage 1 method {meta['config']['method']!r} ranks items but makes no preference "
                         "tokens (it has no quantizer); the generators read the tokens of a quantized method "
                         "(`dppmg tokens --help` lists them)")
    tokens = json.loads(tokens_file.read_text())["users"]
    with np.load(folder / "item_codes.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    pick = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
    return Stage1Checkpoint(folder, meta["config"], tokens, pick("item_"), pick("user_"), pick("pref_"))


def load_scorer(folder: str | os.PathLike, data: InteractionData, cache_dir: str | os.PathLike | None = None):
    """A :data:`~dppmg.preference.ranking.UserScorer` of the saved Stage 1 model in ``folder``
    (any ranking method, quantized or not): the graph model rebuilt from its config and weights
    over the cached item features, s(u, i) = Σ_m <p_u^m, q_i^m>; popularity (no model) ranks by
    training counts. Users without training interactions get the mean preference, as in Stage 1."""
    folder = Path(folder)
    cache.require(folder, "stage-1 checkpoint", rebuild_command(folder))
    meta = read_versioned_json(folder / "config.json", CHECKPOINT_VERSION, "stage-1 checkpoint")
    if meta["config"]["preference"] is None:
        if meta["data"] != data_signature(data):
            raise DPPMGError(f"{folder}: checkpoint was trained on other data than {data.name!r}; "
                             f"rebuild it with `{rebuild_command(folder)}`")
        return dense_scorer(popularity_scores(data))
    return factor_scorer(load_preferences(folder, data, cache_dir))


def load_preferences(folder: str | os.PathLike, data: InteractionData, cache_dir: str | os.PathLike | None = None
                     ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per branch, the saved Stage 1 model's (user preferences p, item vectors q): the graph model
    rebuilt from its config and weights over the cached item features; users without training
    interactions get the mean preference, as in Stage 1."""
    folder = Path(folder)
    cache.require(folder, "stage-1 checkpoint", rebuild_command(folder))
    meta = read_versioned_json(folder / "config.json", CHECKPOINT_VERSION, "stage-1 checkpoint")
    if meta["data"] != data_signature(data):
        raise DPPMGError(f"{folder}: checkpoint was trained on other data than {data.name!r}; "
                         f"rebuild it with `{rebuild_command(folder)}`")
    if meta["config"]["preference"] is None:
        raise DPPMGError(f"{folder}: Stage 1 method {meta['config']['method']!r} trains no preference model")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"]["preference"].items()}
    config = PreferenceConfig(**fields)
    features = extract_features(data, cache_dir=cache_dir, progress=False) if config.uses_features else {}
    model = ModalPreferenceGNN(data.num_users, data.num_items, {m: torch.as_tensor(f) for m, f in features.items()},
                               normalized_adjacency(data.user_item_pairs("train"), data.num_users, data.num_items),
                               config)
    model.load_state_dict(torch.load(folder / "preference.pt"))
    has_train = RankingEvaluator(data).has_train
    return {m: (cold_start_fill(p, has_train), q) for m, (p, q) in model.preferences().items()}


def load_quantized_preferences(folder: str | os.PathLike, data: InteractionData,
                               cache_dir: str | os.PathLike | None = None
                               ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per modality, the saved Stage 1 run's quantized user preferences (each user's codes decoded
    by its quantizer, the vectors the tokens stand for) and its item vectors q: what Stage 1's
    ``quantized_valid`` / ``quantized_test`` rank with."""
    folder = Path(folder)
    checkpoint = load_stage1(folder, data)
    quantizer_fields = checkpoint.config.get("quantizer")
    if quantizer_fields is None:
        raise DPPMGError(f"{folder}: Stage 1 method {checkpoint.config['method']!r} has no quantizer")
    config = QuantizerConfig(**quantizer_fields)
    out = {}
    for m, (_, q) in load_preferences(folder, data, cache_dir).items():
        quantizer = ResidualQuantizer(q.shape[1], config)
        quantizer.load_state_dict(torch.load(folder / f"quantizer_{m}.pt"))
        out[m] = (quantizer.decode(torch.as_tensor(checkpoint.user_codes[m])), q)
    return out
