"""Stage 1's cost against the size of the data: epoch time per number of training interactions.

    python -m benchmark scaling --preset small [--methods M [M ...]] [--epochs 3]
                                [--data-root PATH] [--fixture-root PATH] [--results-dir results]

Points: the synthetic world, H&M and MovieLens-100K (where the data root has them) and an
ML-1M-size data set of real movies and posters that the benchmark samples itself from the
MovieLens-100K data root (:mod:`benchmark.fixtures`, no download),
at 25 %, 50 % and 100 % of its training interactions. For each point and method a few training
epochs run without early stopping (single-threaded, so the figure does not depend on what else
the machine runs); the median epoch and one full validation ranking are timed. The table
``results/<preset>/scaling_stage1.md`` and the figure ``figures/scaling_stage1.png`` show them
with a least-squares line through the origin-free fit ``t = a + b * interactions`` per method and
its R², and the log-log slope over the points (1: linear; 2: the quadratic cost of running a
full-graph propagation for every fixed-size batch).

    python -m benchmark scaling --full-fits --preset small [--methods M [M ...]]

trains every Stage 1 method to the end on the whole fixture instead (:func:`run_full_fits`,
``scaling_stage1_full.md``): the wall time a user of ML-1M-size data waits, against the target of
:data:`FULL_FIT_TARGET_SECONDS`. Run it with nothing beside it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch

from benchmark.fixtures import FIXTURE_VERSION, write_movielens_1m_format
from benchmark.plan import available_datasets
from dppmg.data import load_dataset
from dppmg.data.features import extract_features
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.infra.provenance import StageTimer
from dppmg.infra.results import make_result, write_result
from dppmg.preference.model import epoch_batch_size, fit_preference
from dppmg.preference.ranking import RankingEvaluator
from dppmg.registry import method_names, resolve_stage1

FRACTIONS = (0.25, 0.5, 1.0)


def trained_stage1_methods(preset: str = "small") -> tuple[str, ...]:
    """The registered Stage 1 methods that train a model (popularity only counts), in table order."""
    return tuple(m for m in method_names(suite="preference")
                 if resolve_stage1("synthetic", preset, 0, m).preference is not None)


def subsample_train(data: InteractionData, fraction: float, seed: int = 0) -> InteractionData:
    """``data`` with a uniform ``fraction`` of its training interactions (valid and test kept)."""
    if fraction >= 1.0:
        return data
    inter = data.interactions
    train = np.flatnonzero((inter["split"] == "train").to_numpy())
    rng = np.random.default_rng(seed)
    drop = rng.choice(train, size=len(train) - int(round(fraction * len(train))), replace=False)
    return data.replace(interactions=inter.drop(inter.index[drop]))


def scaling_points(preset: str, data_root: str | os.PathLike | None, fixture_root: str | os.PathLike,
                   cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   fixture_size: dict[str, int] | None = None, with_features: bool = True,
                   fixture_source: str | os.PathLike | None = None
                   ) -> Iterator[tuple[str, InteractionData, dict[str, np.ndarray] | None]]:
    """(label, data, features) of every point (features ``None`` unless ``with_features``);
    ``fixture_source``: the data root the fixture draws its real movies from (default
    ``data_root``, then ``$DPPMG_DATA_DIR``)."""
    def features(data: InteractionData) -> dict[str, np.ndarray] | None:
        return extract_features(data, cache_dir=cache_dir, progress=progress) if with_features else None

    for dataset in available_datasets(data_root):
        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        yield dataset, data, features(data)
    root = write_movielens_1m_format(fixture_root, source_root=fixture_source or data_root, progress=progress,
                                     **(fixture_size or {}))
    full = load_dataset("movielens-1m", preset=preset, data_root=root, cache_dir=cache_dir)
    fixture_features = features(full)
    for fraction in FRACTIONS:
        yield f"ml-1m-size fixture ({fraction:.0%})", subsample_train(full, fraction), fixture_features


def epoch_profile(data: InteractionData, features: dict[str, np.ndarray], method: str, preset: str,
                  epochs: int = 3, seed: int = 0) -> dict[str, Any]:
    """Train ``method``'s Stage 1 model for ``epochs`` epochs (no early stopping) and time it."""
    config = resolve_stage1(data.name, preset, seed, method).preference
    config = dataclasses.replace(config, max_epochs=epochs, patience=epochs + 1)
    evaluator = RankingEvaluator(data)
    fit = fit_preference(data, features, config, torch.Generator().manual_seed(seed), evaluator, progress=False)
    t0 = time.perf_counter()
    evaluator.evaluate(fit.model.scorer(), "valid")
    ranking = time.perf_counter() - t0
    n_train = len(evaluator.train)
    batch = epoch_batch_size(n_train, config)
    return {"train interactions": n_train, "users": data.num_users, "items": data.num_items,
            "batch size": batch, "steps per epoch": -(-n_train // batch),
            "epoch seconds": round(fit.epoch_seconds, 4), "valid ranking seconds": round(ranking, 4)}


def linear_fit(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Least squares ``y = a + b x``, its R², and the log-log slope (growth exponent)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    residual = y - (a + b * x)
    r2 = 1.0 - float((residual ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300))
    exponent = float(np.polyfit(np.log(x), np.log(y), 1)[0])
    return {"intercept s": float(a), "seconds per 100k interactions": float(b * 1e5), "R2": r2,
            "log-log slope": exponent}


def default_fixture_root(fixture_root: str | os.PathLike | None, cache_dir: str | os.PathLike | None) -> Path:
    """``fixture_root``, or the versioned folder under the cache where the fixture is written."""
    return Path(fixture_root) if fixture_root else resolve_cache_dir(cache_dir) / "fixtures" / f"ml-1m-size-v{FIXTURE_VERSION}"


def run_scaling(preset: str = "small", *, methods: tuple[str, ...] | None = None, epochs: int = 3,
                data_root: str | os.PathLike | None = None, fixture_root: str | os.PathLike | None = None,
                results_dir: str | os.PathLike = "results", cache_dir: str | os.PathLike | None = None,
                progress: bool = True, fixture_size: dict[str, int] | None = None,
                fixture_source: str | os.PathLike | None = None) -> dict[str, Path]:
    """Profile every point and method; write the result JSONs, the table and the figure.

    ``fixture_size``: overrides of :data:`benchmark.fixtures.ML1M_SIZE` (the tests use a tiny one);
    ``fixture_source``: the data root the fixture's real movies come from (default ``data_root``).
    """
    from benchmark.outputs import table_note, write_table
    from dppmg.ui.plotting import scaling_figure

    trained = trained_stage1_methods(preset)
    methods = tuple(methods) if methods else trained
    unknown = [m for m in methods if m not in trained]
    if unknown:
        raise ConfigError(f"scaling: {', '.join(unknown)} is not a trained Stage 1 method; expected some of "
                          f"{', '.join(trained)}")
    results_dir = Path(results_dir)
    fixture_root = default_fixture_root(fixture_root, cache_dir)
    threads = torch.get_num_threads()
    rows = []
    try:
        with_features = any(resolve_stage1("synthetic", preset, 0, m).preference.uses_features for m in methods)
        for label, data, features in scaling_points(preset, data_root, fixture_root, cache_dir, progress,
                                                    fixture_size, with_features, fixture_source):
            for method in methods:
                torch.set_num_threads(1)  # the timed epochs only (features are extracted with all cores)
                with StageTimer("epochs") as timer:
                    row = epoch_profile(data, features, method, preset, epochs=epochs)
                torch.set_num_threads(threads)
                row = {"data": label, "method": method, **row}
                rows.append(row)
                slug = label.replace(" ", "_").replace("(", "").replace(")", "").replace("%", "pct")
                record = make_result("scaling", data.name, method, preset, 0, row, {"epochs": epochs, "threads": 1},
                                     [timer.record])
                write_result(results_dir / "runs" / preset / "scaling" / f"{slug}__{method}.json", record)
                if progress:
                    print(f"[scaling] {label} {method}: {row['epoch seconds']} s per epoch "
                          f"({row['train interactions']:,} interactions, {row['steps per epoch']} steps)", flush=True)
    finally:
        torch.set_num_threads(threads)
    table = pd.DataFrame(rows)
    fits = pd.DataFrame([{"method": m, **linear_fit(g["train interactions"], g["epoch seconds"])}
                         for m, g in table.groupby("method", sort=False)])
    note = table_note("scaling", preset, len(rows), command=f"python -m benchmark scaling --preset {preset}")
    written = {}
    for name, frame in (("scaling_stage1", table), ("scaling_stage1_fit", fits)):
        write_table(frame, results_dir / preset / name, note)
        written[name] = results_dir / preset / f"{name}.md"
    written["figure"] = scaling_figure(table, fits, results_dir / preset / "figures" / "scaling_stage1.png",
                                       f"Stage 1 epoch time against training interactions ({preset}, 1 thread)")
    return written


# The target for one whole Stage 1 run on ML-1M-size data at `small` (2 cores, nothing beside it).
FULL_FIT_TARGET_SECONDS = 180.0


def run_full_fits(preset: str = "small", *, methods: tuple[str, ...] | None = None,
                  data_root: str | os.PathLike | None = None, fixture_root: str | os.PathLike | None = None,
                  results_dir: str | os.PathLike = "results", cache_dir: str | os.PathLike | None = None,
                  progress: bool = True, fixture_size: dict[str, int] | None = None) -> dict[str, Path]:
    """Every Stage 1 method trained to the end (early stopping, quantizer) on the whole ML-1M-size
    fixture, at the threads this process has, as ``dppmg preference fit --dataset movielens-1m``
    would: ``results/<preset>/scaling_stage1_full.md`` gives each one's wall time, epochs and
    validation Recall@20, the threads and the load average before it, against
    :data:`FULL_FIT_TARGET_SECONDS`. Always retrains (a cached checkpoint is replaced)."""
    from benchmark.outputs import table_note, write_table
    from dppmg.preference.train import fit_and_save

    methods = tuple(methods) if methods else tuple(method_names(suite="preference"))
    fixture_root = default_fixture_root(fixture_root, cache_dir)
    root = write_movielens_1m_format(fixture_root, source_root=data_root, progress=progress, **(fixture_size or {}))
    # Features first, with all cores: the fits are timed without them (they are cached per dataset).
    extract_features(load_dataset("movielens-1m", preset=preset, data_root=root, cache_dir=cache_dir),
                     cache_dir=cache_dir, progress=progress)
    rows = []
    for method in methods:
        load = round(os.getloadavg()[0], 2)
        record, _ = fit_and_save(resolve_stage1("movielens-1m", preset, 0, method), data_root=str(root),
                                 cache_dir=cache_dir, progress=progress)
        m, provenance = record["metrics"], record["provenance"]
        seconds = float(provenance["wall_time_s"])
        rows.append({"method": method, "seconds": round(seconds, 1), "epochs run": len(m.get("history") or []),
                     "best epoch": m.get("best_epoch"), "valid recall@20": round(m["valid"]["recall@20"], 5),
                     "threads": provenance["device"].get("torch_threads"), "load average before": load,
                     "within target": "yes" if seconds <= FULL_FIT_TARGET_SECONDS else "no"})
        write_result(Path(results_dir) / "runs" / preset / "scaling" / f"full_fit__{method}.json", record)
        if progress:
            print(f"[scaling] full Stage 1 fit of {method} on the ml-1m-size fixture: {seconds:.0f} s", flush=True)
    note = table_note("scaling", preset, len(rows),
                      command=f"python -m benchmark scaling --full-fits --preset {preset}")
    write_table(pd.DataFrame(rows), Path(results_dir) / preset / "scaling_stage1_full", note)
    return {"scaling_stage1_full": Path(results_dir) / preset / "scaling_stage1_full.md"}
