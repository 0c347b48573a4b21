"""Cache entries: folders that are either complete and intact, or reported and rebuilt.

Every trained artefact (a Stage 1 checkpoint, an image or text backbone, Stage 2 / Stage 3 token
embeddings, an alignment model, the preference evaluator) is one folder under the cache root. It
is written into a temporary folder, *sealed* with a ``manifest.json`` that lists each file with its
size and SHA-256 (written last), and only then swapped into place. A reader checks the manifest
before it loads anything, so a truncated ``image_tokens.pt``, a half-copied safetensors file or a
deleted ``tokens.json`` is named in one line instead of surfacing as a traceback from
``torch.load``:

* where the reader can rebuild the entry (``load or train``), it says so and rebuilds it
  (:func:`reuse`);
* where the user asked only to load (``dppmg tokens``), the error names the command that rebuilds
  it (:func:`require`).

Single-file caches (processed datasets ``.pkl``, image arrays and features ``.npy``) check
themselves by loading and are rebuilt with the same one-line report (:func:`report_rebuild`).

``dppmg cache verify`` and ``dppmg cache clear`` (:func:`scan`, :func:`clear`) are the user's view.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.io import atomic_dir, atomic_write_json

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

# stage name (``--stage``) -> the cache sub-folders it owns, and how deep its entries are.
FOLDER_STAGES: dict[str, tuple[tuple[str, int], ...]] = {
    "stage1": (("stage1", 2),),
    "image_backbone": (("image_backbone", 1),),
    "text_backbone": (("text_backbone", 1), ("backbones", 1)),
    "stage2": (("stage2", 1), ("stage2_text", 1)),
    "stage3": (("stage3", 1),),
    "alignment": (("alignment", 1),),
    "preference_evaluator": (("preference_evaluator", 1),),
    # Generations reused between cells (dppmg.generation.reuse).
    "generations": (("generations", 1),),
}
FILE_STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "data": (("processed", "*.pkl"), ("images", "*.npy")),
    "features": (("features", "*/*.npy"),),
}
STAGES = ("data", "features", *FOLDER_STAGES)


class CacheError(DPPMGError):
    """A cache entry is missing or damaged and this command does not rebuild it."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def seal(folder: str | os.PathLike, dataset: str | None = None) -> None:
    """Write ``folder``'s manifest (each file's size and SHA-256, and the dataset), atomically, last."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in _files(folder)}
    atomic_write_json(folder / MANIFEST, {"version": MANIFEST_VERSION, "dataset": dataset, "files": files})


@contextlib.contextmanager
def entry(folder: str | os.PathLike, dataset: str | None = None) -> Iterator[Path]:
    """Write a cache entry: yield a fresh temporary folder; when the block succeeds, seal it and
    swap it in for ``folder`` (a reader sees the previous entry or the complete new one)."""
    with atomic_dir(folder) as tmp:
        yield tmp
        seal(tmp, dataset)


# Entries hashed in this process, by path and the modification times of the manifest and files.
_verified: dict[tuple[str, int, tuple[int, ...]], None] = {}


def problem(folder: str | os.PathLike, deep: bool = True) -> str | None:
    """What is wrong with the entry ``folder`` (``None``: complete and intact).

    Args:
        deep: also compare each file's SHA-256 (otherwise only the file list and sizes); an entry
            verified once in this process is not hashed again unless its manifest changes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "missing"
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return f"no {MANIFEST} (its writing was interrupted, or an older version of the suite wrote it)"
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
        files = meta["files"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        return f"{MANIFEST} is unreadable"
    stamps = []
    for rel, expected in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        stat = path.stat()
        if stat.st_size != expected["size"]:
            return f"{rel} has {stat.st_size:,} bytes, its manifest says {expected['size']:,} (truncated or replaced)"
        stamps.append(stat.st_mtime_ns)
    memo = (str(folder.resolve()), manifest.stat().st_mtime_ns, tuple(stamps))
    if deep and memo in _verified:
        return None
    if deep:
        for rel, expected in files.items():
            if _sha256(folder / rel) != expected["sha256"]:
                return f"{rel} does not match its checksum (modified after it was written)"
        _verified[memo] = None
    return None


def report_rebuild(what: str, path: str | os.PathLike, why: str) -> None:
    """The one line printed when a damaged cache entry is thrown away and rebuilt."""
    print(f"dppmg: cache: {what} {path}: {why}; rebuilding it", file=sys.stderr, flush=True)


def reuse(folder: str | os.PathLike, what: str) -> bool:
    """True if the entry ``folder`` is complete and intact (load it); False if it is absent or was
    damaged, in which case it is reported in one line and removed (build it)."""
    folder = Path(folder)
    if not folder.exists():
        return False
    why = problem(folder)
    if why is None:
        return True
    report_rebuild(what, folder, why)
    shutil.rmtree(folder, ignore_errors=True)
    return False


_locks: dict[str, "filelock.FileLock"] = {}


@contextlib.contextmanager
def lock(folder: str | os.PathLike, what: str = "cache entry") -> Iterator[None]:
    """Hold the build lock of the entry ``folder`` (the file ``<folder>.lock``) for the block.

    Processes that share a cache (the harness's process pool, submitit jobs on a cluster, two
    terminals) take it around "load it, or build it and write it": the first builds, the others
    wait and then load the sealed entry, so nothing is computed twice or written half. Re-entrant
    within a process; released if the process dies. Locks nest only from an entry to the entries it
    is built from, never back, so they cannot deadlock.
    """
    import filelock

    path = Path(folder)
    key = str(path.resolve())
    held = _locks.get(key)
    if held is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        held = _locks[key] = filelock.FileLock(str(path.with_name(path.name + ".lock")))
    if not held.is_locked:
        try:
            held.acquire(timeout=0)
        except filelock.Timeout:
            print(f"dppmg: cache: waiting for {what} {path} (another process is building it)",
                  file=sys.stderr, flush=True)
            held.acquire()
    else:
        held.acquire()
    try:
        yield
    finally:
        held.release()


def require(folder: str | os.PathLike, what: str, rebuild: str) -> Path:
    """Check an entry this command only loads; raise :class:`CacheError` naming the command that
    (re)builds it if it is absent or damaged."""
    folder = Path(folder)
    why = problem(folder)
    if why == "missing":
        raise CacheError(f"no {what} at {folder}: run `{rebuild}` first")
    if why is not None:
        raise CacheError(f"{what} {folder}: {why}; rebuild it with `{rebuild}` "
                         f"(or `dppmg cache clear` it and rerun)")
    return folder


# ----- the user's view: verify and clear -----------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry found by :func:`scan`: its stage, dataset (when known), path, size and state."""

    stage: str
    dataset: str | None
    path: Path
    bytes: int
    problem: str | None


def _dataset_of(path: Path, sub: str, depth: int, datasets: Sequence[str]) -> str | None:
    if depth == 2:
        return path.parent.name
    if (path / MANIFEST).is_file():
        with contextlib.suppress(json.JSONDecodeError, OSError, UnicodeDecodeError):
            dataset = json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("dataset")
            if dataset:
                return dataset
    if sub == "features":
        return path.parent.name
    # Every other entry's name starts with its dataset, except the text backbones'.
    return None if sub in ("text_backbone", "backbones") else _name_dataset(path.name, datasets)


def _name_dataset(name: str, datasets: Sequence[str]) -> str | None:
    matches = [d for d in datasets if name.startswith(f"{d}-")]
    return max(matches, key=len) if matches else None


def _file_problem(path: Path) -> str | None:
    try:
        if path.suffix == ".npy":
            np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with open(path, "rb") as fh:
                pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - any failure to load is what verify reports
        return f"unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def scan(cache_root: str | os.PathLike, stages: tuple[str, ...] = STAGES, dataset: str | None = None,
         check: bool = True, datasets: Sequence[str] = ()) -> list[CacheEntry]:
    """Every cache entry of ``stages`` (optionally of one ``dataset``) under ``cache_root``; with
    ``check``, each one is verified (folders against their manifest, files by loading them).
    ``datasets``: the dataset names an entry's name may start with (the caller's
    :data:`dppmg.data.config.DATASETS`; infrastructure does not import the data package)."""
    datasets = tuple(datasets) + ((dataset,) if dataset and dataset not in datasets else ())
    root = Path(cache_root)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ConfigError(f"unknown cache stage(s) {unknown}; choose from {list(STAGES)}")
    out: list[CacheEntry] = []
    for stage in stages:
        for sub, depth in FOLDER_STAGES.get(stage, ()):
            pattern = "/".join(["*"] * depth)
            for path in sorted((root / sub).glob(pattern)):
                if not path.is_dir() or path.name.endswith((".tmp", ".old")):
                    continue
                ds = _dataset_of(path, sub, depth, datasets)
                if dataset is None or ds == dataset:
                    out.append(CacheEntry(stage, ds, path, _size(path), problem(path) if check else None))
        for sub, pattern in FILE_STAGES.get(stage, ()):
            for path in sorted((root / sub).glob(pattern)):
                ds = path.parent.name if sub == "features" else _name_dataset(path.name, datasets)
                if dataset is None or ds == dataset:
                    out.append(CacheEntry(stage, ds, path, _size(path), _file_problem(path) if check else None))
    return out


def clear(cache_root: str | os.PathLike, stages: tuple[str, ...] = STAGES, dataset: str | None = None,
          only_damaged: bool = False, datasets: Sequence[str] = ()) -> list[CacheEntry]:
    """Remove the entries :func:`scan` finds (only the damaged ones with ``only_damaged``); returns them."""
    removed = []
    for item in scan(cache_root, stages, dataset, check=only_damaged, datasets=datasets):
        if only_damaged and item.problem is None:
            continue
        if item.path.is_dir():
            shutil.rmtree(item.path)
            # Its build lock goes with it (a process building the entry again makes a new one).
            item.path.with_name(item.path.name + ".lock").unlink(missing_ok=True)
        else:
            item.path.unlink()
            sidecar = item.path.with_suffix(".json")
            if item.stage == "features" and sidecar.is_file():
                sidecar.unlink()
        removed.append(item)
    return removed
