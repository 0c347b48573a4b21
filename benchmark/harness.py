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

import argparse
import datetime as _dt
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from tqdm.auto import tqdm

from benchmark.claims import claims_table
from benchmark.executors import EXECUTORS, RUNNERS, Cell, make_executor
from benchmark.budget import Budget, parse_duration
from benchmark.plan import Estimator, describe, estimate_cells, plan_table, run_order, slice_table
from benchmark.suites import EVALUATION_STAGE, SENSITIVITY_STAGE, SUITES, Stage
from benchmark.figures import prune_figures, sample_grids
from benchmark.goldens import GOLDEN_SUITE
from benchmark.sensitivity import sensitivity_figures
from benchmark.tables import TABLE_BUILDERS, timing_table
from dppmg.config import DATASETS, PRESETS
from dppmg.data.datasets import REAL_DATASETS
from dppmg.errors import ConfigError, DPPMGError
from dppmg.io import atomic_write_text
from dppmg.paths import resolve_data_root
from dppmg.plotting import SMOKE_NOTE, timing_profile
from dppmg.provenance import CODE_STATE_AT_START
from dppmg.results import read_result
from dppmg.threads import default_threads

NOTEBOOK_DIR = Path(__file__).resolve().parent / "notebooks"
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


def execute_stage(stage: Stage, params: dict[str, Any], notebook_out: Path, kernel_name: str,
                  runner: str = "notebook") -> None:
    """Run one cell of a suite: its notebook with papermill (``notebook``, the executed notebook is
    kept beside the result), or the notebook's one stage function in this process (``inline``:
    no kernel start per cell, for quick checks)."""
    notebook_out.parent.mkdir(parents=True, exist_ok=True)
    if runner == "inline":
        import benchmark.stages

        getattr(benchmark.stages, f"{stage.name}_stage")(**params)
        return
    import papermill

    from benchmark.kernels import IPCKernelManager

    papermill.execute_notebook(str(NOTEBOOK_DIR / stage.notebook), str(notebook_out), parameters=params,
                               kernel_name=kernel_name, progress_bar=False, cwd=str(notebook_out.parent),
                               kernel_manager_class=IPCKernelManager)


def write_table(frame: pd.DataFrame, stem: Path, note: str) -> None:
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    body = frame.to_markdown(index=False) if len(frame) else "_(no rows)_"
    atomic_write_text(stem.with_suffix(".md"), f"# {stem.name}\n\n{note}\n\n{body}\n")


