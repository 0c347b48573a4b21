"""Execute a suite's notebooks with papermill and build its tables.

    python -m benchmark run --suite reproduce --preset small [--datasets synthetic hm] [--seeds 0 1 2]
                           [--methods dppmg lightgcn] [--data-root PATH] [--results-dir results]
                           [--resume | --tables-only]

For every stage x dataset x method x seed the stage's notebook is executed with those parameters
(the methods of a stage are the registered methods of its suite, :mod:`dppmg.registry`;
``--methods`` keeps only some of them);
the executed notebook and the JSON it writes are kept under ``results/runs/<preset>/<stage>/``.
The tables are then rebuilt from those JSON files into ``results/<preset>/<table>.{md,csv}``,
together with a timing profile (table and bar chart). With ``--resume`` a run whose JSON already
exists and validates is not executed again; with ``--tables-only`` nothing is executed and the
tables are rebuilt from the runs already there (missing ones are listed and left out).
"""

from __future__ import annotations

import argparse
import functools
import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmark.claims import claims_table
from benchmark.suites import SUITES, Stage
from benchmark.tables import TABLE_BUILDERS, timing_table
from dppmg.config import DATASETS, PRESETS
from dppmg.data.datasets import REAL_DATASETS
from dppmg.errors import ConfigError, DPPMGError
from dppmg.io import atomic_write_text
from dppmg.paths import resolve_data_root
from dppmg.plotting import SMOKE_NOTE, timing_profile
from dppmg.provenance import git_state
from dppmg.results import read_result

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


EXECUTORS = ("notebook", "inline")


def execute_stage(stage: Stage, params: dict[str, Any], notebook_out: Path, kernel_name: str,
                  executor: str = "notebook") -> None:
    """Run one cell of a suite: its notebook with papermill (``notebook``, the executed notebook is
    kept beside the result), or the notebook's one stage function in this process (``inline``:
    no kernel start per cell, for quick checks)."""
    notebook_out.parent.mkdir(parents=True, exist_ok=True)
    if executor == "inline":
        import benchmark.stages

        getattr(benchmark.stages, f"{stage.name}_stage")(**params)
        return
    import papermill

    papermill.execute_notebook(str(NOTEBOOK_DIR / stage.notebook), str(notebook_out), parameters=params,
                               kernel_name=kernel_name, progress_bar=False, cwd=str(notebook_out.parent))


def write_table(frame: pd.DataFrame, stem: Path, note: str) -> None:
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    body = frame.to_markdown(index=False) if len(frame) else "_(no rows)_"
    atomic_write_text(stem.with_suffix(".md"), f"# {stem.name}\n\n{note}\n\n{body}\n")


def run_suite(suite: str, preset: str, *, datasets: list[str] | None = None, seeds: list[int] | None = None,
              methods: list[str] | None = None, data_root: str | None = None,
              results_dir: str | os.PathLike = "results", resume: bool = False, tables_only: bool = False,
              kernel_name: str = "python3", executor: str = "notebook", log: Callable[[str], None] = functools.partial(print, flush=True)
              ) -> dict[str, Path]:
    """Run ``suite`` at ``preset`` (only ``methods``, if given, in the stages that run per method);
    return the written table files by name."""
    if suite not in SUITES:
        raise ConfigError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {', '.join(EXECUTORS)}")
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
    written: dict[str, Path] = {}
    all_results: list[dict[str, Any]] = []
    for stage in SUITES[suite]:
        stage_results = []
        for dataset in datasets:
            for method in [m for m in stage.methods if methods is None or m == "-" or m in methods]:
                for seed in seeds or stage.seeds_for(preset):
                    base = run_path(results_dir, preset, stage, dataset, method, seed)
                    out_json = base.with_suffix(".json")
                    if tables_only and not out_json.is_file():
                        log(f"[{stage.name}] {dataset} {method} seed {seed}: no result, left out of the tables")
                        continue
                    if (resume or tables_only) and out_json.is_file():
                        try:
                            stage_results.append(read_result(out_json, stage=stage.name, dataset=dataset))
                            log(f"[{stage.name}] {dataset} {method} seed {seed}: kept {out_json}")
                            continue
                        except DPPMGError as exc:
                            if tables_only:
                                raise
                            log(f"[{stage.name}] {dataset}: re-running, existing result unusable ({exc})")
                    params = {"dataset": dataset, "preset": preset, "seed": seed, "method": method,
                              "data_root": str(root) if root else None, "output_json": str(out_json),
                              "figure_dir": str(figure_dir)}
                    t0 = time.perf_counter()
                    log(f"[{stage.name}] {dataset} {method} seed {seed}: executing {stage.notebook}")
                    execute_stage(stage, params, base.with_suffix(".ipynb"), kernel_name, executor)
                    stage_results.append(read_result(out_json, stage=stage.name, dataset=dataset))
                    log(f"[{stage.name}] {dataset} {method} seed {seed}: done in {time.perf_counter() - t0:.1f} s")
        if tables_only and not stage_results:
            log(f"[{stage.name}] no results under {results_dir / 'runs' / preset / stage.name}: tables not rebuilt")
            continue
        all_results += stage_results
        note = _note(suite, preset, len(stage_results))
        for name, frame in TABLE_BUILDERS[stage.name](stage_results).items():
            stem = results_dir / preset / name
            write_table(frame, stem, note)
            written[name] = stem.with_suffix(".md")
    if any(stage.name in ("preference", "evaluation") for stage in SUITES[suite]):
        preference_runs = runs_on_disk(results_dir, preset, "preference", log)
        evaluation_runs = runs_on_disk(results_dir, preset, "evaluation", log)
        claims = claims_table(preference_runs, evaluation_runs)
        stem = results_dir / preset / "claims"
        write_table(claims, stem, _note(suite, preset, len(preference_runs) + len(evaluation_runs))
                    + " Built from every valid run under `runs/`: see `benchmark/claims.py` for the rules.")
        written["claims"] = stem.with_suffix(".md")
    timing = timing_table(all_results)
    write_table(timing, results_dir / preset / f"timing_{suite}", _note(suite, preset, len(all_results)))
    written[f"timing_{suite}"] = results_dir / preset / f"timing_{suite}.md"
    if len(timing):
        timing_profile(timing, figure_dir / f"timing_{suite}.png", f"Timing profile: suite {suite}, preset {preset}")
    return written


