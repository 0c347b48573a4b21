"""The plan of a suite run, printed before it starts: its cells in the order they run, what is
already there, and how long the rest should take, per stage and per (dataset, seed) slice.

**Order.** Cells run stage by stage; within the evaluation stage, per dataset, in the order the
claims need them (:func:`claim_order`): the references (measurability), then DPPMG and the
methods its own claims compare with (non-personalized, shuffled tokens, without reward), then
the unimodal baselines, the two-model pairs (which reuse their parts' generations) and the
rest; within each group seed by seed.

**Estimates** of a cell, in this order:

1. *measured*: the result files of earlier runs of the same (stage, dataset, method) under
   ``results/runs/<preset>/`` (top-level wall time, each second counted once:
   :func:`dppmg.infra.provenance.top_level_wall_time`), or, for a stage of groups (selection,
   sensitivity), of the same group on another dataset;
2. *block model* (evaluation cells of a method not yet run on the dataset), the sum of
   * ``fit``: this method's measured ``fit`` block on another dataset, else
     :data:`DEFAULT_FIT_SECONDS` for its kind;
   * ``generate``: for each modality whose producer (:meth:`~dppmg.interface.Method.producers`)
     has not generated for this (dataset, seed) earlier in the plan or in a kept run (those are
     reused, :mod:`dppmg.generation.reuse`): users x the producer's outputs per user
     (``generation_items``) x the dataset's measured seconds per output of that modality (the
     ``generate: text`` / ``generate: image`` parts of any evaluation run on the dataset), else
     :data:`DEFAULT_SECONDS_PER_OUTPUT`;
   * ``evaluators`` and ``metrics``: the dataset's measured blocks (the same work for every
     method; ``evaluators`` at its smallest, the models being cached after the first cell),
     else the defaults;
3. *default*: :data:`DEFAULT_CELL_SECONDS`, per preset and stage.

The plan says which basis each estimate used. With ``--workers N`` each stage's total is divided
by N (a lower bound when cells wait for a shared cache entry).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import os

import pandas as pd

from benchmark.executors import Cell
from benchmark.suites import SUITES, Stage
from dppmg.data.datasets import REAL_DATASETS
from dppmg.infra.paths import resolve_data_root

DEFAULT_DATASETS = ("synthetic", "movielens", "hm")


def available_datasets(data_root: str | os.PathLike | None) -> list[str]:
    """The default datasets that can run here: synthetic always, real ones whose folder exists."""
    root = resolve_data_root(data_root)
    out = ["synthetic"]
    if root is not None:
        out += [d for d in DEFAULT_DATASETS if d in REAL_DATASETS and (root / REAL_DATASETS[d][0]).is_dir()]
    return out


def run_path(results_dir: Path, preset: str, stage: Stage, dataset: str, method: str, seed: int) -> Path:
    return results_dir / "runs" / preset / stage.name / f"{dataset}__{method}__seed{seed}"


def plan_cells(suite: str, preset: str, datasets: list[str], seeds: list[int] | None, methods: list[str] | None,
               root: Path | None, results_dir: Path) -> list[tuple[Stage, list[Cell]]]:
    """Every cell of the suite, stage by stage, in table order."""
    figure_dir = results_dir / preset / "figures"
    plan = []
    for stage in SUITES[suite]:
        cells = []
        wanted = [m for m in stage.methods if methods is None or m == "-" or m in methods]
        if stage.groups and not wanted:  # --methods named none of this stage's groups: run them all
            wanted = list(stage.groups)
        for dataset in datasets:
            for method in (m for m in wanted if stage.runs_on(m, dataset, preset)):
                for seed in seeds or stage.seeds_for(preset):
                    base = run_path(results_dir, preset, stage, dataset, method, seed)
                    params = {"dataset": dataset, "preset": preset, "seed": seed, "method": method,
                              "data_root": str(root) if root else None, "output_json": str(base.with_suffix(".json")),
                              "figure_dir": str(figure_dir)}
                    cells.append(Cell(stage, params, base))
        plan.append((stage, cells))
    return plan

# Seconds per cell where no earlier run says otherwise, measured on a 2-core machine (the
# `smoke` suite's profile and the `small` timing tables). The reward selection and the generation
# sensitivity sweep are their number of DPPMG evaluations (5 and 7) times an evaluation cell's.
DEFAULT_CELL_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"dataset_stats": 3, "features": 35, "selection/preference": 10, "selection/sampling": 40,
              "selection/reward": 30, "selection/precision": 20, "preference": 4, "evaluation": 10, "sensitivity/codebook": 17,
              "sensitivity/generation": 90},
    "small": {"dataset_stats": 10, "features": 120, "selection/preference": 120, "selection/sampling": 3600,
              "selection/reward": 4500, "selection/precision": 1500, "preference": 120, "evaluation": 900, "sensitivity/codebook": 300,
              "sensitivity/generation": 6300},
    "paper": {"dataset_stats": 20, "features": 600, "selection/preference": 900, "selection/sampling": 7200,
              "selection/reward": 18000, "selection/precision": 3600, "preference": 900, "evaluation": 3600, "sensitivity/codebook": 1200,
              "sensitivity/generation": 25200},
}
# The block model's defaults. Seconds per generated output at `small`: MovieLens / H&M cells
# generated 256 users' texts in 131-142 s and images (DDIM 25, guided) in 198-270 s at 2 threads.
DEFAULT_SECONDS_PER_OUTPUT: dict[str, dict[str, float]] = {
    "smoke": {"text": 0.05, "image": 0.05}, "small": {"text": 0.54, "image": 0.92},
    "paper": {"text": 2.0, "image": 4.0}}
# Fit per method kind at `small`: DPPMG's Stages 1-3 (Stage 3: 20 steps at 25-28 s), the
# per-user token baselines (Stage 2's loops), and the methods that only load the backbones.
DEFAULT_FIT_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"stages 1-3": 20, "tokens": 10, "loads": 3},
    "small": {"stages 1-3": 1100, "tokens": 450, "loads": 30},
    "paper": {"stages 1-3": 7200, "tokens": 3600, "loads": 120}}
DEFAULT_BLOCK_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"evaluators": 5, "metrics": 5}, "small": {"evaluators": 30, "metrics": 25},
    "paper": {"evaluators": 120, "metrics": 120}}


def claim_order(method: str) -> int:
    """How early the evaluation stage runs ``method`` on a dataset (0 first): what the claims need."""
    from baselines.nonpersonalized import NonPersonalized
    from dppmg.interface import ModalityPair, UnimodalMethod
    from dppmg.methods import DPPMG, DPPMGNoReward, DPPMGShuffledTokens
    from dppmg.registry import get_spec

    if method == "-":
        return 0
    cls = get_spec(method).cls
    if cls.kind == "reference":
        return 0
    if cls in (DPPMG, DPPMGShuffledTokens, DPPMGNoReward) or issubclass(cls, NonPersonalized):
        return 1
    if issubclass(cls, UnimodalMethod):
        return 2
    if issubclass(cls, ModalityPair):
        return 3
    return 4


def run_order(cells: list[Cell], datasets: list[str]) -> list[Cell]:
    """``cells`` of one stage in the order they run (see the module docstring)."""
    from dppmg.registry import get_spec

    def key(cell: Cell) -> tuple:
        p = cell.params
        grouped = cell.stage.per_method and p["method"] != "-"
        return (datasets.index(p["dataset"]) if p["dataset"] in datasets else len(datasets),
                claim_order(p["method"]) if grouped else 0, p["seed"],
                get_spec(p["method"]).order if grouped else 0)

    return sorted(cells, key=key)


def _fit_kind(method: str) -> str:
    """Which :data:`DEFAULT_FIT_SECONDS` applies: DPPMG's Stages 1-3, per-user parameters trained
    with Stage 2's loops (alone or as a pair's part), or loading the backbones."""
    from baselines.history_image import HistoryImage
    from baselines.pepler import PEPLER
    from baselines.textual_inversion import TextualInversion
    from dppmg.interface import ModalityPair
    from dppmg.methods import DPPMG
    from dppmg.registry import get_spec

    cls = get_spec(method).cls
    if issubclass(cls, DPPMG):
        return "stages 1-3"
    parts = (cls.text_method, cls.image_method) if issubclass(cls, ModalityPair) else (cls,)
    return "tokens" if any(issubclass(c, (PEPLER, TextualInversion, HistoryImage)) for c in parts) else "loads"


class Estimator:
    """Seconds per cell and the basis of each estimate (see the module docstring)."""

    def __init__(self, results_dir: Path, preset: str):
        from dppmg.infra.results import read_result_summary

        self.preset = preset
        self.cells: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        self.fits: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.blocks: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.outputs: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
        for path in sorted((Path(results_dir) / "runs" / preset).glob("*/*.json")):
            summary = read_result_summary(path)
            if summary is not None:
                self._add(summary)
        # (dataset, seed, producer, modality) generated by a kept run or an earlier planned cell.
        self.generated: set[tuple[str, int, str, str]] = set()

    def _add(self, s: dict[str, Any]) -> None:
        self.cells[(s["stage"], s["dataset"], s["method"])].append(s["wall_time_s"])
        if s["stage"] != "evaluation":
            return
        for t in s["timings"]:
            name = t.get("stage", "")
            if name == "fit":
                self.fits[(s["dataset"], s["method"])].append(float(t["wall_time_s"]))
            elif name in ("evaluators", "metrics"):
                self.blocks[(s["dataset"], name)].append(float(t["wall_time_s"]))
            elif name.startswith("generate: ") and t.get("items"):
                total = self.outputs[(s["dataset"], name.split(": ", 1)[1])]
                total[0] += float(t["wall_time_s"])
                total[1] += int(t["items"])

    def mark_generated(self, cell: Cell) -> None:
        """``cell``'s generations are in the cache (a kept run, or a cell planned before the next):
        later cells of its (dataset, seed) reuse them."""
        if cell.stage.name == "evaluation":
            self.generated.update(self._generations(cell))

    def _generations(self, cell: Cell) -> list[tuple[str, int, str, str]]:
        from dppmg.registry import get_spec

        p = cell.params
        return [(p["dataset"], p["seed"], producer, modality)
                for modality, producer in get_spec(p["method"]).cls.producers().items()]

    def seconds(self, cell: Cell) -> tuple[float, str]:
        """``cell``'s estimate and its basis, given the generations marked so far (no side effect)."""
        p = cell.params
        measured = self.cells.get((cell.stage.name, p["dataset"], p["method"]))
        if cell.stage.name == "evaluation":
            fresh = [(producer, modality) for _, _, producer, modality in self._generations(cell)
                     if (p["dataset"], p["seed"], producer, modality) not in self.generated]
            if measured:
                return sum(measured) / len(measured), "measured"
            return self._block_model(cell, fresh), "block model"
        if measured:
            return sum(measured) / len(measured), "measured"
        if cell.stage.groups:
            similar = [t for (s, _, m), ts in self.cells.items() if s == cell.stage.name and m == p["method"]
                       for t in ts]
            if similar:
                return sum(similar) / len(similar), "measured (same group, other dataset)"
        default = DEFAULT_CELL_SECONDS.get(self.preset, DEFAULT_CELL_SECONDS["small"])
        key = f"{cell.stage.name}/{p['method']}" if cell.stage.groups else cell.stage.name
        return float(default.get(key, 60)), "default"

    def _block_model(self, cell: Cell, fresh: list[tuple[str, str]]) -> float:
        from dppmg.config import evaluation_config
        from dppmg.registry import get_spec

        p = cell.params
        defaults = DEFAULT_BLOCK_SECONDS.get(self.preset, DEFAULT_BLOCK_SECONDS["small"])
        fits = [t for (_, m), ts in self.fits.items() if m == p["method"] for t in ts]
        fit = (sum(fits) / len(fits) if fits else
               DEFAULT_FIT_SECONDS.get(self.preset, DEFAULT_FIT_SECONDS["small"])[_fit_kind(p["method"])])
        users = evaluation_config(self.preset, p["dataset"]).users
        generate = 0.0
        for producer, modality in fresh:
            items = get_spec(producer).cls.generation_items.get(modality, 1)
            seconds, count = self.outputs.get((p["dataset"], modality), (0.0, 0))
            rate = seconds / count if count else DEFAULT_SECONDS_PER_OUTPUT.get(
                self.preset, DEFAULT_SECONDS_PER_OUTPUT["small"])[modality]
            generate += users * items * rate
        evaluators = min(self.blocks.get((p["dataset"], "evaluators")) or [defaults["evaluators"]])
        metrics = self.blocks.get((p["dataset"], "metrics")) or [defaults["metrics"]]
        return fit + generate + evaluators + sum(metrics) / len(metrics)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_cells(stages: list[tuple[str, list[Cell], list[Cell]]], estimator: Estimator
                   ) -> dict[Path, tuple[float, str]]:
    """Each cell to run's estimate and basis, in run order (kept cells first mark what they
    generated, so later cells reuse it)."""
    for _, kept, _ in stages:
        for cell in kept:
            estimator.mark_generated(cell)
    estimates = {}
    for _, _, to_run in stages:
        for cell in to_run:
            estimates[cell.out_json] = estimator.seconds(cell)
            estimator.mark_generated(cell)
    return estimates


