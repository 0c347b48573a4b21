"""Golden metrics and the regression check (detectron2-style expected results).

    python -m benchmark goldens --preset smoke --update     # write results/goldens/smoke.csv on purpose
    python -m benchmark goldens --preset small --update --suite preference --from-existing  # from the runs on disk
    python -m benchmark check --preset smoke                # compare a fresh run with it; exit 1 on regression

A golden is a row (dataset, method, metric, value, tolerance). ``--update`` runs the suite for the
preset's golden seeds, takes each headline metric's value at the check seed (seed 0) and its
tolerance from the spread over the seeds,

    tolerance = max(K * std over seeds, FLOORS[metric]),

and 0 for counts (the dataset sizes), which are bit-stable. Next to the CSV, ``<preset>.json``
records the git sha, the environment and the constants the goldens came from; a golden file of
another preset or result schema is an error, never a silent pass.

``check`` runs the preset's suite for the check seed (or reuses the results the same clean commit
just produced), compares every golden with its metric and writes ``results/<preset>/check.md``:
a metric outside its tolerance, a metric that disappeared, or a golden without a result fails.
Both run single-threaded (``torch.set_num_threads(1)`` and ``OMP_NUM_THREADS=1``): multithreaded
CPU sums vary in their last bits between runs, which training then amplifies.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from benchmark.suites import SUITES
from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.io import atomic_write_json, atomic_write_text
from dppmg.infra.provenance import device_info, git_state, package_versions
from dppmg.infra.results import SCHEMA

GOLDENS_SCHEMA = "dppmg.goldens/v1"
GOLDEN_SUITE = "goldens"
CHECK_SEED = 0
GOLDEN_SEEDS = {"smoke": (0, 1, 2), "small": (0, 1, 2), "paper": (0, 1, 2)}
K = 3.0
# The smallest tolerance of each metric: what two seeds of the same code differ by at the very
# least, so that a metric that happens to be equal on the golden seeds is not frozen to its bits.
FLOORS = {"recall@20": 0.005, "ndcg@20": 0.005, "valid recall@20": 0.005, "quantized recall@20": 0.005,
          "statistic": 0.002, "auc": 0.02, "consistency": 0.005, "kid": 0.002, "distinct-2": 0.01,
          "accuracy": 0.05, "count": 0.0}
COLUMNS = ("dataset", "method", "metric", "value", "tolerance")


def _floor(metric: str) -> float:
    for suffix, floor in FLOORS.items():
        if metric.endswith(suffix):
            return floor
    raise DPPMGError(f"no tolerance floor for metric {metric!r}; add one to benchmark.goldens.FLOORS")


def headline_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The metrics a result file contributes to the goldens, by name."""
    m, stage = result["metrics"], result["stage"]
    out: dict[str, float] = {}
    if stage == "dataset_stats":
        out = {"users count": m["users"], "items count": m["items"], "interactions count": m["interactions"]}
    elif stage == "preference":
        out = {"test recall@20": m["test"]["recall@20"], "test ndcg@20": m["test"]["ndcg@20"],
               "valid recall@20": m["valid"]["recall@20"]}
        if "quantized_test" in m:
            out["test quantized recall@20"] = m["quantized_test"]["recall@20"]
    elif stage == "evaluation" and m.get("split", "test") == "test":
        for modality in ("image", "text"):
            for view in ("targets", "history", "evaluator"):
                test = m["personalization"][modality][view]
                if "statistic" in test:
                    out[f"{modality} personalization {view} statistic"] = test["statistic"]
                    out[f"{modality} personalization {view} auc"] = test["auc"]
        out["evaluator consistency"] = m["consistency"]["evaluator"]["mean"]
        out["reward-model consistency"] = m["consistency"]["reward_model"]["mean"]
        out["kid"] = m["quality"]["kid"]["mean"]
        out["distinct-2"] = m["diversity"]["distinct_2"]
        if "ground_truth" in m:
            out["true colour accuracy"] = m["ground_truth"]["image_colour"]["mean"]
            out["true style accuracy"] = m["ground_truth"]["text_style"]["mean"]
            if "divergent_text_style" in m["ground_truth"]:
                out["divergent-user true colour accuracy"] = m["ground_truth"]["divergent_image_colour"]["mean"]
                out["divergent-user true style accuracy"] = m["ground_truth"]["divergent_text_style"]["mean"]
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def collect(results: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[int, float]]:
    """``{(dataset, method, metric): {seed: value}}`` over result files."""
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    for r in results:
        for metric, value in headline_metrics(r).items():
            out.setdefault((r["dataset"], r["method"], metric), {})[r["seed"]] = value
    return out


