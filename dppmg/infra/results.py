"""The result-file format shared by every stage, method and the benchmark harness.

A result JSON is::

    {
      "schema": "dppmg.result/v2",
      "stage": "dataset_stats",          # which stage produced it
      "dataset": "movielens", "method": "-", "preset": "small", "seed": 0,
      "metrics": {...},                  # stage-specific numbers (computed, never typed)
      "provenance": {config, seed, git_sha, git_dirty, packages, device, timings, wall_time_s, peak_rss_mb}
    }
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dppmg.errors import DPPMGError
from dppmg.infra.io import atomic_write_json
from dppmg.infra.provenance import provenance, top_level_wall_time

# v2: evaluation protocol v2 (user identification, KID, the preference evaluator, validation runs).
SCHEMA = "dppmg.result/v2"
REQUIRED_KEYS = ("schema", "stage", "dataset", "method", "preset", "seed", "metrics", "provenance")


def make_result(stage: str, dataset: str, method: str, preset: str, seed: int, metrics: dict[str, Any],
                config: Any, timings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "stage": stage, "dataset": dataset, "method": method, "preset": preset,
            "seed": seed, "metrics": metrics, "provenance": provenance(config, seed, timings)}


def write_result(path: str | os.PathLike, result: dict[str, Any]) -> Path:
    validate_result(result, source=str(path))
    atomic_write_json(path, result)
    return Path(path)


def validate_result(result: Any, source: str = "<result>", *, stage: str | None = None,
                    dataset: str | None = None) -> dict[str, Any]:
    """Check a result dict's schema (and optionally its stage and dataset); raise naming ``source``."""
    if not isinstance(result, dict):
        raise DPPMGError(f"{source}: a result must be a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in result]
    if missing:
        raise DPPMGError(f"{source}: result lacks keys {missing}")
    if result["schema"] != SCHEMA:
        raise DPPMGError(f"{source}: schema {result['schema']!r} is not {SCHEMA!r} (older or newer suite)")
    if stage is not None and result["stage"] != stage:
        raise DPPMGError(f"{source}: result of stage {result['stage']!r}, expected {stage!r}")
    if dataset is not None and result["dataset"] != dataset:
        raise DPPMGError(f"{source}: result for dataset {result['dataset']!r}, expected {dataset!r}")
    for key in ("config", "seed", "git_sha", "git_dirty", "packages", "device", "wall_time_s", "peak_rss_mb"):
        if key not in result["provenance"]:
            raise DPPMGError(f"{source}: provenance lacks {key!r}")
    return result


def read_result(path: str | os.PathLike, **expect: str) -> dict[str, Any]:
    path = Path(path)
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DPPMGError(f"{path}: unreadable result file ({exc})") from exc
    return validate_result(result, source=str(path), **expect)


def read_result_summary(path: str | os.PathLike) -> dict[str, Any] | None:
    """``stage``, ``dataset``, ``method``, ``seed``, ``threads`` (torch's, where recorded),
    ``wall_time_s`` (each second counted once, also
    for files written when nested blocks were added up: :func:`~dppmg.infra.provenance.top_level_wall_time`)
    and ``timings`` of a result file, or None where it is unreadable or of another schema (the
    plan's estimates skip such files)."""
    try:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        if result.get("schema") != SCHEMA:
            return None
        return {"stage": result["stage"], "dataset": result["dataset"], "method": result["method"],
                "seed": result["seed"], "timings": list(result["provenance"].get("timings", [])),
                "threads": (result["provenance"].get("device") or {}).get("torch_threads"),
                "wall_time_s": float(top_level_wall_time(result["provenance"]["timings"])
                                     if result["provenance"].get("timings") else result["provenance"]["wall_time_s"])}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
