"""Provenance recorded in every result file.

A result carries: the resolved config, the seed, the git sha and dirty flag of the code that
produced it (taken when the process started), the versions of the packages that matter, the device, the wall time and the peak
memory. :class:`StageTimer` measures the last two around a block of work.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = (
    "dppmg", "torch", "transformers", "diffusers", "peft", "sentence-transformers",
    "numpy", "pandas", "pillow", "scikit-learn", "papermill",
)
REPO_ROOT = Path(__file__).resolve().parents[2]  # dppmg/infra/provenance.py -> the checkout
# The thread settings a result records (dppmg.infra.threads sets them for every cell).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


# The suite writes its tables and figures into tracked files under results/ while it runs: those
# outputs do not make the code that produced a result differ from its commit.
OUTPUT_DIRS = ("results",)


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """Git sha and dirty flag of ``repo``; ``None`` values outside a checkout (e.g. a wheel install).

    Dirty means a tracked file outside the suite's outputs (``OUTPUT_DIRS``) differs from the commit.
    """
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 *(f":(exclude){d}" for d in OUTPUT_DIRS)], cwd=repo,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"git_sha": sha, "git_dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}


# The code a process runs is the code it imported at its start: a long run must not take the sha or
# the dirty flag of commits and edits made while it ran (a result written hours later would name
# code it never ran).
CODE_STATE_AT_START: dict[str, Any] = git_state()


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info() -> dict[str, Any]:
    """The machine and how this process used it: cores, the torch / OpenMP thread settings and the
    load average at the time (a timing taken beside another busy process says so)."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0],
                            "processor": platform.machine(), "cpu_count": os.cpu_count(),
                            "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
                            **{var: os.environ.get(var) for var in THREAD_VARIABLES}}
    if "torch" in sys.modules:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    else:
        info["device"] = "cpu"
    return info


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def to_jsonable_config(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


class StageTimer:
    """Context manager measuring wall time and peak memory of a stage.

    Peak RSS is the process maximum since start (the OS does not reset it), reported together with
    the increase during the stage; on CUDA the stage's own peak allocation is reported too.
    """

    def __init__(self, name: str):
        self.name = name
        self.record: dict[str, Any] = {}

    def __enter__(self) -> "StageTimer":
        self._rss_before = peak_rss_mb()
        self._t0 = time.perf_counter()
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._t0
        peak = peak_rss_mb()
        self.record = {"stage": self.name, "wall_time_s": round(wall, 4), "peak_rss_mb": round(peak, 1),
                       "peak_rss_increase_mb": round(max(0.0, peak - self._rss_before), 1)}
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                self.record["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)


class PartClock:
    """Seconds spent in named parts of a timed block (text and image sampling inside
    ``generate``), added up by the code that does the work without knowing which block it runs in
    (:func:`add_part_time`). The parts become records nested in that block (:meth:`records`): the
    plan's per-block cost model reads them (:mod:`benchmark.plan`)."""

    _active: list["PartClock"] = []

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, float]] = {}

    def __enter__(self) -> "PartClock":
        PartClock._active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        PartClock._active.remove(self)

    def add(self, name: str, seconds: float, items: int) -> None:
        part = self.parts.setdefault(name, {"seconds": 0.0, "items": 0})
        part["seconds"] += seconds
        part["items"] += items

    def records(self, parent: str) -> list[dict[str, Any]]:
        return [{"stage": f"{parent}: {name}", "wall_time_s": round(p["seconds"], 4), "items": int(p["items"]),
                 "peak_rss_mb": round(peak_rss_mb(), 1), "within": parent} for name, p in self.parts.items()]


def add_part_time(name: str, seconds: float, items: int) -> None:
    """Count ``seconds`` spent making ``items`` outputs of part ``name`` in every open :class:`PartClock`."""
    for clock in PartClock._active:
        clock.add(name, seconds, items)


def nested(records: list[dict[str, Any]], parent: str) -> list[dict[str, Any]]:
    """``records`` marked as measured inside the block ``parent`` (``"within"``): a timing profile
    shows them as the parts of that block, and the wall time does not count them twice."""
    return [{**r, "within": parent} for r in records]


def top_level_wall_time(timings: list[dict[str, Any]]) -> float:
    """Seconds of the blocks that are not inside another block, so each second is counted once.

    A record with ``"within"`` is inside the block it names. Result files written before that key
    existed nest the same way without saying so: an evaluation's Stage 1-3 blocks were listed
    before its ``fit`` block, which contains them; those are left out too.
    """
    if not any("within" in t for t in timings):
        names = [t.get("stage") for t in timings]
        if "fit" in names:
            timings = timings[names.index("fit"):]
    return sum(float(t.get("wall_time_s", 0.0)) for t in timings if "within" not in t)


def provenance(config: Any, seed: int | None, timings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The provenance block of a result file: ``wall_time_s`` adds up the top-level blocks only
    (:func:`top_level_wall_time`)."""
    return {
        "config": to_jsonable_config(config),
        "seed": seed,
        **CODE_STATE_AT_START,
        "packages": package_versions(),
        "device": device_info(),
        "timings": timings or [],
        "wall_time_s": round(top_level_wall_time(timings or []), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
