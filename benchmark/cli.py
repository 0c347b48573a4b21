"""The command line of the harness: ``python -m benchmark run | check | goldens | scaling | plan-check | tutorials``.

Each command resolves its arguments here and calls one function: :func:`benchmark.harness.run_suite`,
:mod:`benchmark.goldens`, :mod:`benchmark.scaling`, :mod:`benchmark.plan_check` or :mod:`benchmark.tutorials`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchmark.executors import EXECUTORS, RUNNERS
from benchmark.goldens import GOLDEN_SUITE
from benchmark.harness import __doc__ as HARNESS_DOC, run_suite
from benchmark.suites import SUITES
from dppmg.config import PRESETS
from dppmg.errors import DPPMGError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=HARNESS_DOC.split("\n\n")[0])
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
    scaling.add_argument("--full-fits", action="store_true",
                         help="instead of epoch profiles, train every Stage 1 method to the end on the whole fixture "
                              "(wall time against the 3-minute target; run it with nothing beside it)")
    check_plan = sub.add_parser("plan-check", help="each complete (dataset, seed) slice of the evaluation stage: "
                                "the plan's estimate from the other runs against its measured wall time")
    check_plan.add_argument("--preset", default="small", choices=PRESETS)
    check_plan.add_argument("--datasets", nargs="+", default=["movielens", "hm"])
    check_plan.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    check_plan.add_argument("--methods", nargs="+", default=None, help="the slice's methods (default: the headline grid's)")
    check_plan.add_argument("--threads", type=int, default=None,
                            help="the plan's threads per cell (a kept run's generations are reused at the same count)")
    check_plan.add_argument("--results-dir", default="results")
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
            cmd.add_argument("--seeds", nargs="+", type=int, default=None,
                             help="the check seed (the goldens' check_seed, 0); any other is an error")
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
            from benchmark.scaling import run_full_fits, run_scaling

            if args.full_fits:
                written = run_full_fits(args.preset, methods=args.methods, data_root=args.data_root,
                                        fixture_root=args.fixture_root, results_dir=args.results_dir)
            else:
                written = run_scaling(args.preset, methods=args.methods, epochs=args.epochs,
                                      data_root=args.data_root, fixture_root=args.fixture_root,
                                      results_dir=args.results_dir)
            for name, path in written.items():
                print(f"{name}: {path}")
            return 0
        if args.command == "plan-check":
            from benchmark.plan_check import plan_check

            for name, path in plan_check(args.preset, args.datasets, args.seeds, args.methods, args.results_dir,
                                         args.threads).items():
                print(f"{name}: {path}")
            return 0
        if args.command == "check":
            from benchmark.goldens import check

            code, table = check(args.preset, results_dir=args.results_dir, goldens_dir=args.goldens_dir,
                                data_root=args.data_root, suite=args.suite, datasets=args.datasets,
                                methods=args.methods, seeds=args.seeds)
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