class CellsFailed(DPPMGError):
    """Some cells of a run failed; the others finished and the tables were written without them."""


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
            :func:`dppmg.threads.default_threads`).
        dry_run: print the plan and return without running anything.
        budget: a duration (``2h``, ``90m``, seconds): start only the cells whose estimate fits in
            the time left (:mod:`benchmark.budget`); the others are left for ``--resume``.
    """
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
    root = resolve_data_root(data_root)
    results_dir = Path(results_dir).resolve()
    figure_dir = results_dir / preset / "figures"
    runs = None if tables_only else make_executor(
        executor, workers=workers, cluster=cluster, parameters=job_parameters,
        folder=results_dir / "runs" / preset / "_submitit")
    budget_seconds = None if budget is None else parse_duration(budget)
    if threads is None and runs is not None:
        threads = default_threads(runs.workers)
    plan = plan_cells(suite, preset, datasets, seeds, methods, root, results_dir)

    # What is already there: kept (resume / tables-only), left out, or to run.
    kept: dict[Path, dict[str, Any]] = {}
    missing: dict[str, list[str]] = {stage.name: [] for stage, _ in plan}
    say = log or tqdm.write
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
                missing[stage.name].append(f"{cell.label} (no result)")
                continue
            to_run[stage.name].append(cell)
        to_run[stage.name] = run_order(to_run[stage.name], datasets)
    estimates: dict[Path, tuple[float, str]] = {}
    if runs is not None:
        rows = [(stage.name, [c for c in cells if c.out_json in kept], to_run[stage.name]) for stage, cells in plan]
        estimates = estimate_cells(rows, Estimator(results_dir, preset))
        table, total = plan_table(rows, estimates, runs.workers)
        say(describe(table, total, {"suite": suite, "preset": preset, "datasets": " ".join(datasets),
                                    "executor": f"{runs.name} ({runs.workers} worker{'s' * (runs.workers > 1)})",
                                    "runner": runner, "threads per cell": threads,
                                    **({"budget": budget} if budget is not None else {})},
                     slice_table(rows, estimates)))
    budget_run = Budget(budget_seconds, estimates)
    if not tables_only:
        budget_run.check_feasible([c for cells in to_run.values() for c in cells])
    if dry_run:
        return {}
    n_run = sum(len(c) for c in to_run.values())
    bar = tqdm(total=n_run, desc=f"{suite} ({preset})", unit="cell", disable=not progress or n_run == 0,
               dynamic_ncols=True)
    written: dict[str, Path] = {}
    all_results: list[dict[str, Any]] = []
    failed: list[str] = []
    try:
        for stage, cells in plan:
            finished: dict[Path, dict[str, Any]] = {}
            for outcome in (runs.run(to_run[stage.name], runner, kernel_name, threads, budget_run.admit)
                            if to_run[stage.name] else ()):
                bar.update(1)
                cell = outcome.cell
                where = f"; log: {outcome.log}" if outcome.log else ""
                if outcome.error is None:
                    try:
                        finished[cell.out_json] = read_result(cell.out_json, stage=stage.name,
                                                              dataset=cell.params["dataset"])
                        say(f"{cell.label}: done in {outcome.seconds:.1f} s")
                        continue
                    except DPPMGError as exc:
                        outcome.error = str(exc)
                say(f"{cell.label}: FAILED after {outcome.seconds:.1f} s: {outcome.error}{where}")
                missing[stage.name].append(f"{cell.label} (failed{where})")
                failed.append(f"{cell.label}{where}")
            # Every run on disk in the full grid's order, whatever this invocation ran or in which
            # order its cells finished: flags select what runs, never what is published.
            stage_results, absent = published_runs(suite, stage, preset, datasets, results_dir, say)
            failed_here = [m for m in missing[stage.name] if "(failed" in m]
            missing[stage.name] = failed_here + [a for a in absent
                                                 if not any(f.startswith(a[:-len(" (no result)")] + " (failed")
                                                            for f in failed_here)]
            if tables_only and not stage_results:
                say(f"[{stage.name}] no results under {results_dir / 'runs' / preset / stage.name}: tables not rebuilt")
                continue
            all_results += stage_results
            note = _note(suite, preset, stage_results, missing[stage.name])
            for name, frame in TABLE_BUILDERS[stage.name](stage_results).items():
                stem = results_dir / preset / name
                write_table(frame, stem, note)
                written[name] = stem.with_suffix(".md")
            if stage.name == EVALUATION_STAGE.name:
                for path in sample_grids(stage_results, preset, figure_dir, data_root, say):
                    written[path.name] = path
            if stage.name == SENSITIVITY_STAGE.name:
                for path in sensitivity_figures(stage_results, figure_dir, preset):
                    written[path.stem] = path
    finally:
        bar.close()
    gone = [m for ms in missing.values() for m in ms]
    if any(stage.name in ("preference", "evaluation") for stage in SUITES[suite]):
        preference_runs = runs_on_disk(results_dir, preset, "preference", say)
        evaluation_runs = runs_on_disk(results_dir, preset, "evaluation", say)
        claims = claims_table(preference_runs, evaluation_runs,
                              seeds_required=len(EVALUATION_STAGE.seeds_for(preset)))
        stem = results_dir / preset / "claims"
        write_table(claims, stem, _note(suite, preset, preference_runs + evaluation_runs, gone)
                    + " Built from every valid run under `runs/`: see `benchmark/claims.py` for the rules.")
        written["claims"] = stem.with_suffix(".md")
    timing = timing_table(all_results)
    write_table(timing, results_dir / preset / f"timing_{suite}", _note(suite, preset, all_results, gone))
    written[f"timing_{suite}"] = results_dir / preset / f"timing_{suite}.md"
    if len(timing):
        timing_profile(timing, figure_dir / f"timing_{suite}.png", f"Timing profile: suite {suite}, preset {preset}")
    prune_figures(results_dir, preset, say)
    if gone:
        say(f"{len(gone)} cell(s) missing from the tables: " + summarize_missing(gone))
    if runs is not None:
        n_done = n_run - len(budget_run.left_out) - len(failed)
        say(budget_run.summary(n_run, n_done, len(failed)))
    if failed:
        raise CellsFailed(f"{len(failed)} cell(s) failed (the tables were written without them; rerun with "
                          f"--resume to run only what is missing): " + "; ".join(failed))
    return written


def published_runs(suite: str, stage: Stage, preset: str, datasets: list[str], results_dir: Path,
                   log: Callable[[str], None]) -> tuple[list[dict[str, Any]], list[str]]:
    """What ``stage``'s tables are built from: every valid run on disk, ordered as the stage's full
    grid (every method and seed of the invocation's datasets and of every dataset with runs), and
    the grid's cells without a result (named in the tables' header)."""
    on_disk = runs_on_disk(results_dir, preset, stage.name, log)
    grid_datasets = list(dict.fromkeys([*datasets, *sorted({r["dataset"] for r in on_disk})]))
    grid = next(cells for s, cells in plan_cells(suite, preset, grid_datasets, None, None, None, results_dir)
                if s.name == stage.name)
    order = {(c.params["dataset"], c.params["method"], c.params["seed"]): k for k, c in enumerate(grid)}
    runs = sorted(on_disk, key=lambda r: order.get((r["dataset"], r["method"], r["seed"]), len(order)))
    absent = [f"{c.label} (no result)" for c in grid if not c.out_json.is_file()]
    return runs, absent


def runs_on_disk(results_dir: Path, preset: str, stage: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every valid result of ``stage`` under ``results_dir/runs/<preset>/`` (others are named and skipped)."""
    out = []
    for path in sorted((results_dir / "runs" / preset / stage).glob("*.json")):
        try:
            out.append(read_result(path, stage=stage))
        except DPPMGError as exc:
            log(f"[{stage}] left out of the claims: {exc}")
    return out


