"""What a run publishes under ``results/<preset>/``: every stage's tables and figures, the claims
table and the timing profile, each built from the runs on disk (``results/runs/<preset>/``) in
the full grid's order, never from the cells one invocation happened to run: flags select what
runs, never what is published.

A stage's tables come from :data:`benchmark.tables.TABLE_BUILDERS`; the figures a stage adds to
them are declared once, in :data:`STAGE_FIGURES`. Each table's header (:func:`table_note`) names
the command, the number of results, the commits that computed them and the grid's cells that have
no result yet.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmark.claims import claims_table
from benchmark.figures import prune_figures, sample_grids
from benchmark.plan import plan_cells
from benchmark.sensitivity import sensitivity_figures
from benchmark.suites import EVALUATION_STAGE, SENSITIVITY_STAGE, SUITES, Stage
from benchmark.tables import TABLE_BUILDERS, timing_table
from dppmg.errors import DPPMGError
from dppmg.infra.io import atomic_write_text
from dppmg.infra.provenance import CODE_STATE_AT_START
from dppmg.infra.results import read_result
from dppmg.ui.plotting import SMOKE_NOTE, timing_profile

Log = Callable[[str], None]

# The figures a stage publishes beside its tables, by name: (its runs, preset, figure folder, data root, log).
STAGE_FIGURES: dict[str, Callable[[list[dict[str, Any]], str, Path, str | None, Log], dict[str, Path]]] = {
    EVALUATION_STAGE.name: lambda runs, preset, figure_dir, data_root, log: {
        p.name: p for p in sample_grids(runs, preset, figure_dir, data_root, log)},
    SENSITIVITY_STAGE.name: lambda runs, preset, figure_dir, data_root, log: {
        p.stem: p for p in sensitivity_figures(runs, figure_dir, preset)},
}


def write_table(frame: pd.DataFrame, stem: Path, note: str) -> None:
    atomic_write_text(stem.with_suffix(".csv"), frame.to_csv(index=False))
    body = frame.to_markdown(index=False) if len(frame) else "_(no rows)_"
    atomic_write_text(stem.with_suffix(".md"), f"# {stem.name}\n\n{note}\n\n{body}\n")


def runs_on_disk(results_dir: Path, preset: str, stage: str, log: Log) -> list[dict[str, Any]]:
    """Every valid result of ``stage`` under ``results_dir/runs/<preset>/`` (others are named and skipped)."""
    out = []
    for path in sorted((results_dir / "runs" / preset / stage).glob("*.json")):
        try:
            out.append(read_result(path, stage=stage))
        except DPPMGError as exc:
            log(f"[{stage}] left out of the claims: {exc}")
    return out


def published_runs(suite: str, stage: Stage, preset: str, datasets: list[str], results_dir: Path,
                   log: Log) -> tuple[list[dict[str, Any]], list[str]]:
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


def publish_stage(suite: str, stage: Stage, preset: str, datasets: list[str], results_dir: Path,
                  data_root: str | None, failed: list[str], tables_only: bool,
                  log: Log) -> tuple[list[dict[str, Any]], list[str], dict[str, Path]]:
    """Rebuild ``stage``'s tables and figures from the runs on disk. ``failed``: this invocation's
    failed cells (named in the header with their logs). Returns (the runs, the cells missing from
    the tables, the files written by name)."""
    runs, absent = published_runs(suite, stage, preset, datasets, results_dir, log)
    missing = failed + [a for a in absent
                        if not any(f.startswith(a[:-len(" (no result)")] + " (failed") for f in failed)]
    if tables_only and not runs:
        log(f"[{stage.name}] no results under {results_dir / 'runs' / preset / stage.name}: tables not rebuilt")
        return runs, missing, {}
    written: dict[str, Path] = {}
    note = table_note(suite, preset, runs, missing)
    for name, frame in TABLE_BUILDERS[stage.name](runs).items():
        stem = results_dir / preset / name
        write_table(frame, stem, note)
        written[name] = stem.with_suffix(".md")
    if stage.name in STAGE_FIGURES:
        written.update(STAGE_FIGURES[stage.name](runs, preset, results_dir / preset / "figures", data_root, log))
    return runs, missing, written


def publish_suite(suite: str, preset: str, results_dir: Path, runs: list[dict[str, Any]], missing: list[str],
                  log: Log) -> dict[str, Path]:
    """The suite-wide outputs after its stages: the claims table (from every preference and
    evaluation run on disk), the timing profile of ``runs`` and the pruning of figures no run backs."""
    written: dict[str, Path] = {}
    figure_dir = results_dir / preset / "figures"
    if any(stage.name in ("preference", "evaluation") for stage in SUITES[suite]):
        preference_runs = runs_on_disk(results_dir, preset, "preference", log)
        evaluation_runs = runs_on_disk(results_dir, preset, "evaluation", log)
        claims = claims_table(preference_runs, evaluation_runs,
                              seeds_required=len(EVALUATION_STAGE.seeds_for(preset)))
        stem = results_dir / preset / "claims"
        write_table(claims, stem, table_note(suite, preset, preference_runs + evaluation_runs, missing)
                    + " Built from every valid run under `runs/`: see `benchmark/claims.py` for the rules.")
        written["claims"] = stem.with_suffix(".md")
    timing = timing_table(runs)
    write_table(timing, results_dir / preset / f"timing_{suite}", table_note(suite, preset, runs, missing))
    written[f"timing_{suite}"] = results_dir / preset / f"timing_{suite}.md"
    if len(timing):
        timing_profile(timing, figure_dir / f"timing_{suite}.png", f"Timing profile: suite {suite}, preset {preset}")
    prune_figures(results_dir, preset, log)
    return written


def table_note(suite: str, preset: str, results: int | list[dict[str, Any]], missing: list[str] | None = None,
               command: str | None = None) -> str:
    """The header of a generated table: the command (default: the suite's run), how many results,
    the commit now and, where the results came from other commits or from a dirty tree, which (runs
    kept with ``--resume`` may come from several sessions)."""
    git = CODE_STATE_AT_START
    sha = (git["git_sha"] or "unknown")[:10] + (" (dirty)" if git["git_dirty"] else "")
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    n = results if isinstance(results, int) else len(results)
    command = command or f"python -m benchmark run --suite {suite} --preset {preset}"
    note = (f"_Generated by `{command}` from {n} result "
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
