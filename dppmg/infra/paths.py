"""Where data and caches live.

The data root is resolved the same way by every command: an explicit ``--data-root`` argument,
else the ``DPPMG_DATA_DIR`` environment variable, else none (only the built-in synthetic world is
available). Caches go under ``DPPMG_CACHE_DIR`` (default ``~/.cache/dppmg``).
"""

from __future__ import annotations

import os
from pathlib import Path

from dppmg.errors import ConfigError

DATA_DIR_ENV = "DPPMG_DATA_DIR"
CACHE_DIR_ENV = "DPPMG_CACHE_DIR"


def resolve_data_root(data_root: str | os.PathLike | None = None, *, required: bool = False) -> Path | None:
    """Return the data root from the argument or ``DPPMG_DATA_DIR``; check that it exists.

    Args:
        data_root: explicit path (e.g. from ``--data-root``); wins over the environment.
        required: raise if neither is set.
    """
    source = "--data-root"
    if data_root is None:
        env = os.environ.get(DATA_DIR_ENV)
        if env:
            data_root, source = env, DATA_DIR_ENV
    if data_root is None:
        if required:
            raise ConfigError(
                f"no data root: pass --data-root PATH or set {DATA_DIR_ENV}; "
                "see `dppmg data download --help` for where the data comes from"
            )
        return None
    path = Path(data_root).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"data root {path} (from {source}) does not exist or is not a directory")
    return path


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """Return (and create) the cache directory: the argument, ``DPPMG_CACHE_DIR`` or ``~/.cache/dppmg``."""
    if cache is None:
        cache = os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "dppmg"
    path = Path(cache).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
