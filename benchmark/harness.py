"""Execute a suite's notebooks with papermill and build its tables.

    python -m benchmark run --suite reproduce --preset small [--datasets synthetic hm] [--seeds 0 1 2]
                           [--methods dppmg lightgcn] [--data-root PATH] [--results-dir results]
                           [--resume | --tables-only] [--runner notebook|inline]
                           [--executor local|pool|submitit --workers N [--cluster local|slurm ...]]

For every stage x dataset x method x seed the stage's notebook is executed with those parameters
(the methods of a stage are the registered methods of its suite, :mod:`dppmg.registry`;
``--methods`` keeps only some of them);
the executed notebook and the JSON it writes are kept under ``results/runs/<preset>/<stage>/``.
The tables are then rebuilt from those JSON files into ``results/<preset>/<table>.{md,csv}``,
together with a timing profile (table and bar chart). With ``--resume`` a run whose JSON already
exists and validates is not executed again; with ``--tables-only`` nothing is executed and the
tables are rebuilt from the runs already there (missing ones are listed and left out).

Before it starts, the run prints its plan (cells per stage, kept results, the estimated time:
:mod:`benchmark.plan`); while it runs, one progress bar counts the cells. Cells run where
``--executor`` says (:mod:`benchmark.executors`: here, a local process pool, or submitit jobs on
SLURM); a cell that fails is reported with its log and the others go on.
"""


from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from benchmark.budget import Budget, parse_duration
from benchmark.executors import RUNNERS, Cell, make_executor
from benchmark.outputs import Log, publish_stage, publish_suite, summarize_missing
from benchmark.plan import (
    Estimator,
    available_datasets,
    describe,
    estimate_cells,
    plan_cells,
    plan_table,
    run_order,
    run_path,
    slice_table,
)
from benchmark.suites import SUITES, Stage
from dppmg.config import DATASETS, PRESETS
from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.paths import resolve_data_root
from dppmg.infra.results import read_result
from dppmg.infra.threads import default_threads

__all__ = ["CellsFailed", "available_datasets", "plan_cells", "run_path", "run_suite"]


class CellsFailed(DPPMGError):
    """Some cells of a run failed; the others finished and the tables were written without them."""


def run_suite(suite: str, preset: str, *, datasets: list[str] | None = None, seeds: list[int] | None = None,
              methods: list[str] | None = None, data_root: str | None = None,
              results_dir: str | os.PathLike = "results", resume: bool = False, tables_only: bool = False,
              kernel_name: str = "python3", runner: str = "notebook", executor: str = "local", workers: int = 1,
              threads: int | None = None, cluster: str | None = None, job_parameters: dict[str, Any] | None = None,
              progress: bool = True, dry_run: bool = False, log: Callable[[str], None] | None = None,
              budget: str | float | None = None) -> dict[str, Path]:
    """Run ``suite`` at ``preset`` (only ``methods``, if given, in the stages that run per method);
    return the written table files by name.

    Args:
        runner: how one cell runs (``notebook`` or ``inline``).
        executor / workers / cluster / job_parameters: where cells run (:mod:`benchmark.executors`).
        threads: torch threads per cell (default: the free cores shared among the workers,
            :func:`dppmg.infra.threads.default_threads`).
        dry_run: print the plan and return without running anything.
        budget: a duration (``2h``, ``90m``, seconds): start only the cells whose estimate fits in
            the time left (:mod:`benchmark.budget`); the others are left for ``--resume``.
    """
    datasets = check_request(suite, preset, runner, methods, datasets, data_root)
    results_dir = Path(results_dir).resolve()
    say = log or tqdm.write
    runs = None if tables_only else make_executor(
        executor, workers=workers, cluster=cluster, parameters=job_parameters,
        folder=results_dir / "runs" / preset / "_submitit")
    if threads is None and runs is not None:
        threads = default_threads(runs.workers)
    plan = plan_cells(suite, preset, datasets, seeds, methods, resolve_data_root(data_root), results_dir)
    kept, to_run = sort_cells(plan, datasets, resume, tables_only, say)
    budget_run = Budget(None if budget is None else parse_duration(budget), {},
                        finished=(lambda cell: _valid_result(cell, say)) if resume else None)
    if runs is not None:
        header = {"suite": suite, "preset": preset, "datasets": " ".join(datasets),
                  "executor": f"{runs.name} ({runs.workers} worker{'s' * (runs.workers > 1)})",
                  "runner": runner, "threads per cell": threads, **({"budget": budget} if budget is not None else {})}
        budget_run.estimates = announce_plan(plan, kept, to_run, results_dir, preset, runs.workers, threads, header,
                                             say)
        budget_run.check_feasible([c for cells in to_run.values() for c in cells])
    if dry_run:
        return {}
    n_run = sum(len(c) for c in to_run.values())
    bar = tqdm(total=n_run, desc=f"{suite} ({preset})", unit="cell", disable=not progress or n_run == 0,
               dynamic_ncols=True)
    written: dict[str, Path] = {}
    published: list[dict[str, Any]] = []
    failed: list[tuple[str, str]] = []  # (cell, where its log is)
    missing: list[str] = []
    try:
        for stage, _ in plan:
            run = (runs.run(to_run[stage.name], runner, kernel_name, threads, budget_run.admit)
                   if to_run[stage.name] else ())
            failed_here = collect_outcomes(stage, run, bar, say)
            failed += failed_here
            stage_runs, stage_missing, stage_written = publish_stage(
                suite, stage, preset, datasets, results_dir, data_root,
                [f"{label} (failed{where})" for label, where in failed_here], tables_only, say)
            published += stage_runs
            missing += stage_missing
            written.update(stage_written)
    finally:
        bar.close()
    written.update(publish_suite(suite, preset, results_dir, published, missing, say))
    if missing:
        say(f"{len(missing)} cell(s) missing from the tables: " + summarize_missing(missing))
    if runs is not None:
        skipped = len(budget_run.left_out) + len(budget_run.done_elsewhere)
        say(budget_run.summary(n_run, n_run - skipped - len(failed), len(failed)))
    if failed:
        raise CellsFailed(f"{len(failed)} cell(s) failed (the tables were written without them; rerun with "
                          f"--resume to run only what is missing): " + "; ".join(f"{label}{where}" for label, where in failed))
    return written