def _note(suite: str, preset: str, results: int | list[dict[str, Any]], missing: list[str] | None = None) -> str:
    """The header of a generated table: the command, how many results, the commit now and, where
    the results came from other commits or from a dirty tree, which (runs kept with ``--resume``
    may come from several sessions)."""
    git = CODE_STATE_AT_START
    sha = (git["git_sha"] or "unknown")[:10] + (" (dirty)" if git["git_dirty"] else "")
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n = results if isinstance(results, int) else len(results)
    note = (f"_Generated by `python -m benchmark run --suite {suite} --preset {preset}` from {n} result "
            f"file(s) at {sha}, {when}. Do not edit by hand._")
    if not isinstance(results, int):
        sources = result_commits(results)
        if sources and list(sources) != [sha]:
            note += " Results computed at " + ", ".join(f"{k} ({v})" for k, v in sources.items()) + "."
    if missing:
        note += f"\n\n**Missing cells ({len(missing)}), left out of this table:** " + summarize_missing(missing)
    return f"{SMOKE_NOTE}\n\n{note}" if preset == "smoke" else note


_NO_RESULT = re.compile(r"^\[(?P<stage>[^\]]+)\] (?P<dataset>\S+) (?P<method>\S+) seed (?P<seed>\d+) \(no result\)$")


