"""How many threads a cell computes with: never more than the cores that are free.

Two busy processes that each start as many threads as the machine has cores slow each other
5-10x on a 2-core machine (measured: ``dppmg evaluate --preset smoke`` 6:11 at 2 threads beside
another job against 1:06 at 1 thread). So the harness and the CLI size torch's and OpenMP's
thread pools from the cores that are free when they start (the 1-minute load average taken off
the core count), divided among the harness's workers, unless told otherwise (``--threads``, or
``OMP_NUM_THREADS`` already set); and OpenMP threads sleep instead of spinning while they wait
(``OMP_WAIT_POLICY=PASSIVE``, set in :mod:`dppmg` before torch loads). The choice is recorded in
every result's provenance (``device``).
"""

from __future__ import annotations

import os

from dppmg.errors import ConfigError

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def free_cores() -> int:
    """Cores not busy with other work now (at least 1): the core count less the 1-minute load."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on every platform
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def requested_threads() -> int | None:
    """The threads per process that ``OMP_NUM_THREADS`` asks for, or None where it is unset."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ConfigError(f"OMP_NUM_THREADS must be a positive integer, got {text!r}")
    return threads


def default_threads(workers: int = 1) -> int:
    """Threads per cell for ``workers`` cells at once: ``OMP_NUM_THREADS`` where it is set (the
    user's word), else the free cores shared among them."""
    return requested_threads() or max(1, free_cores() // max(1, int(workers)))


def apply_threads(threads: int) -> int:
    """Use ``threads`` in this process and in what it starts (notebook kernels, workers)."""
    import torch

    threads = max(1, int(threads))
    for var in THREAD_ENV:
        os.environ[var] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(threads)
    return threads
