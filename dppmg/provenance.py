"""Provenance recorded in every result file.

A result carries: the resolved config, the seed, the git sha and dirty flag of the code that
produced it (taken when the process started), the versions of the packages that matter, the device, the wall time and the peak
memory. :class:`StageTimer` measures the last two around a block of work.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = (
    "dppmg", "torch", "torch-geometric", "transformers", "diffusers", "peft", "sentence-transformers",
    "numpy", "pandas", "pillow", "scikit-learn", "papermill",
)
REPO_ROOT = Path(__file__).resolve().parent.parent


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
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0],
                            "processor": platform.machine()}
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


def provenance(config: Any, seed: int | None, timings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The provenance block of a result file."""
    return {
        "config": to_jsonable_config(config),
        "seed": seed,
        **CODE_STATE_AT_START,
        "packages": package_versions(),
        "device": device_info(),
        "timings": timings or [],
        "wall_time_s": round(sum(t.get("wall_time_s", 0.0) for t in timings or []), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
