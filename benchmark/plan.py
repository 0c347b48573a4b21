"""The plan of a suite run, printed before it starts: its cells in the order they run, what is
already there, and how long the rest should take, per stage and per (dataset, seed) slice.

**Order.** Cells run stage by stage; within the evaluation stage, per dataset, in the order the
claims need them (:func:`claim_order`): the references (measurability), then DPPMG and the
methods its own claims compare with (non-personalized, shuffled tokens, without reward), then
the unimodal baselines, the two-model pairs (which reuse their parts' generations) and the
rest; within each group seed by seed.

**Estimates** of a cell, in this order:

1. *measured fit + block model* (an evaluation cell whose method has run on the dataset): the
   block model below with the ``fit`` block of those runs. A whole run's wall time holds what it
   generated then, and what a cell generates depends on what is reused now (a unimodal
   baseline's other modality, at the plan's thread count), so only the fit is taken from it;
2. *measured*: the result files of earlier runs of the same (stage, dataset, method) under
   ``results/runs/<preset>/`` (top-level wall time, each second counted once:
   :func:`dppmg.infra.provenance.top_level_wall_time`), or, for a stage of groups (selection,
   sensitivity), of the same group on another dataset;
3. *block model* (evaluation cells of a method not yet run on the dataset), the sum of
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
4. *default*: :data:`DEFAULT_CELL_SECONDS`, per preset and stage.

**Trainings the cache decides.** A method that says what its ``fit`` would train
(:meth:`~dppmg.interface.Method.training_steps`: DPPMG and its ablations, Stages 1-3) is
estimated without the trainings its measured runs did (:func:`training_block`), plus each step
that neither the cache holds nor an earlier cell of the plan trains, at that step's measured
seconds on the dataset (else on any dataset, else :data:`DEFAULT_TRAINING_SECONDS`). A run that
loaded Stage 2 and Stage 3 from the selections' cache is not the cost of a seed whose Stage 3
has never been trained; the basis then reads e.g. ``measured + 1 training step(s)``.

Every measured quantity is the median over the runs that measured it (a run slowed by another
job beside it, 5-10x on two cores, moves a mean far and a median of three runs not at all), at the
plan's thread count where any run measured it at that count (``--threads``; 1 and 2 threads differ
up to 2x), else at any. The
plan says which basis each estimate used. With ``--workers N`` each stage's total is divided
by N (a lower bound when cells wait for a shared cache entry).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from statistics import median
from typing import Any

import pandas as pd

from baselines.nonpersonalized import NonPersonalized
from baselines.pepler import PEPLER
from baselines.textual_inversion import TextualInversion
from benchmark.executors import Cell
from benchmark.suites import EVALUATION_STAGE, SUITES, Stage
from dppmg.config import evaluation_config
from dppmg.data.datasets import REAL_DATASETS
from dppmg.experiments.selection import selection_training_steps
from dppmg.infra.paths import resolve_data_root
from dppmg.infra.results import read_result_summary
from dppmg.interface import ModalityPair, UnimodalMethod
from dppmg.methods import DPPMG, DPPMGNoReward, DPPMGShuffledTokens
from dppmg.registry import get_spec, methods as registered_methods

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
# sensitivity sweep are their number of DPPMG evaluations (5 and 7) times an evaluation cell's; the
# budget selection loads a cached Stage 2 (its trainings, where the cache lacks them, come on top);
# the Stage 1 budget selection trains DPPMG's Stage 1 once per candidate (ML-1M size: 4 x 2-4 min).
DEFAULT_CELL_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"dataset_stats": 3, "features": 35, "selection/preference": 10, "selection/sampling": 40,
              "selection/reward": 30, "selection/precision": 20, "selection/budget": 5, "selection/stage1": 10,
              "preference": 4, "evaluation": 10, "sensitivity/codebook": 17, "sensitivity/generation": 90},
    "small": {"dataset_stats": 10, "features": 120, "selection/preference": 120, "selection/sampling": 3600,
              "selection/reward": 4500, "selection/precision": 1500, "selection/budget": 60, "selection/stage1": 600,
              "preference": 120, "evaluation": 900, "sensitivity/codebook": 300, "sensitivity/generation": 6300},
    "paper": {"dataset_stats": 20, "features": 600, "selection/preference": 900, "selection/sampling": 7200,
              "selection/reward": 18000, "selection/precision": 3600, "selection/budget": 120,
              "selection/stage1": 3600, "preference": 900, "evaluation": 3600, "sensitivity/codebook": 1200,
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
# DPPMG's training steps where no run on any dataset measured them (s): Stage 1 (MovieLens at
# `small`, 1 thread), Stage 2 (MovieLens, 689 s at 2 threads) and Stage 3 (synthetic, 495-557 s).
DEFAULT_TRAINING_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"stage1": 10, "stage2": 10, "stage3_reward_finetuning": 10},
    "small": {"stage1": 120, "stage2": 700, "stage3_reward_finetuning": 550},
    "paper": {"stage1": 1800, "stage2": 3600, "stage3_reward_finetuning": 3600}}
# A Stage 2 block this short loaded the pipeline (result files from before loads were marked).
LOADED_STAGE2_MAX_SECONDS = 60.0
DEFAULT_BLOCK_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"evaluators": 5, "metrics": 5}, "small": {"evaluators": 30, "metrics": 25},
    "paper": {"evaluators": 120, "metrics": 120}}


def claim_order(method: str) -> int:
    """How early the evaluation stage runs ``method`` on a dataset (0 first): what the claims need."""
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


def headline_methods() -> list[str]:
    """The evaluation methods of the headline grid: the references, DPPMG and what its own claims
    compare with, the unimodal baselines and the pairs (the other ablations come after them)."""
    return [s.name for s in registered_methods(suite=EVALUATION_STAGE.name) if claim_order(s.name) < 4]


def run_order(cells: list[Cell], datasets: list[str]) -> list[Cell]:
    """``cells`` of one stage in the order they run (see the module docstring)."""
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

    cls = get_spec(method).cls
    if issubclass(cls, DPPMG):
        return "stages 1-3"
    parts = (cls.text_method, cls.image_method) if issubclass(cls, ModalityPair) else (cls,)
    return "tokens" if any(issubclass(c, (PEPLER, TextualInversion, HistoryImage)) for c in parts) else "loads"


def training_block(timing: dict[str, Any]) -> str | None:
    """The training step a result's timing block measured (a key of
    :data:`DEFAULT_TRAINING_SECONDS`), or ``None`` for a block that trained nothing. Stage 1 and
    Stage 3 record a block only when they train; Stage 2 always does, marked ``loaded`` since
    loads were told apart (before that, a block under :data:`LOADED_STAGE2_MAX_SECONDS`)."""
    name = timing.get("stage", "")
    if name.startswith("stage1"):
        return name
    if name == "stage2":
        loaded = timing.get("loaded", float(timing["wall_time_s"]) < LOADED_STAGE2_MAX_SECONDS)
        return None if loaded else "stage2"
    if name in ("stage3_reward_finetuning", "alignment_reward_model"):
        return "stage3_reward_finetuning"
    return None


class Estimator:
    """Seconds per cell and the basis of each estimate (see the module docstring).

    Args:
        results_dir: the folder of ``runs/<preset>/`` whose result files are the measurements.
        preset: the preset planned.
        cache_dir: the cache the cells will use (what a method would train is read from it).
        threads: torch threads per cell of the plan: a kept run's generations count as reusable only
            where it ran with as many (the generation cache's key holds the thread count), and each
            measured quantity comes from the runs at this count where any measured it; None: every
            kept run's, every run's measurements.
        exclude: result files not to learn from (:mod:`benchmark.plan_check` estimates a slice
            as if its own runs had not happened).
    """

    def __init__(self, results_dir: Path, preset: str, cache_dir: str | os.PathLike | None = None,
                 threads: int | None = None, exclude: Iterable[Path] = ()):
        self.preset, self.cache_dir, self.threads = preset, cache_dir, threads
        # Each kept run's torch threads, by result file.
        self.run_threads: dict[Path, int | None] = {}
        # Per (stage, dataset, method): each run's wall time and, inside it, the trainings' seconds.
        self.cells: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
        self.fits: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
        self.blocks: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.trainings: dict[tuple[str, str], list[float]] = defaultdict(list)
        # Per (dataset, modality): each run's seconds per output made.
        self.outputs: dict[tuple[str, str], list[float]] = defaultdict(list)
        excluded = {Path(p).resolve() for p in exclude}
        others: list[dict[str, Any]] = []
        for path in sorted((Path(results_dir) / "runs" / preset).glob("*/*.json")):
            if path.resolve() in excluded:
                continue
            summary = read_result_summary(path)
            if summary is not None:
                self.run_threads[path.resolve()] = summary.get("threads")
                if threads is None or summary.get("threads") == threads:
                    self._add(summary, self._stores())
                else:
                    others.append(summary)
        # A quantity measured at the plan's thread count is taken from those runs only; runs at
        # another count stand in only where none measured it (1 and 2 threads differ up to 2x).
        fallback = {name: defaultdict(list) for name in self._stores()}
        for summary in others:
            self._add(summary, fallback)
        for name, measured in fallback.items():
            mine = self._stores()[name]
            for key, values in measured.items():
                if not mine.get(key):
                    mine[key] = values
        # (dataset, seed, producer, modality) generated by a kept run or an earlier planned cell.
        self.generated: set[tuple[str, int, str, str]] = set()
        # The cache folders an earlier planned cell trains (later cells load them).
        self.trained: set[str] = set()
        self._steps: dict[tuple[str, str, int], list | None] = {}

    def _stores(self) -> dict[str, dict[tuple, list]]:
        return {"cells": self.cells, "fits": self.fits, "blocks": self.blocks, "trainings": self.trainings,
                "outputs": self.outputs}

    @staticmethod
    def _add(s: dict[str, Any], into: dict[str, dict[tuple, list]]) -> None:
        """Add the measurements of the result summary ``s`` to the stores ``into`` (by name)."""
        trained: dict[str, float] = defaultdict(float)
        for t in s["timings"]:
            block = training_block(t)
            if block is not None:
                trained[block] += float(t["wall_time_s"])
        for block, seconds in trained.items():
            into["trainings"][(s["dataset"], block)].append(seconds)
        into["cells"][(s["stage"], s["dataset"], s["method"])].append((s["wall_time_s"], sum(trained.values())))
        if s["stage"] != "evaluation":
            return
        for t in s["timings"]:
            name = t.get("stage", "")
            if name == "fit":
                into["fits"][(s["dataset"], s["method"])].append((float(t["wall_time_s"]), sum(trained.values())))
            elif name in ("evaluators", "metrics"):
                into["blocks"][(s["dataset"], name)].append(float(t["wall_time_s"]))
            elif name.startswith("generate: ") and t.get("items"):
                into["outputs"][(s["dataset"], name.split(": ", 1)[1])].append(
                    float(t["wall_time_s"]) / int(t["items"]))

    def mark_planned(self, cell: Cell) -> None:
        """``cell`` ran (a kept run) or is planned before the next: later cells of its (dataset,
        seed) reuse its generations, and every later cell loads what it trains."""
        ran_with = self.run_threads.get(cell.out_json.resolve(), self.threads)
        if cell.stage.name == "evaluation" and (self.threads is None or ran_with == self.threads):
            self.generated.update(self._generations(cell))
        self.trained.update(step.artifact for step in self._training_steps(cell) or [])

    def _generations(self, cell: Cell) -> list[tuple[str, int, str, str]]:
        p = cell.params
        return [(p["dataset"], p["seed"], producer, modality)
                for modality, producer in get_spec(p["method"]).cls.producers().items()]

    def _training_steps(self, cell: Cell) -> list | None:
        p = cell.params
        key = (cell.stage.name, p["method"], p["dataset"], p["seed"])
        if key not in self._steps:
            if cell.stage.name == "evaluation":
                steps = get_spec(p["method"]).cls().training_steps(p["dataset"], self.preset, p["seed"], self.cache_dir)
            elif cell.stage.name == "selection":
                steps = selection_training_steps(p["method"], p["dataset"], self.preset, p["seed"], self.cache_dir)
            else:
                steps = None
            self._steps[key] = steps
        return self._steps[key]

    def seconds(self, cell: Cell) -> tuple[float, str]:
        """``cell``'s estimate and its basis, given what is planned before it (no side effect)."""
        steps = self._training_steps(cell)
        base, basis = self._base_seconds(cell, trainings_apart=steps is not None)
        if steps is None:
            return base, basis
        training, n = self._training_seconds(cell.params["dataset"], steps)
        return base + training, basis + (f" + {n} training step(s)" if n else "")

    def _base_seconds(self, cell: Cell, trainings_apart: bool) -> tuple[float, str]:
        """The estimate from the best basis there is; with ``trainings_apart`` without the
        trainings the measured runs did (:meth:`seconds` adds those the cache lacks)."""
        p = cell.params

        def net(wall: float, trained: float) -> float:
            return wall - trained if trainings_apart else wall

        own_fits = self.fits.get((p["dataset"], p["method"])) if cell.stage.name == "evaluation" else None
        if own_fits:
            # A whole run's wall time holds whatever it generated then; what this cell generates
            # depends on what is reused now, so only its fit is taken from its runs.
            return self._block_model(cell, median([net(f, t) for f, t in own_fits])), "measured fit + block model"
        runs, basis = self.cells.get((cell.stage.name, p["dataset"], p["method"])), "measured"
        if not runs and cell.stage.groups:
            runs = [r for (s, _, m), rs in self.cells.items() if s == cell.stage.name and m == p["method"] for r in rs]
            basis = "measured (same group, other dataset)"
        if runs:
            return median([net(w, t) for w, t in runs]), basis
        if cell.stage.name == "evaluation":
            return self._block_model(cell, self._fit_elsewhere(cell, trainings_apart)), "block model"
        return self._default(cell), "default"

    def _default(self, cell: Cell) -> float:
        p = cell.params
        default = DEFAULT_CELL_SECONDS.get(self.preset, DEFAULT_CELL_SECONDS["small"])
        key = f"{cell.stage.name}/{p['method']}" if cell.stage.groups else cell.stage.name
        return float(default.get(key, 60))

    def _training_seconds(self, dataset: str, steps: list) -> tuple[float, int]:
        """The seconds of the steps that neither the cache holds nor an earlier planned cell
        trains: each measured on ``dataset``, else on any dataset, else the default."""
        defaults = DEFAULT_TRAINING_SECONDS.get(self.preset, DEFAULT_TRAINING_SECONDS["small"])
        total, n = 0.0, 0
        for step in steps:
            if step.cached or step.artifact in self.trained:
                continue
            runs = self.trainings.get((dataset, step.block)) or [
                t for (_, b), ts in self.trainings.items() if b == step.block for t in ts]
            default = defaults["stage1" if step.block.startswith("stage1") else step.block]
            total += median(runs) if runs else default
            n += 1
        return total, n

    def _fit_elsewhere(self, cell: Cell, trainings_apart: bool) -> float:
        """The method's measured ``fit`` on any dataset, else the default of its kind; with
        ``trainings_apart`` without the trainings (the caller adds those the cache lacks)."""
        method = cell.params["method"]
        fits = [f - t if trainings_apart else f for (_, m), runs in self.fits.items() if m == method for f, t in runs]
        kind = "loads" if trainings_apart else _fit_kind(method)
        return median(fits) if fits else DEFAULT_FIT_SECONDS.get(self.preset, DEFAULT_FIT_SECONDS["small"])[kind]

    def _block_model(self, cell: Cell, fit: float) -> float:
        """The model of the module docstring: ``fit`` plus what the cell generates afresh, the
        evaluators and the metrics."""
        p = cell.params
        defaults = DEFAULT_BLOCK_SECONDS.get(self.preset, DEFAULT_BLOCK_SECONDS["small"])
        users = evaluation_config(self.preset, p["dataset"]).users
        generate = 0.0
        for producer, modality in self._fresh(cell):
            items = get_spec(producer).cls.generation_items.get(modality, 1)
            rates = self.outputs.get((p["dataset"], modality))
            rate = median(rates) if rates else DEFAULT_SECONDS_PER_OUTPUT.get(
                self.preset, DEFAULT_SECONDS_PER_OUTPUT["small"])[modality]
            generate += users * items * rate
        evaluators = min(self.blocks.get((p["dataset"], "evaluators")) or [defaults["evaluators"]])
        metrics = self.blocks.get((p["dataset"], "metrics")) or [defaults["metrics"]]
        return fit + generate + evaluators + median(metrics)

    def _fresh(self, cell: Cell) -> list[tuple[str, str]]:
        p = cell.params
        return [(producer, modality) for _, _, producer, modality in self._generations(cell)
                if (p["dataset"], p["seed"], producer, modality) not in self.generated]


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
            estimator.mark_planned(cell)
    estimates = {}
    for _, _, to_run in stages:
        for cell in to_run:
            estimates[cell.out_json] = estimator.seconds(cell)
            estimator.mark_planned(cell)
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
