"""Entry point to every dataset: :func:`load_dataset` loads, processes and caches.

Processing order (each step is counted in the statistics table):
source files -> joins (posters / photos / plots) -> integrity check -> de-duplication ->
[description required] -> positive threshold -> iterative k-core -> drop unused users/items ->
per-user chronological 8:1:1 split -> contiguous indices.

The processed result is cached (pickle, atomic write) under a key of the source files'
fingerprints and the resolved :class:`~dppmg.data.config.DataConfig`, so a second load skips parsing.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Callable

from dppmg.data import processing
from dppmg.data.config import DATA_PRESET_TABLE, DataConfig, data_config
from dppmg.data.hm import load_hm
from dppmg.data.movielens import load_movielens_1m, load_movielens_100k
from dppmg.data.schema import InteractionData
from dppmg.data.synthetic import generate_synthetic, synthetic_image_dir, user_id
from dppmg.errors import ConfigError, DatasetError
from dppmg.infra.cache import report_rebuild
from dppmg.infra.io import atomic_path, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir, resolve_data_root

# 2: the smoke subsample (max_users, max_items) after the k-core.
PROCESSING_VERSION = 2

# dataset name -> (folder under the data root, loader, source files whose fingerprint keys the cache)
REAL_DATASETS: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "movielens": ("movielens-100k", load_movielens_100k,
                  ("ml-100k/u.data", "ml-100k/u.item", "posters/ml100k_to_ml1m.csv", "posters",
                   "imdb/movielens100k_details.json")),
    "movielens-1m": ("movielens-1m", load_movielens_1m, ("ml-1m/ratings.dat", "ml-1m/movies.dat", "posters")),
    "hm": ("hm-sample", load_hm, ("transactions_train.csv", "articles.csv", "images")),
}


def dataset_dir(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder of a real dataset under the data root, with a clear error if it is absent."""
    root = resolve_data_root(data_root, required=True)
    folder = root / REAL_DATASETS[name][0]
    if not folder.is_dir():
        raise DatasetError(f"dataset {name!r} not found: {folder} does not exist. "
                           f"Run `dppmg data download --dataset {name} --data-root {root}` or see the README.")
    return folder


def _fingerprint(folder: Path, files: tuple[str, ...]) -> list[Any]:
    # Size + mtime, not content: hashing 17k photos on every load would cost seconds. Directory
    # mtimes change when files are added or removed; features are keyed by image content anyway.
    out = []
    for rel in files:
        path = folder / rel
        stat = path.stat() if path.exists() else None
        out.append([rel, stat.st_size if stat and path.is_file() else None, stat.st_mtime_ns if stat else None])
    return out


def processing_steps(config: DataConfig) -> list[tuple[str, Callable[[InteractionData], InteractionData]]]:
    """The processing steps of the module docstring for ``config``, in order, as (what it does, step)."""
    steps: list[tuple[str, Callable[[InteractionData], InteractionData]]] = [
        ("dropped: no interaction left after the joins", processing.drop_unused),
        ("dropped: only repeated interactions", processing.drop_duplicate_interactions)]
    if config.require_description:
        steps.append(("dropped: only items without a description", processing.require_description))
    steps.append((f"dropped by the positive threshold (no rating >= {config.positive_threshold})",
                  lambda d: processing.apply_positive_threshold(d, config.positive_threshold)))
    if config.min_user_interactions > 1 or config.min_item_interactions > 1:
        steps.append((f"dropped by the k-core (fewer than {config.min_user_interactions} interactions with items "
                      f"that keep {config.min_item_interactions})",
                      lambda d: processing.kcore(d, config.min_user_interactions, config.min_item_interactions)))
    if config.dataset != "synthetic" and (config.max_users or config.max_items):
        # A small copy of the processed dataset; users keep the three interactions a split needs.
        steps.append((f"cut by the preset's small copy of the data ({config.max_users} users, "
                      f"{config.max_items} items)",
                      lambda d: processing.kcore(processing.subsample(d, config.max_users, config.max_items), 3, 1)))
    steps += [("dropped: no interaction left", lambda d: processing.drop_unused(d, record=False)),
              ("dropped by the chronological split", lambda d: processing.chronological_split(d, config.split_ratios)),
              ("dropped when the indices were made", processing.finalize)]
    return steps


def process(data: InteractionData, config: DataConfig,
            watch: Callable[[str, InteractionData], None] | None = None) -> InteractionData:
    """Run every processing step of the module docstring on a freshly loaded dataset; ``watch``
    sees each step's name and output."""
    if not data.stages:
        data.record_stage("loaded")
    data.record_stage("joined (items with image and text)")
    processing.check_integrity(data)
    for name, step in processing_steps(config):
        data = step(data)
        if watch is not None:
            watch(name, data)
    data.info["config"] = config.to_dict()
    return data


