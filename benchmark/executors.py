"""Where a suite's cells run: in this process, in a local process pool, or as submitit jobs.

A *cell* is one (stage, dataset, method, seed) of a suite; it writes one result JSON. Cells of a
stage are independent except for the cache entries they share (the image and text backbones, the
Stage 1 model and the Stage 2 pipeline of a dataset and seed): those are built once under a file
lock (:func:`dppmg.infra.cache.lock`) — the first cell builds the entry, the others wait for it and load
it — so cells may run in any order and in parallel. Stages run one after the other (a later stage
reads what the earlier wrote).

Executors (``python -m benchmark run --executor NAME``):

* ``local`` — one cell after the other in this process (the default);
* ``pool`` — ``--workers N`` local processes, a fresh one per cell;
* ``submitit`` — each cell a job through `submitit <https://github.com/facebookincubator/submitit>`_:
  a SLURM job on a cluster (``--cluster slurm``), or a local subprocess (``--cluster local``,
  which is what the tests run). At most ``--workers`` jobs are in flight at once.

A cell that fails (an exception, or a job that died) is reported with its log file and the run
goes on with the others; the tables say which cells are missing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from benchmark.suites import Stage
from dppmg.errors import ConfigError
from dppmg.infra.threads import apply_threads

EXECUTORS = ("local", "pool", "submitit")
# Asked before a cell starts: False leaves it out of this run (a budget that it would overrun).
Admit = Callable[["Cell"], bool]
RUNNERS = ("notebook", "inline")


@dataclass(frozen=True)
class Cell:
    """One (stage, dataset, method, seed) of a suite and where its outputs go.

    Args:
        stage: the harness stage.
        params: the notebook / stage-function parameters (dataset, preset, seed, method, ...).
        base: the output path without suffix (``.json`` result, ``.ipynb`` notebook, ``.log``).
    """

    stage: Stage
    params: dict[str, Any] = field(hash=False)
    base: Path

    @property
    def label(self) -> str:
        p = self.params
        return f"[{self.stage.name}] {p['dataset']} {p['method']} seed {p['seed']}"

    @property
    def out_json(self) -> Path:
        return self.base.with_suffix(".json")

    @property
    def log_path(self) -> Path:
        return self.base.with_suffix(".log")


@dataclass
class Outcome:
    """What became of a cell: ``error`` is ``None`` when its result JSON was written."""

    cell: Cell
    seconds: float
    error: str | None = None
    log: Path | None = None


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors too: kernels, C extensions) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", encoding="utf-8") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


NOTEBOOK_DIR = Path(__file__).resolve().parent / "notebooks"


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


def run_cell(cell: Cell, runner: str = "notebook", kernel_name: str = "python3", threads: int | None = None,
             log_to_file: bool = False) -> str:
    """Run one cell wherever the executor put it; return its result JSON path.

    Args:
        runner: ``notebook`` (its papermill notebook, kept beside the result) or ``inline`` (the
            notebook's stage function in this process).
        threads: torch / OpenMP threads for the cell (``None``: the library default).
        log_to_file: write the cell's output to ``<base>.log`` (pool and submitit workers).
    """
    if threads is not None:
        apply_threads(threads)  # a notebook kernel inherits the environment it sets
    with _output_to(cell.log_path) if log_to_file else contextlib.nullcontext():
        execute_stage(cell.stage, cell.params, cell.base.with_suffix(".ipynb"), kernel_name, runner)
    return str(cell.out_json)


def _run_in_worker(cell: Cell, runner: str, kernel_name: str, threads: int | None) -> str:
    try:
        return run_cell(cell, runner, kernel_name, threads, log_to_file=True)
    except BaseException:
        # The traceback goes to the cell's log; the parent gets a short, picklable error.
        with open(cell.log_path, "a", encoding="utf-8") as fh:
            traceback.print_exc(file=fh)
        raise


class LocalExecutor:
    """Every cell in this process, one after the other."""

    name = "local"
    workers = 1

    def run(self, cells: list[Cell], runner: str, kernel_name: str, threads: int | None,
            admit: Admit | None = None) -> Iterator[Outcome]:
        for cell in cells:
            if admit is not None and not admit(cell):
                continue
            t0 = time.perf_counter()
            try:
                run_cell(cell, runner, kernel_name, threads)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - reported, and the run goes on
                traceback.print_exc()
                yield Outcome(cell, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
                continue
            yield Outcome(cell, time.perf_counter() - t0)


class PoolExecutor:
    """``workers`` local processes (spawned, a fresh one per cell, so no state leaks between cells)."""

    name = "pool"

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, cells: list[Cell], runner: str, kernel_name: str, threads: int | None,
            admit: Admit | None = None) -> Iterator[Outcome]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        context = multiprocessing.get_context("spawn")
        pending = list(cells)
        with ProcessPoolExecutor(self.workers, mp_context=context, max_tasks_per_child=1) as pool:
            running: dict[Any, tuple[Cell, float]] = {}
            try:
                while pending or running:
                    # A cell is submitted when a worker is free, so a budget sees the time left then.
                    while pending and len(running) < self.workers:
                        cell = pending.pop(0)
                        if admit is None or admit(cell):
                            running[pool.submit(_run_in_worker, cell, runner, kernel_name, threads)] = (
                                cell, time.perf_counter())
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        cell, t0 = running.pop(future)
                        exc = future.exception()
                        error = None if exc is None else f"{type(exc).__name__}: {exc}"
                        yield Outcome(cell, time.perf_counter() - t0, error, cell.log_path)
            except KeyboardInterrupt:
                for future in running:
                    future.cancel()
                raise


class SubmititExecutor:
    """Each cell a submitit job (SLURM, or local subprocesses); at most ``workers`` in flight.

    Args:
        folder: where submitit keeps each job's pickles and logs.
        cluster: ``slurm``, ``local`` or ``None`` (SLURM where ``sbatch`` exists, else local).
        parameters: submitit job parameters, e.g. ``timeout_min``, ``cpus_per_task``, ``mem_gb``,
            ``slurm_partition`` (the ``slurm_`` ones are ignored by the local cluster).
    """

    name = "submitit"

    def __init__(self, workers: int, folder: str | os.PathLike, cluster: str | None = None,
                 parameters: dict[str, Any] | None = None):
        try:
            import submitit
        except ImportError as exc:
            raise ConfigError("the submitit executor needs the submitit package: "
                              "pip install 'dppmg[cluster]' (or pip install submitit)") from exc
        self.workers = workers
        self._submitit, self._folder, self._cluster = submitit, folder, cluster
        self._parameters = {"timeout_min": 24 * 60, "name": "dppmg-cell", **(parameters or {})}
        self._executor = None

    @property
    def executor(self):
        """submitit's executor, made on first use: it creates its job folder, which a dry run must not."""
        if self._executor is None:
            self._executor = self._submitit.AutoExecutor(folder=str(self._folder), cluster=self._cluster)
            self._executor.update_parameters(**self._parameters)
        return self._executor

    def run(self, cells: list[Cell], runner: str, kernel_name: str, threads: int | None,
            admit: Admit | None = None) -> Iterator[Outcome]:
        pending = list(cells)
        running: dict[Any, tuple[Cell, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    cell = pending.pop(0)
                    if admit is not None and not admit(cell):
                        continue
                    running[self.executor.submit(_run_in_worker, cell, runner, kernel_name, threads)] = (
                        cell, time.perf_counter())
                done = [job for job in running if job.done()]
                if not done:
                    time.sleep(0.5)
                    continue
                for job in done:
                    cell, t0 = running.pop(job)
                    error = None
                    try:
                        job.result()
                    except Exception as exc:  # noqa: BLE001 - a failed or dead job is reported, the run goes on
                        error = f"job {job.job_id} failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}"
                    log = cell.log_path if cell.log_path.is_file() else Path(job.paths.stderr)
                    yield Outcome(cell, time.perf_counter() - t0, error, log)
        except KeyboardInterrupt:
            for job in running:
                with contextlib.suppress(Exception):
                    job.cancel()
            raise


def make_executor(name: str, *, workers: int = 1, folder: str | os.PathLike | None = None,
                  cluster: str | None = None, parameters: dict[str, Any] | None = None):
    """The executor called ``name`` (one of :data:`EXECUTORS`)."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
    if int(workers) < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if name == "local":
        return LocalExecutor()
    if name == "pool":
        return PoolExecutor(int(workers))
    if cluster not in (None, "auto", "local", "slurm"):
        raise ConfigError(f"unknown cluster {cluster!r}; expected auto, local or slurm")
    return SubmititExecutor(int(workers), folder or "submitit", None if cluster in (None, "auto") else cluster,
                            parameters)