def check_request(suite: str, preset: str, runner: str, methods: list[str] | None, datasets: list[str] | None,
                  data_root: str | None) -> list[str]:
    """Refuse an unknown suite, runner, method, preset or dataset, naming the argument; return the
    datasets to run (default: the synthetic world and the real ones present under the data root)."""
    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    if runner not in RUNNERS:
        raise ConfigError(f"unknown runner {runner!r}; expected one of {', '.join(RUNNERS)}")
    if methods is not None:
        known = {m for stage in SUITES[suite] for m in stage.methods}
        unknown = [m for m in methods if m not in known]
        if unknown:
            raise ConfigError(f"unknown method(s) {', '.join(unknown)} in --methods for suite {suite!r}; "
                              f"its methods: {', '.join(sorted(known - {'-'}))}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    datasets = list(datasets) if datasets else available_datasets(data_root)
    for d in datasets:
        if d not in DATASETS:
            raise ConfigError(f"unknown dataset {d!r} in --datasets; expected some of {', '.join(DATASETS)}")
    return datasets


def sort_cells(plan: list[tuple[Stage, list[Cell]]], datasets: list[str], resume: bool, tables_only: bool,
               say: Log) -> tuple[dict[Path, dict[str, Any]], dict[str, list[Cell]]]:
    """What is already there: the results kept (``--resume``, ``--tables-only``) and, per stage,
    the cells to run in the order the claims need them (:func:`benchmark.plan.run_order`)."""
    kept: dict[Path, dict[str, Any]] = {}
    to_run: dict[str, list[Cell]] = {}
    for stage, cells in plan:
        to_run[stage.name] = []
        for cell in cells:
            if (resume or tables_only) and cell.out_json.is_file():
                try:
                    kept[cell.out_json] = read_result(cell.out_json, stage=stage.name, dataset=cell.params["dataset"])
                    continue
                except DPPMGError as exc:
                    if tables_only:
                        raise
                    say(f"{cell.label}: re-running, existing result unusable ({exc})")
            if tables_only:
                say(f"{cell.label}: no result, left out of the tables")
                continue
            to_run[stage.name].append(cell)
        to_run[stage.name] = run_order(to_run[stage.name], datasets)
    return kept, to_run


def _valid_result(cell: Cell, say: Log) -> bool:
    """Whether ``cell`` has a valid result now: another run may have finished it since the plan."""
    if not cell.out_json.is_file():
        return False
    try:
        read_result(cell.out_json, stage=cell.stage.name, dataset=cell.params["dataset"])
    except DPPMGError:
        return False
    say(f"{cell.label}: finished meanwhile by another run; kept, not rerun")
    return True


def announce_plan(plan: list[tuple[Stage, list[Cell]]], kept: dict[Path, dict[str, Any]],
                  to_run: dict[str, list[Cell]], results_dir: Path, preset: str, workers: int, threads: int | None,
                  header: dict[str, Any], say: Log) -> dict[Path, tuple[float, str]]:
    """Print the plan (cells per stage and per (dataset, seed) slice, kept results, estimates and
    their basis: :mod:`benchmark.plan`); return each cell's estimate by result path."""
    rows = [(stage.name, [c for c in cells if c.out_json in kept], to_run[stage.name]) for stage, cells in plan]
    estimates = estimate_cells(rows, Estimator(results_dir, preset, threads=threads))
    table, total = plan_table(rows, estimates, workers)
    say(describe(table, total, header, slice_table(rows, estimates)))
    return estimates


def collect_outcomes(stage: Stage, outcomes, bar, say: Log) -> list[tuple[str, str]]:
    """Report each finished cell of ``stage`` (a result file that does not validate is a failure);
    return the failed ones as (cell, where its log is)."""
    failed = []
    for outcome in outcomes:
        bar.update(1)
        cell = outcome.cell
        where = f"; log: {outcome.log}" if outcome.log else ""
        if outcome.error is None:
            try:
                read_result(cell.out_json, stage=stage.name, dataset=cell.params["dataset"])
                say(f"{cell.label}: done in {outcome.seconds:.1f} s")
                continue
            except DPPMGError as exc:
                outcome.error = str(exc)
        say(f"{cell.label}: FAILED after {outcome.seconds:.1f} s: {outcome.error}{where}")
        failed.append((cell.label, where))
    return failed