def golden_rows(results: list[dict[str, Any]], check_seed: int = CHECK_SEED) -> pd.DataFrame:
    rows = []
    for (dataset, method, metric), by_seed in sorted(collect(results).items()):
        if check_seed not in by_seed:
            continue
        values = np.array(list(by_seed.values()))
        spread = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        tolerance = 0.0 if metric.endswith("count") else max(K * spread, _floor(metric))
        rows.append({"dataset": dataset, "method": method, "metric": metric, "value": by_seed[check_seed],
                     "tolerance": round(tolerance, 6)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def golden_paths(preset: str, goldens_dir: str | os.PathLike) -> tuple[Path, Path]:
    folder = Path(goldens_dir)
    return folder / f"{preset}.csv", folder / f"{preset}.json"


def write_goldens(rows: pd.DataFrame, preset: str, goldens_dir: str | os.PathLike, seeds: tuple[int, ...],
                  suite: str = GOLDEN_SUITE, results: list[dict[str, Any]] | None = None) -> Path:
    from benchmark.outputs import result_commits

    csv, meta = golden_paths(preset, goldens_dir)
    atomic_write_text(csv, rows.to_csv(index=False))  # full precision: a rerun compares bit for bit
    atomic_write_json(meta, {"schema": GOLDENS_SCHEMA, "result_schema": SCHEMA, "preset": preset,
                             "suite": suite, "results_computed_at": result_commits(results or []),
                             "seeds": list(seeds), "check_seed": CHECK_SEED, "k": K,
                             "floors": FLOORS, **git_state(), "packages": package_versions(),
                             "device": device_info(), "threads": 1,
                             "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    return csv


def read_goldens(preset: str, goldens_dir: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The goldens of ``preset``; a clear error when missing, of another preset or of an older schema."""
    csv, meta_file = golden_paths(preset, goldens_dir)
    update = f"`python -m benchmark goldens --preset {preset} --update`"
    if not csv.is_file() or not meta_file.is_file():
        raise DPPMGError(f"no goldens for preset {preset!r} under {Path(goldens_dir)}: write them with {update}")
    meta = json.loads(meta_file.read_text())
    if meta.get("schema") != GOLDENS_SCHEMA or meta.get("result_schema") != SCHEMA:
        raise DPPMGError(f"{meta_file}: goldens of schema {meta.get('schema')!r} / results {meta.get('result_schema')!r}, "
                         f"this suite writes {GOLDENS_SCHEMA!r} / {SCHEMA!r}: stale goldens, regenerate with {update}")
    if meta.get("preset") != preset:
        raise DPPMGError(f"{meta_file}: goldens of preset {meta.get('preset')!r}, not {preset!r}")
    rows = pd.read_csv(csv, dtype={"dataset": str, "method": str, "metric": str})
    if list(rows.columns) != list(COLUMNS):
        raise DPPMGError(f"{csv}: columns {list(rows.columns)} are not {list(COLUMNS)}")
    return rows, meta


def compare(goldens: pd.DataFrame, results: list[dict[str, Any]], check_seed: int = CHECK_SEED) -> pd.DataFrame:
    """One row per golden and per metric without a golden: golden, now, tolerance and a status
    (``ok``, ``REGRESSION``, ``MISSING`` for a golden without a result, ``NEW`` for a metric
    without a golden, which does not fail)."""
    now = {key: by_seed[check_seed] for key, by_seed in collect(results).items() if check_seed in by_seed}
    rows, seen = [], set()
    for g in goldens.itertuples(index=False):
        key = (g.dataset, g.method, g.metric)
        seen.add(key)
        value = now.get(key)
        if value is None:
            status = "MISSING"
        else:
            status = "ok" if abs(value - g.value) <= g.tolerance + 1e-12 else "REGRESSION"
        rows.append({"dataset": g.dataset, "method": g.method, "metric": g.metric, "golden": g.value,
                     "now": value, "difference": None if value is None else value - g.value,
                     "tolerance": g.tolerance, "status": status})
    for key, value in sorted(now.items()):
        if key not in seen:
            rows.append({"dataset": key[0], "method": key[1], "metric": key[2], "golden": None, "now": value,
                         "difference": None, "tolerance": None, "status": "NEW"})
    return pd.DataFrame(rows)


def single_threaded() -> None:
    """Bit-stable runs: one thread here and in every kernel the harness starts."""
    import torch

    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


STAGES = ("dataset_stats", "preference", "evaluation")


def metric_stage(metric: str) -> str:
    """The suite stage whose result file holds a golden ``metric``."""
    if metric.endswith(" count"):
        return "dataset_stats"
    if metric.startswith(("test recall", "test ndcg", "valid recall", "test quantized")):
        return "preference"
    return "evaluation"


def _selected(datasets: list[str] | None, methods: list[str] | None, stages: tuple[str, ...]
              ) -> Callable[[str, str, str], bool]:
    def keep(dataset: str, method: str, stage: str) -> bool:
        return ((datasets is None or dataset in datasets) and (methods is None or method in (*methods, "-"))
                and stage in stages)
    return keep


def suite_results(preset: str, seeds: tuple[int, ...], results_dir: Path, data_root: str | None,
                  log: Callable[[str], None], keep: str, *, suite: str = GOLDEN_SUITE,
                  datasets: list[str] | None = None, methods: list[str] | None = None) -> list[dict[str, Any]]:
    """The results of ``suite`` (the golden suite or a part of it) for ``seeds`` under
    ``results_dir``, run single-threaded and inline.

    ``keep="commit"`` reuses every existing result only if all came from this clean commit (else
    everything runs again); ``keep="any"`` keeps every valid existing result and runs the missing
    ones (the harness's ``--resume``), as a ``small`` update from hours of runs needs.
    """
    from benchmark.harness import run_suite
    from benchmark.outputs import runs_on_disk

    selected = _selected(datasets, methods, tuple(s.name for s in SUITES[suite]))

    def existing() -> list[dict[str, Any]]:
        return [r for s in STAGES for r in runs_on_disk(results_dir, preset, s, log)
                if r["seed"] in seeds and selected(r["dataset"], r["method"], s)]

    head, found = git_state(), existing()
    same_commit = bool(found and head["git_sha"] and not head["git_dirty"] and all(
        r["provenance"]["git_sha"] == head["git_sha"] and not r["provenance"]["git_dirty"] for r in found))
    if keep == "commit" and same_commit:
        log(f"reusing {len(found)} result(s) of this commit ({head['git_sha'][:10]}) under {results_dir}")
        return found
    single_threaded()
    run_suite(suite, preset, seeds=list(seeds), datasets=datasets, methods=methods, data_root=data_root,
              results_dir=results_dir, runner="inline", threads=1, progress=False, resume=keep == "any",
              log=log)
    return existing()


def check(preset: str, *, results_dir: str | os.PathLike = "results", goldens_dir: str | os.PathLike = "results/goldens",
          data_root: str | None = None, suite: str = GOLDEN_SUITE, datasets: list[str] | None = None,
          methods: list[str] | None = None, seeds: list[int] | None = None,
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> tuple[int, pd.DataFrame]:
    """Run (or reuse this commit's) check-seed suite and compare it with the goldens; returns
    (exit code, table). ``suite``, ``datasets`` and ``methods`` check a part: only the goldens of
    that part are compared (the rest is neither run nor reported missing). ``seeds``, if given,
    must be the goldens' check seed: their values were taken at it."""
    goldens, meta = read_goldens(preset, goldens_dir)
    if seeds is not None and sorted(set(seeds)) != [meta["check_seed"]]:
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))}: the {preset} goldens are checked at seed "
                          f"{meta['check_seed']} only (the seed their values were taken at; the other seeds "
                          "give the tolerances)")
    if suite not in SUITES or not {s.name for s in SUITES[suite]} & set(STAGES):
        raise DPPMGError(f"suite {suite!r} holds no golden stage; the goldens come from "
                         f"{', '.join(STAGES)} (suite {GOLDEN_SUITE!r})")
    selected = _selected(datasets, methods, tuple(s.name for s in SUITES[suite]))
    goldens = goldens[[selected(g.dataset, g.method, metric_stage(g.metric)) for g in goldens.itertuples()]]
    results = suite_results(preset, (meta["check_seed"],), Path(results_dir).resolve(), data_root, log, "commit",
                            suite=suite, datasets=datasets, methods=methods)
    table = compare(goldens, results, meta["check_seed"])
    failed = table[table["status"].isin(["REGRESSION", "MISSING"])]
    body = table.to_markdown(index=False, floatfmt=".6g") if len(table) else "_(no rows)_"
    verdict = (f"**{len(failed)} of {len(goldens)} goldens failed.**" if len(failed)
               else f"All {len(goldens)} goldens pass.")
    atomic_write_text(Path(results_dir) / preset / "check.md",
                      f"# check ({preset})\n\n_Generated by `python -m benchmark check --preset {preset}` against "
                      f"goldens of {str(meta.get('git_sha'))[:10]}. Do not edit by hand._\n\n{verdict}\n\n{body}\n")
    return (1 if len(failed) else 0), table


def update(preset: str, *, results_dir: str | os.PathLike = "results", goldens_dir: str | os.PathLike = "results/goldens",
           data_root: str | None = None, suite: str = GOLDEN_SUITE, from_existing: bool = False,
           log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> Path:
    """Write the goldens of ``preset`` from its golden seeds' results of ``suite`` (missing ones are
    run). ``from_existing`` runs nothing: the goldens come from the result files already on disk,
    for the (dataset, method, stage) groups that have every seed their stage runs (the others are
    named and left out), as a ``small`` preset whose full suite takes longer than a sitting needs."""
    if suite not in SUITES or not {s.name for s in SUITES[suite]} & set(STAGES):
        raise DPPMGError(f"suite {suite!r} holds no golden stage; the goldens come from {', '.join(STAGES)}")
    seeds = GOLDEN_SEEDS[preset]
    if from_existing:
        results = existing_complete(preset, seeds, Path(results_dir).resolve(), suite, log)
        if not results:
            raise DPPMGError(f"no complete {preset} results of suite {suite!r} under {Path(results_dir).resolve()}"
                             f"/runs/{preset}: run them first (python -m benchmark run --suite {suite} --preset {preset})")
    else:
        results = suite_results(preset, seeds, Path(results_dir).resolve(), data_root, log, "any", suite=suite)
    return write_goldens(golden_rows(results), preset, goldens_dir, seeds, suite=suite, results=results)


def existing_complete(preset: str, seeds: tuple[int, ...], results_dir: Path, suite: str,
                      log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The result files of ``suite`` on disk whose (dataset, method, stage) group has every seed
    its stage runs at ``preset`` among ``seeds``; the incomplete groups are logged."""
    from benchmark.outputs import runs_on_disk

    out = []
    for stage in SUITES[suite]:
        if stage.name not in STAGES:
            continue
        wanted = set(stage.seeds_for(preset)) & set(seeds)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in runs_on_disk(results_dir, preset, stage.name, log):
            if r["seed"] in wanted:
                groups.setdefault((r["dataset"], r["method"]), []).append(r)
        for (dataset, method), runs in sorted(groups.items()):
            have = {r["seed"] for r in runs}
            if have == wanted:
                out += runs
            else:
                log(f"[goldens] {stage.name} {dataset} {method}: seeds {sorted(have)} of {sorted(wanted)}; left out")
    return out