def explain_unknown_users(user_ids, dataset: str, preset: str, data_root: str | os.PathLike | None = None,
                          lenient: bool = False) -> dict[str, str]:
    """Where each of ``user_ids`` went on the way to ``dataset``'s processed data at ``preset``: not in
    the source files, left without interactions by the joins, dropped by a named processing step,
    or cut by the preset's small copy (naming the presets that keep it). Reprocesses the dataset
    (seconds): for error messages only."""
    config = data_config(dataset, preset)
    wanted = [str(u) for u in user_ids]
    if dataset == "synthetic":
        raw = generate_synthetic(config.synthetic, synthetic_image_dir(resolve_cache_dir(None), config.synthetic))
    else:
        raw = REAL_DATASETS[dataset][1](dataset_dir(dataset, data_root), lenient=lenient)
    source = source_user_ids(dataset, data_root, preset)
    where = {u: "not in the source files" for u in wanted if u not in source}
    left = set(raw.interactions["user_id"].astype(str))
    where.update({u: "dropped: all their interactions were with items without an image or text"
                  for u in wanted if u not in where and u not in left})

    def watch(name: str, data: InteractionData) -> None:
        kept = set(data.interactions["user_id"].astype(str))
        for u in wanted:
            if u not in where and u not in kept:
                where[u] = name

    process(raw, config, watch)
    full = [p for p, values in DATA_PRESET_TABLE["data"].items() if not values.get("max_users")]
    for u, why in where.items():
        if why.startswith("cut by the preset"):
            where[u] = why.replace("the preset's", f"the {preset!r} preset's") + \
                f"; the {' and '.join(repr(p) for p in full)} preset(s) keep it"
    return {u: where.get(u, "kept") for u in wanted}


def load_dataset(dataset: str | DataConfig = "synthetic", *, preset: str = "small",
                 data_root: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                 use_cache: bool = True, lenient: bool = False, **overrides: Any) -> InteractionData:
    """Load a processed dataset.

    Args:
        dataset: a name (``movielens``, ``movielens-1m``, ``hm``, ``synthetic``) or a full config.
        preset: preset whose defaults apply (the synthetic world's size depends on it).
        data_root: overrides ``DPPMG_DATA_DIR``; unused for ``synthetic``.
        cache_dir: overrides ``DPPMG_CACHE_DIR``.
        use_cache: read and write the processed-dataset cache.
        lenient: skip malformed source lines (counted in the statistics) instead of stopping at
            them; part of the processed data's cache key when set.
        **overrides: any :class:`~dppmg.data.config.DataConfig` field.
    """
    config = dataset if isinstance(dataset, DataConfig) else data_config(dataset, preset, **overrides)
    cache_root = resolve_cache_dir(cache_dir)
    if config.dataset == "synthetic":
        image_dir = synthetic_image_dir(cache_root, config.synthetic)
        fingerprint: list[Any] = [str(image_dir)]
        folder = None
    else:
        folder = dataset_dir(config.dataset, data_root)
        fingerprint = [str(folder), _fingerprint(folder, REAL_DATASETS[config.dataset][2])]
    key = stable_hash(PROCESSING_VERSION, config.to_dict(), fingerprint, *(["lenient"] if lenient else []))
    cache_file = cache_root / "processed" / f"{config.dataset}-{key}.pkl"
    if use_cache and cache_file.is_file():
        try:
            with open(cache_file, "rb") as fh:
                data = pickle.load(fh)
            if config.dataset != "synthetic" or all(Path(p).is_file() for p in data.items["image_path"]):
                return data
            report_rebuild("processed dataset", cache_file, "some of its synthetic images are missing")
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
            report_rebuild("processed dataset", cache_file, f"unreadable ({type(exc).__name__})")
    if config.dataset == "synthetic":
        raw = generate_synthetic(config.synthetic, image_dir)
    else:
        raw = REAL_DATASETS[config.dataset][1](folder, lenient=lenient)
    data = process(raw, config)
    if use_cache:
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def natural_order(ids) -> list[str]:
    """Ids sorted as a reader expects: numerically when every id is a number ('635' before '1000')."""
    ids = [str(i) for i in ids]
    return sorted(ids, key=int) if all(i.isdigit() for i in ids) else sorted(ids)


def source_user_ids(dataset: str, data_root: str | os.PathLike | None = None, preset: str = "small") -> set[str]:
    """Every user id in a dataset's source files, read in well under a second (no processing).

    Processing keeps a subset of them (k-core, the ``smoke`` subsample), so an id outside this set
    is certainly unknown; commands check it before any expensive work.
    """
    import pandas as pd

    if dataset == "synthetic":
        return {user_id(u) for u in range(data_config("synthetic", preset).synthetic.num_users)}
    folder = dataset_dir(dataset, data_root)
    if dataset == "hm":
        path, kwargs = folder / "transactions_train.csv", {"usecols": ["customer_id"], "dtype": str}
    else:
        path = folder / ("ml-100k/u.data" if dataset == "movielens" else "ml-1m/ratings.dat")
        kwargs = {"sep": "\t" if dataset == "movielens" else "::", "header": None, "usecols": [0], "dtype": str,
                  "engine": "c" if dataset == "movielens" else "python"}
    if not path.is_file():
        raise DatasetError(f"{path} is missing: the {dataset!r} ratings file is needed to know its users")
    return set(pd.read_csv(path, **kwargs).iloc[:, 0].astype(str).str.strip())


def check_user_ids_known(user_ids, known, dataset: str, where: str = "source files") -> list[str]:
    """``user_ids`` as strings; raise a :class:`~dppmg.errors.ConfigError` listing the unknown ones
    with the dataset's first ids as a hint."""
    out = [str(u) for u in user_ids]
    unknown = [u for u in out if u not in known]
    if unknown:
        first = ", ".join(repr(i) for i in natural_order(known)[:3])
        raise ConfigError(f"unknown user id(s) {unknown[:5]} for dataset {dataset!r} ({len(known):,} users in its "
                          f"{where}; ids look like {first})")
    return out
