"""Run config files for ``dppmg evaluate --config run.toml``, as RecBole users expect one.

A file names the run and any per-stage overrides::

    dataset = "movielens"
    method = "dppmg"
    preset = "small"
    seed = 0
    users = 64              # optional: evaluated users (default: the preset's)
    split = "test"          # or "valid" (for choosing settings)

    [overrides.stage2]      # any of preference, quantizer, stage2, reward: fields of that config
    text_steps = 300

Options given on the command line win over the file. The resolved run (every key, with its
source) is written beside the result JSON as ``<result>.config.json``. An unknown key, or a
value of the wrong type, is an error naming the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from dppmg.config import check_stage_fields
from dppmg.errors import ConfigError
from dppmg.methods import DPPMG
from dppmg.train import check_overrides

# key -> (type, default); a default of None means "the preset's" or "required" (dataset).
RUN_KEYS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "dataset": (str, None), "method": (str, DPPMG.name), "preset": (str, "small"), "seed": (int, 0),
    "users": (int, None), "split": (str, "test"), "out": (str, None), "data_root": (str, None),
    "cache_dir": (str, None), "overrides": (dict, None),
}


def load_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a run config file; returns only the keys it sets."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    unknown = sorted(set(values) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; a run config may set {sorted(RUN_KEYS)}")
    for key, value in values.items():
        expected = RUN_KEYS[key][0]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ConfigError(f"{path}: {key} = {value!r} should be a {expected.__name__}")
    if "overrides" in values:
        for stage, fields in check_overrides(values["overrides"]).items():
            check_stage_fields(stage, fields, where=f"{path}: [overrides.{stage}]")
    return values
