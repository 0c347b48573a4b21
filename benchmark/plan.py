"""The plan of a suite run, printed before it starts: its cells, what is already there, and how
long the rest should take.

Estimates per cell come, in this order, from

1. the result files of earlier runs of the same (stage, dataset, method) under
   ``results/runs/<preset>/`` (their provenance's wall time, mean over seeds), then of the same
   (stage, dataset), or for a stage of groups (selection) of the same (stage, group) on any
   dataset: its groups are different work;
2. the committed timing profile ``results/<preset>/timing_*.csv`` (the same keys);
3. :data:`DEFAULT_CELL_SECONDS`, per preset and stage, measured on a 2-core machine
   (the `smoke` suite's profile and the `small` timing tables); the plan says which it used.

The estimate with ``--workers N`` divides each stage's total by N (cells of a stage run side by
side; stages one after the other), so it is a lower bound when some cells wait for a shared cache
entry.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.executors import Cell

# Seconds per cell where no earlier run says otherwise (see the module docstring).
# The reward selection and the generation sensitivity sweep have no `small` run yet: their
# defaults are their number of DPPMG evaluations (5 and 7) times an evaluation cell's.
DEFAULT_CELL_SECONDS: dict[str, dict[str, float]] = {
    "smoke": {"dataset_stats": 3, "features": 35, "selection/preference": 10, "selection/sampling": 40,
              "selection/reward": 30, "preference": 4, "evaluation": 10, "sensitivity/codebook": 17,
              "sensitivity/generation": 90},
    "small": {"dataset_stats": 10, "features": 120, "selection/preference": 120, "selection/sampling": 3600,
              "selection/reward": 4500, "preference": 120, "evaluation": 900, "sensitivity/codebook": 300,
              "sensitivity/generation": 6300},
    "paper": {"dataset_stats": 20, "features": 600, "selection/preference": 900, "selection/sampling": 7200,
              "selection/reward": 18000, "preference": 900, "evaluation": 3600, "sensitivity/codebook": 1200,
              "sensitivity/generation": 25200},
}


def _earlier_runs(results_dir: Path, preset: str) -> dict[tuple[str, str, str], list[float]]:
    """Wall times of the result files under ``results/runs/<preset>/``, read from their provenance
    and keys only (a `small` result holds per-user arrays the plan has no use for)."""
    from dppmg.results import read_result_summary

    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for path in (results_dir / "runs" / preset).glob("*/*.json"):
        summary = read_result_summary(path)
        if summary is not None:
            times[(summary["stage"], summary["dataset"], summary["method"])].append(summary["wall_time_s"])
    return times


def _timing_profile(results_dir: Path, preset: str) -> dict[tuple[str, str, str], list[float]]:
    times: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for path in sorted((results_dir / preset).glob("timing_*.csv")):
        try:
            frame = pd.read_csv(path)
            per_cell = frame.groupby(["stage", "dataset", "method", "seed"])["wall time (s)"].sum()
        except (OSError, ValueError, KeyError, pd.errors.ParserError):
            continue
        for (stage, dataset, method, _), seconds in per_cell.items():
            times[(stage, dataset, method)].append(float(seconds))
    return times


class Estimator:
    """Seconds per cell from earlier runs, the committed profile, or the documented defaults."""

    def __init__(self, results_dir: Path, preset: str):
        self.preset = preset
        self.sources = (("earlier runs", _earlier_runs(results_dir, preset)),
                        ("timing profile", _timing_profile(results_dir, preset)))

    def seconds(self, cell: Cell) -> tuple[float, str]:
        p = cell.params
        for name, times in self.sources:
            same_method = times.get((cell.stage.name, p["dataset"], p["method"]))
            if same_method:
                return sum(same_method) / len(same_method), name
            if cell.stage.groups:
                similar = [t for (s, _, m), ts in times.items() if s == cell.stage.name and m == p["method"] for t in ts]
            else:
                similar = [t for (s, d, _), ts in times.items() if s == cell.stage.name and d == p["dataset"] for t in ts]
            if similar:
                return sum(similar) / len(similar), name
        default = DEFAULT_CELL_SECONDS.get(self.preset, DEFAULT_CELL_SECONDS["small"])
        key = f"{cell.stage.name}/{p['method']}" if cell.stage.groups else cell.stage.name
        return float(default.get(key, 60)), "default"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def plan_table(stages: list[tuple[str, list[Cell], list[Cell]]], estimator: Estimator, workers: int
               ) -> tuple[pd.DataFrame, float]:
    """One row per stage: cells, kept results, cells to run and their estimated time; and the total.

    Args:
        stages: (stage name, cells whose result is kept, cells to run) in run order.
    """
    rows, total = [], 0.0
    for name, kept, to_run in stages:
        estimates = [estimator.seconds(c) for c in to_run]
        seconds = sum(s for s, _ in estimates)
        wall = seconds / min(workers, max(len(to_run), 1))
        total += wall
        sources = sorted({src for _, src in estimates})
        rows.append({"stage": name, "cells": len(kept) + len(to_run), "kept (resume)": len(kept),
                     "to run": len(to_run), "estimated": _duration(wall) if to_run else "-",
                     "estimate from": ", ".join(sources) if sources else "-"})
    return pd.DataFrame(rows), total


def describe(plan: pd.DataFrame, total: float, header: dict[str, Any]) -> str:
    """The plan as printed: a header line, the table and the total."""
    head = ", ".join(f"{k} {v}" for k, v in header.items())
    return f"plan: {head}\n{plan.to_markdown(index=False)}\nestimated total: {_duration(total)}"