def runs_on_disk(results_dir: Path, preset: str, stage: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every valid result of ``stage`` under ``results_dir/runs/<preset>/`` (others are named and skipped)."""
    out = []
    for path in sorted((results_dir / "runs" / preset / stage).glob("*.json")):
        try:
            out.append(read_result(path, stage=stage))
        except DPPMGError as exc:
            log(f"[{stage}] left out of the claims: {exc}")
    return out


def _note(suite: str, preset: str, n: int) -> str:
    git = git_state()
    sha = (git["git_sha"] or "unknown")[:10] + (" (dirty)" if git["git_dirty"] else "")
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"_Generated by `python -m benchmark run --suite {suite} --preset {preset}` from {n} result "
            f"file(s) at {sha}, {when}. Do not edit by hand._")
    return f"{SMOKE_NOTE}\n\n{note}" if preset == "smoke" else note


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a suite and rebuild its tables")
    run.add_argument("--suite", required=True, choices=sorted(SUITES))
    run.add_argument("--preset", required=True, choices=PRESETS)
    run.add_argument("--datasets", nargs="+", default=None, help="default: synthetic + real ones present")
    run.add_argument("--seeds", nargs="+", type=int, default=None, help="override each stage's seeds")
    run.add_argument("--methods", nargs="+", default=None,
                     help="run only these registered methods (default: every method of each stage's suite)")
    run.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")
    run.add_argument("--results-dir", default="results")
    how = run.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="keep existing valid results instead of re-running")
    how.add_argument("--tables-only", action="store_true",
                     help="execute nothing: rebuild the tables from the results already there")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel name")
    for name, help_ in (("goldens", "write the golden metrics of a preset (only with --update)"),
                        ("check", "run the preset's suite for seed 0 and compare it with the goldens")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--preset", required=True, choices=PRESETS)
        cmd.add_argument("--data-root", default=None, help="default $DPPMG_DATA_DIR")
        cmd.add_argument("--results-dir", default="results")
        cmd.add_argument("--goldens-dir", default="results/goldens")
        if name == "goldens":
            cmd.add_argument("--update", action="store_true", help="overwrite the goldens (required: on purpose only)")
        else:
            cmd.add_argument("--suite", default="reproduce", choices=sorted(SUITES),
                             help="check only this suite's stages (default: all of the goldens)")
            cmd.add_argument("--datasets", nargs="+", default=None, help="check only these datasets")
            cmd.add_argument("--methods", nargs="+", default=None, help="check only these methods")
    run.add_argument("--executor", default="notebook", choices=EXECUTORS,
                     help="notebook: each cell through its papermill notebook (kept under runs/); "
                          "inline: the stage functions in this process (faster, no notebooks)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "goldens":
            from benchmark.goldens import update

            if not args.update:
                print("benchmark: error: goldens are written only with --update (on purpose)", file=sys.stderr)
                return 2
            print(f"goldens: {update(args.preset, results_dir=args.results_dir, goldens_dir=args.goldens_dir, data_root=args.data_root)}")
            return 0
        if args.command == "check":
            from benchmark.goldens import check

            code, table = check(args.preset, results_dir=args.results_dir, goldens_dir=args.goldens_dir,
                                data_root=args.data_root, suite=args.suite, datasets=args.datasets,
                                methods=args.methods)
            shown = table[table["status"] != "ok"] if code else table
            print(shown.to_markdown(index=False, floatfmt=".6g") if len(shown) else "(no goldens)")
            print(f"check ({args.preset}): " + ("FAILED, " + ", ".join(
                f"{r.dataset}/{r.method}/{r.metric}: {r.status}" for r in shown.itertuples()) if code
                else f"all {len(table[table['status'] == 'ok'])} goldens pass, "
                     f"{int((table['difference'] == 0).sum())} of them bit-identical to the golden") + f"; table: "
                  f"{Path(args.results_dir) / args.preset / 'check.md'}")
            return code
        written = run_suite(args.suite, args.preset, datasets=args.datasets, seeds=args.seeds,
                            methods=args.methods, data_root=args.data_root, results_dir=args.results_dir,
                            resume=args.resume, tables_only=args.tables_only, kernel_name=args.kernel,
                            executor=args.executor)
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