def plan_table(stages: list[tuple[str, list[Cell], list[Cell]]], estimates: dict[Path, tuple[float, str]],
               workers: int) -> tuple[pd.DataFrame, float]:
    """One row per stage: cells, kept results, cells to run and their estimated time; and the total.

    Args:
        stages: (stage name, cells whose result is kept, cells to run) in run order.
        estimates: :func:`estimate_cells`.
    """
    rows, total = [], 0.0
    for name, kept, to_run in stages:
        mine = [estimates[c.out_json] for c in to_run]
        seconds = sum(s for s, _ in mine)
        wall = seconds / min(workers, max(len(to_run), 1))
        total += wall
        rows.append({"stage": name, "cells": len(kept) + len(to_run), "kept (resume)": len(kept),
                     "to run": len(to_run), "estimated": _duration(wall) if to_run else "-",
                     "estimate from": _bases(mine)})
    return pd.DataFrame(rows), total


def slice_table(stages: list[tuple[str, list[Cell], list[Cell]]], estimates: dict[Path, tuple[float, str]]
                ) -> pd.DataFrame:
    """One row per (dataset, seed) slice of the cells to run: cells, estimated time (one worker), basis."""
    groups: dict[tuple[str, int], list[tuple[float, str]]] = defaultdict(list)
    for _, _, to_run in stages:
        for cell in to_run:
            groups[(cell.params["dataset"], cell.params["seed"])].append(estimates[cell.out_json])
    rows = [{"dataset": d, "seed": s, "cells to run": len(v), "estimated": _duration(sum(x for x, _ in v)),
             "estimate from": _bases(v)} for (d, s), v in groups.items()]
    return pd.DataFrame(rows, columns=["dataset", "seed", "cells to run", "estimated", "estimate from"])


def _bases(estimates: list[tuple[float, str]]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for _, basis in estimates:
        counts[basis] += 1
    return ", ".join(f"{basis} ({n})" for basis, n in sorted(counts.items())) or "-"


def describe(plan: pd.DataFrame, total: float, header: dict[str, Any], slices: pd.DataFrame | None = None) -> str:
    """The plan as printed: a header line, the stage table, the slice table and the total."""
    head = ", ".join(f"{k} {v}" for k, v in header.items())
    text = f"plan: {head}\n{plan.to_markdown(index=False)}"
    if slices is not None and len(slices):
        text += f"\nper (dataset, seed) slice, one worker:\n{slices.to_markdown(index=False)}"
    return text + f"\nestimated total: {_duration(total)}"
