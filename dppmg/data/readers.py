"""Strict readers for delimited source files: a malformed row raises an error naming the file and
line, instead of silently becoming NaN further down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dppmg.errors import DatasetError


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"missing {what}: {path} does not exist")
    return path


def read_table(path: Path, sep: str, names: list[str] | None, *, encoding: str = "utf-8",
               header: bool = False, usecols: list[str] | None = None) -> pd.DataFrame:
    """Read a delimited file as strings; the ``line`` column holds each row's 1-based line number.

    Multi-character separators (ML-1M's ``::``) are split by hand: pandas would need its slow
    python engine and would treat the separator as a regular expression.
    """
    first_line = 2 if header else 1
    try:
        if len(sep) > 1:
            rows = []
            with open(path, encoding=encoding, newline="") as fh:
                for lineno, raw in enumerate(fh, start=1):
                    line = raw.rstrip("\r\n")
                    if not line:
                        continue
                    fields = line.split(sep)
                    if names is not None and len(fields) != len(names):
                        raise DatasetError(f"{path}, line {lineno}: expected {len(names)} fields separated by "
                                           f"{sep!r}, found {len(fields)}: {line[:80]!r}")
                    rows.append([*fields, lineno])
            frame = pd.DataFrame(rows, columns=[*(names or []), "line"])
        else:
            frame = pd.read_csv(path, sep=sep, names=names, header=0 if header else None, dtype=str,
                                encoding=encoding, keep_default_na=False, usecols=usecols,
                                on_bad_lines="error", quoting=0 if sep == "," else 3)
            frame["line"] = np.arange(first_line, first_line + len(frame))
    except pd.errors.ParserError as exc:
        raise DatasetError(f"{path}: unreadable row: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not valid {encoding} text ({exc})") from exc
    if names is not None and len(frame):
        missing = frame[names].isna().any(axis=1) | (frame[names[0]] == "")
        if missing.any():
            bad = frame[missing].iloc[0]
            raise DatasetError(f"{path}, line {int(bad['line'])}: missing fields in row {bad.to_dict()}")
    return frame


def parse_numeric(frame: pd.DataFrame, column: str, path: Path, *, integer: bool = True) -> pd.Series:
    """Convert a string column to numbers; raise naming file, line and value of the first bad cell."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna()
    if integer:
        bad |= values.notna() & (values != values.round())
    if bad.any():
        row = frame[bad].iloc[0]
        raise DatasetError(f"{path}, line {int(row['line'])}: column {column!r} is not a "
                           f"{'whole ' if integer else ''}number: {row[column]!r}")
    return values.astype(np.int64) if integer else values.astype(np.float64)
