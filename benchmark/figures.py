"""Figures built from result files across methods: the sample grid per dataset (the same test
users across every method, with a strip of their history)."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from benchmark.analysis import by_dataset_method
from benchmark.tables import table_order


def _history(dataset: str, preset: str, data_root: str | None, user_ids: list[str]) -> list | None:
    """The users' training-history images at the dataset's image size, or None where the data cannot be loaded (a
    ``--tables-only`` run without the data root draws the grid without the history row)."""
    from dppmg.data import load_dataset
    from dppmg.data.images import load_image_array
    from dppmg.errors import DPPMGError

    try:
        data = load_dataset(dataset, preset=preset, data_root=data_root)
    except (DPPMGError, OSError):
        return None
    if not set(user_ids) <= set(data.users["user_id"]):
        return None
    images = load_image_array(data)  # the dataset config's size, as the generated images
    return [images[h] for h in data.items_by_user(user_ids, "train")]


def sample_grids(results: list[dict[str, Any]], preset: str, figure_dir: str | os.PathLike,
                 data_root: str | None = None, log: Callable[[str], None] = print) -> list[Path]:
    """Per dataset, ``figures/samples_<dataset>.png``: the first evaluated test users of the lowest
    seed, one row per method that has samples for them (every method of a seed is evaluated on the
    same users), in table order."""
    from dppmg.evaluation.evaluate import decode_samples
    from dppmg.plotting import methods_grid

    written = []
    results = [r for r in results if r["metrics"].get("split", "test") == "test"]
    for dataset, methods in sorted(by_dataset_method(results).items()):
        seeds = sorted({s for runs in methods.values() for s in runs})
        if not seeds:
            continue
        seed = seeds[0]
        rows = {m: decode_samples(methods[m][seed]) for m in sorted(methods, key=table_order) if seed in methods[m]}
        rows = {m: s for m, s in rows.items() if s}
        if not rows:
            log(f"[figures] {dataset}: no result file holds sample images (older runs); no sample grid")
            continue
        # Every method of a seed samples the same users; a file that holds others (an older
        # evaluation config) is the odd one out.
        users = list(Counter(tuple(x["user_id"] for x in s) for s in rows.values()).most_common(1)[0][0])
        skipped = [m for m, s in rows.items() if [x["user_id"] for x in s] != users]
        rows = {m: s for m, s in rows.items() if m not in skipped}
        if skipped:
            log(f"[figures] {dataset}: {', '.join(skipped)} sampled other users; left out of the sample grid")
        path = Path(figure_dir) / f"samples_{dataset}.png"
        written.append(methods_grid(rows, path, f"{dataset} ({preset}, seed {seed}): the same test users across methods",
                                    history=_history(dataset, preset, data_root, users)))
    return written


_RUN_FIGURE = re.compile(r"^(?P<kind>evaluation|reward_curves|token_training|preference)_(?P<dataset>[^_]+)_"
                         r"(?P<method>[^_]+)_seed(?P<seed>\d+)\.png$")
_DATASET_FIGURE = re.compile(r"^(?P<kind>samples|sensitivity)_(?P<dataset>[^_]+)\.png$")
_ITEMS_FIGURE = re.compile(r"^(?P<dataset>[^_]+)_items\.png$")
_TIMING_FIGURE = re.compile(r"^timing_(?P<suite>[a-z_]+)\.png$")
# Names earlier versions of the suite wrote and nothing writes now (per-dataset reward and token
# curves, the "generation" suite, backbone sample grids): never backed by a run of this version.
_RETIRED = re.compile(r"^((reward_curves|token_training|generation|generation_history)_[^_]+_seed\d+"
                      r"|[^_]+_image_backbone)\.png$")


def prune_figures(results_dir: str | os.PathLike, preset: str, log: Callable[[str], None] = print) -> list[Path]:
    """Remove the figures of ``results/<preset>/figures/`` that no run on disk backs: a cell's figure
    without its result file under ``runs/<preset>/``, a dataset's sample grid or sensitivity plot
    without any run of that stage on the dataset. Returns what was removed."""
    runs = Path(results_dir) / "runs" / preset
    removed = []
    for path in sorted((Path(results_dir) / preset / "figures").glob("*.png")):
        match = _RUN_FIGURE.match(path.name)
        if match:
            stage = "preference" if match["kind"] == "preference" else "evaluation"
            backed = (runs / stage / f"{match['dataset']}__{match['method']}__seed{match['seed']}.json").is_file()
        elif (match := _DATASET_FIGURE.match(path.name)):
            stage = "evaluation" if match["kind"] == "samples" else "sensitivity"
            backed = any((runs / stage).glob(f"{match['dataset']}__*.json"))
        elif (match := _ITEMS_FIGURE.match(path.name)):
            backed = any((runs / "dataset_stats").glob(f"{match['dataset']}__*.json"))
        elif (match := _TIMING_FIGURE.match(path.name)):
            from benchmark.suites import SUITES

            backed = match["suite"] in SUITES
        else:
            backed = not _RETIRED.match(path.name)
        if not backed:
            path.unlink()
            removed.append(path)
    if removed:
        log(f"[figures] removed {len(removed)} figure(s) without a run under {runs}: "
            + ", ".join(p.name for p in removed[:5]) + (" ..." if len(removed) > 5 else ""))
    return removed