def summarize_missing(missing: list[str]) -> str:
    """Cells without a result grouped per (stage, dataset) as ``method (seeds ...)``; failed cells
    are listed one by one with their log."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = {}
    others = []
    for m in missing:
        match = _NO_RESULT.match(m)
        if match is None:
            others.append(m)
            continue
        seeds = groups.setdefault((match["stage"], match["dataset"]), {}).setdefault(match["method"], [])
        seeds.append(match["seed"])
    parts = [f"[{stage}] {dataset}, no result: " + ", ".join(f"{method} (seed{'s' * (len(seeds) > 1)} {', '.join(seeds)})"
                                                          for method, seeds in methods.items())
             for (stage, dataset), methods in groups.items()]
    return "; ".join(parts + others)


def result_commits(results: list[dict[str, Any]]) -> dict[str, int]:
    """How many of ``results`` each commit (``(dirty)`` marked) computed, in first-seen order."""
    out: dict[str, int] = {}
    for r in results:
        prov = r.get("provenance", {})
        key = (prov.get("git_sha") or "unknown")[:10] + (" (dirty)" if prov.get("git_dirty") else "")
        out[key] = out.get(key, 0) + 1
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a suite and rebuild its tables")
    run.add_argument("--suite", required=True, choices=sorted(SUITES))
    run.add_argument("--preset", required=True, choices=PRESETS)
    run.add_argument("--datasets", nargs="+", default=None, help="default: synthetic + real ones present")
    run.add_argument("--seeds", nargs="+", type=int, default=None, help="override each stage's seeds")
    run.add_argument("--methods", nargs="+", default=None,
                     help="run only these registered methods (default: every method of each stage's suite); "
                          "for the selection stage, only these groups of settings (preference, sampling)")
    run.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")
    run.add_argument("--results-dir", default="results")
    how = run.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="keep existing valid results instead of re-running")
    how.add_argument("--tables-only", action="store_true",
                     help="execute nothing: rebuild the tables from the results already there")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    run.add_argument("--dry-run", action="store_true", help="print the plan (cells, kept results, estimates) and stop")
    run.add_argument("--budget", default=None,
                     help="a duration (2h, 90m, 1h30m, seconds): start only cells whose estimate fits in the time "
                          "left; the rest is left for --resume (a last line says what)")
    scaling = sub.add_parser("scaling", help="Stage 1 epoch time against the number of training interactions")
    scaling.add_argument("--preset", default="small", choices=PRESETS)
    scaling.add_argument("--methods", nargs="+", default=None, help="Stage 1 methods (default: every registered one that trains a model)")
    scaling.add_argument("--epochs", type=int, default=3, help="epochs timed per point (median reported)")
    scaling.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")
    scaling.add_argument("--fixture-root", default=None,
                         help="where the ML-1M-size fixture is written (default: under the cache folder)")
    scaling.add_argument("--results-dir", default="results")
    for name, help_ in (("goldens", "write the golden metrics of a preset (only with --update)"),
                        ("check", "run the preset's suite for seed 0 and compare it with the goldens")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--preset", required=True, choices=PRESETS)
        cmd.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")
        cmd.add_argument("--results-dir", default="results")
        cmd.add_argument("--goldens-dir", default="results/goldens")
        if name == "goldens":
            cmd.add_argument("--update", action="store_true", help="overwrite the goldens (required: on purpose only)")
            cmd.add_argument("--suite", default=GOLDEN_SUITE, choices=sorted(SUITES),
                             help="the goldens of this suite's stages only (default: all of them)")
            cmd.add_argument("--from-existing", action="store_true",
                             help="run nothing: write the goldens from the complete (all seeds) results on disk")
        else:
            cmd.add_argument("--suite", default=GOLDEN_SUITE, choices=sorted(SUITES),
                             help="check only this suite's stages (default: all of the goldens)")
            cmd.add_argument("--datasets", nargs="+", default=None, help="check only these datasets")
            cmd.add_argument("--methods", nargs="+", default=None, help="check only these methods")
    run.add_argument("--runner", default="notebook", choices=RUNNERS,
                     help="how a cell runs: notebook (its papermill notebook, kept under runs/) or "
                          "inline (the stage function, no kernel start; faster, no notebooks)")
    run.add_argument("--executor", default="local", choices=EXECUTORS,
                     help="where cells run: local (one after the other, here), pool (--workers local "
                          "processes) or submitit (SLURM jobs, or local subprocesses with --cluster local)")
    run.add_argument("--workers", type=int, default=1, help="cells at once (pool, submitit); default 1")
    run.add_argument("--threads", type=int, default=None,
                     help="torch threads per cell (default: the cores free at the start, shared among the workers)")
    run.add_argument("--cluster", default="auto", choices=("auto", "local", "slurm"),
                     help="submitit's backend (auto: SLURM where sbatch exists)")
    run.add_argument("--slurm-partition", default=None, help="submitit: the SLURM partition")
    run.add_argument("--timeout-min", type=int, default=24 * 60, help="submitit: time limit per cell job")
    run.add_argument("--cpus-per-task", type=int, default=None, help="submitit: CPUs per cell job")
    run.add_argument("--mem-gb", type=float, default=None, help="submitit: memory per cell job")
    run.add_argument("--gpus-per-node", type=int, default=None, help="submitit: GPUs per cell job")
    from benchmark.tutorials import add_parser as add_tutorials_parser

    add_tutorials_parser(sub)
    return parser


def _job_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """submitit's job parameters from the command line (only the ones given)."""
    named = {"slurm_partition": args.slurm_partition, "timeout_min": args.timeout_min,
             "cpus_per_task": args.cpus_per_task, "mem_gb": args.mem_gb, "gpus_per_node": args.gpus_per_node}
    return {k: v for k, v in named.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "goldens":
            from benchmark.goldens import update

            if not args.update:
                print("benchmark: error: goldens are written only with --update (on purpose)", file=sys.stderr)
                return 2
            path = update(args.preset, results_dir=args.results_dir, goldens_dir=args.goldens_dir,
                          data_root=args.data_root, suite=args.suite, from_existing=args.from_existing)
            print(f"goldens: {path}")
            return 0
        if args.command == "tutorials":
            from benchmark.tutorials import main as publish_tutorials

            return publish_tutorials(args)
        if args.command == "scaling":
            from benchmark.scaling import run_scaling

            written = run_scaling(args.preset, methods=args.methods, epochs=args.epochs,
                                  data_root=args.data_root, fixture_root=args.fixture_root,
                                  results_dir=args.results_dir)
            for name, path in written.items():
                print(f"{name}: {path}")
            return 0
        if args.command == "check":
            from benchmark.goldens import check

            code, table = check(args.preset, results_dir=args.results_dir, goldens_dir=args.goldens_dir,
                                data_root=args.data_root, suite=args.suite, datasets=args.datasets,
                                methods=args.methods)
            # The verdict and the failing rows; the full table is in check.md.
            shown = table[table["status"] != "ok"]
            if len(shown):
                print(shown.to_markdown(index=False, floatfmt=".6g"))
            elif not len(table):
                print("(no goldens)")
            print(f"check ({args.preset}): " + ("FAILED, " + ", ".join(
                f"{r.dataset}/{r.method}/{r.metric}: {r.status}" for r in shown.itertuples()) if code
                else f"all {len(table[table['status'] == 'ok'])} goldens pass, "
                     f"{int((table['difference'] == 0).sum())} of them bit-identical to the golden") + f"; table: "
                  f"{Path(args.results_dir) / args.preset / 'check.md'}")
            return code
        written = run_suite(args.suite, args.preset, datasets=args.datasets, seeds=args.seeds,
                            methods=args.methods, data_root=args.data_root, results_dir=args.results_dir,
                            resume=args.resume, tables_only=args.tables_only, kernel_name=args.kernel,
                            runner=args.runner, executor=args.executor, workers=args.workers,
                            threads=args.threads, cluster=args.cluster, job_parameters=_job_parameters(args),
                            dry_run=args.dry_run, budget=args.budget)
    except DPPMGError as exc:
        print(f"benchmark: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = " ".join(["python -m benchmark", *(sys.argv[1:] if argv is None else argv)])
        if args.command == "run" and "--resume" not in again and "--tables-only" not in again:
            again += " --resume"
        print(f"\nbenchmark: interrupted; finished result files and cache entries are kept whole. "
              f"Continue with `{again}` (with tox: `tox -e reproduce -- --resume`)", file=sys.stderr)
        return 130
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0
