"""How far the plan's estimates are from what slices really took: ``python -m benchmark plan-check``.

Each complete (dataset, seed) slice of the evaluation stage (every cell of the headline grid's
methods, or of ``--methods``, has a result) is estimated as the plan would have estimated it before it
ran: by :class:`benchmark.plan.Estimator` over every other result file (the slice's own are left
out), with the trainings the slice's runs did (their Stage 1-3 blocks) priced as missing from the
cache. The table compares each cell's estimate with its measured wall time (each second counted
once) and sums them per slice; it is written to ``results/<preset>/plan_check.md`` (+ CSV).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.outputs import table_note, write_table
from benchmark.plan import Estimator, estimate_cells, headline_methods, plan_cells, run_order, training_block
from dppmg.errors import DPPMGError
from dppmg.infra.results import read_result_summary


class _SliceLeftOut(Estimator):
    """The estimator of a slice whose result files are hidden: what its runs trained counts as
    missing from the cache (the cache holds it now, it did not before they ran)."""

    def __init__(self, results_dir: Path, preset: str, trained: dict[tuple[str, int], set[str]], **kwargs: Any):
        super().__init__(results_dir, preset, **kwargs)
        self.trained_by_slice = trained

    def _training_steps(self, cell):
        steps = super()._training_steps(cell)
        trained = self.trained_by_slice.get((cell.params["method"], cell.params["seed"]), set())
        return None if steps is None else [dataclasses.replace(s, cached=s.cached and s.block not in trained)
                                           for s in steps]


def check_slice(results_dir: Path, preset: str, dataset: str, seed: int, methods: list[str] | None,
                threads: int | None = None) -> pd.DataFrame | None:
    """One row per cell of the slice (estimate, measured, basis), or ``None`` where a cell has no
    result. ``methods``: the slice's methods (default: the headline grid's, :func:`headline_methods`)."""
    stage, cells = plan_cells("evaluation", preset, [dataset], [seed], methods or headline_methods(), None,
                              results_dir)[-1]
    summaries = {c.out_json: read_result_summary(c.out_json) if c.out_json.is_file() else None for c in cells}
    if not cells or any(s is None for s in summaries.values()):
        return None
    trained = {(s["method"], s["seed"]): {b for t in s["timings"] if (b := training_block(t))}
               for s in summaries.values()}
    estimator = _SliceLeftOut(results_dir, preset, trained, threads=threads, exclude=summaries)
    ordered = run_order(cells, [dataset])
    estimates = estimate_cells([(stage.name, [], ordered)], estimator)
    rows = []
    for cell in ordered:
        seconds, basis = estimates[cell.out_json]
        measured = summaries[cell.out_json]["wall_time_s"]
        rows.append({"dataset": dataset, "seed": seed, "method": cell.params["method"],
                     "estimated (min)": round(seconds / 60, 1), "measured (min)": round(measured / 60, 1),
                     "measured / estimated": round(measured / seconds, 2) if seconds else None, "basis": basis})
    return pd.DataFrame(rows)


def plan_check(preset: str, datasets: list[str], seeds: list[int], methods: list[str] | None = None,
               results_dir: str | Path = "results", threads: int | None = None) -> dict[str, Path]:
    """Check every complete slice of ``datasets`` x ``seeds``; write the per-cell and per-slice tables."""
    results_dir = Path(results_dir).resolve()
    cells = [t for d in datasets for s in seeds if (t := check_slice(results_dir, preset, d, s, methods, threads))
             is not None]
    if not cells:
        raise DPPMGError(f"no complete (dataset, seed) slice among {datasets} x seeds {seeds} under "
                         f"{results_dir / 'runs' / preset / 'evaluation'}: a slice is checked once every cell has a result")
    table = pd.concat(cells, ignore_index=True)
    slices = table.groupby(["dataset", "seed"], sort=False)[["estimated (min)", "measured (min)"]].sum().reset_index()
    slices["estimate error"] = [f"{e / m - 1:+.0%}" for e, m in zip(slices["estimated (min)"], slices["measured (min)"])]
    note = table_note("evaluation", preset, len(table), command=f"python -m benchmark plan-check --preset {preset}")
    written = {}
    for name, frame in (("plan_check", slices), ("plan_check_cells", table)):
        write_table(frame, results_dir / preset / name, note)
        written[name] = (results_dir / preset / name).with_suffix(".md")
    return written
