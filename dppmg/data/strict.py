"""Strict parsing of source rows: every bad line reported at once, none turned into other data.

A recommender benchmark's worst input defect is a corrupt id read as another valid one (``1e3``
read as user 1000, ``' 7'`` as 7): the interactions silently move to another user. So ids and
values are parsed by each format's own rules, not by a general number parser:

* an id is plain ASCII digits (``[0-9]+``), nothing else: no sign, blank, exponent or decimal
  point (:data:`ID`);
* a timestamp is a whole number of seconds, written the same way;
* a rating is one of the format's values (GroupLens: the integers 1-5);
* an empty line is a bad line, not nothing.

:class:`BadLines` collects every problem of a file; :meth:`BadLines.raise_or_drop` then either
raises one :class:`~dppmg.errors.DatasetError` naming the first :data:`SHOWN` lines (with their
line numbers and values) and the count of the others, or, when the user asked for ``--lenient``,
drops those rows and returns how many were dropped (the statistics table counts them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from dppmg.errors import DatasetError

ID = re.compile(r"[0-9]+")
WHOLE = re.compile(r"[0-9]+")
SHOWN = 20


@dataclass
class BadLines:
    """The bad lines of one source file: line number -> the first reason found for it."""

    path: Path
    reasons: dict[int, str] = field(default_factory=dict)

    def add(self, lines: Iterable[int], reason: str) -> None:
        for line in lines:
            self.reasons.setdefault(int(line), reason)

    def message(self) -> str:
        lines = sorted(self.reasons)
        shown = "\n".join(f"  line {n}: {self.reasons[n]}" for n in lines[:SHOWN])
        more = f"\n  ... and {len(lines) - SHOWN:,} more bad line(s)" if len(lines) > SHOWN else ""
        return (f"{self.path}: {len(lines):,} bad line(s); nothing was processed or cached. Fix them, or pass "
                f"--lenient to skip them (they are counted in `dppmg data stats`):\n{shown}{more}")

    def raise_or_drop(self, frame: pd.DataFrame, lenient: bool) -> tuple[pd.DataFrame, int]:
        """``frame`` without the bad lines and how many were dropped (lenient), or an error naming them."""
        if not self.reasons:
            return frame, 0
        if not lenient:
            raise DatasetError(self.message())
        keep = ~frame["line"].isin(list(self.reasons))
        return frame[keep].reset_index(drop=True), int(len(self.reasons))


def split_lines(path: Path, sep: str, names: list[str], *, encoding: str = "utf-8", header: bool = False,
                bad: BadLines | None = None) -> pd.DataFrame:
    """The rows of a delimited file as strings with their 1-based ``line`` number; an empty line or
    a line with another number of fields is recorded in ``bad`` (or raised at once without it)."""
    rows = []
    try:
        with open(path, encoding=encoding, newline="") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if header and lineno == 1:
                    continue
                line = raw.rstrip("\r\n")
                fields = line.split(sep) if line else []
                problem = ("empty line" if not line.strip() else
                           None if len(fields) == len(names) else
                           f"expected {len(names)} fields separated by {sep!r}, found {len(fields)}: {line[:80]!r}")
                if problem is None:
                    rows.append([*fields, lineno])
                elif bad is not None:
                    bad.add([lineno], problem)
                else:
                    raise DatasetError(f"{path}, line {lineno}: {problem}")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not valid {encoding} text ({exc})") from exc
    return pd.DataFrame(rows, columns=[*names, "line"])


def _check(frame: pd.DataFrame, column: str, ok: pd.Series, bad: BadLines, what: str) -> None:
    wrong = frame.loc[~ok.fillna(False).astype(bool), ["line", column]]
    for line, value in zip(wrong["line"], wrong[column]):
        bad.reasons.setdefault(int(line), f"column {column!r} is not {what}: {value!r}")


def parse_ids(frame: pd.DataFrame, column: str, bad: BadLines) -> pd.Series:
    """``column`` as id strings (plain digits, leading zeros removed as the formats' own readers
    do); a cell that is not plain digits is a bad line."""
    values = frame[column].astype(str)
    ok = values.str.fullmatch(ID.pattern)
    _check(frame, column, ok, bad, "an id (plain digits)")
    stripped = values.str.lstrip("0")
    return values.where(~ok, stripped.where(stripped != "", "0"))


def parse_whole(frame: pd.DataFrame, column: str, bad: BadLines, what: str = "a whole number") -> pd.Series:
    """``column`` as int64 (plain digits); others are bad lines and read as -1 until dropped."""
    values = frame[column].astype(str)
    ok = values.str.fullmatch(WHOLE.pattern)
    _check(frame, column, ok, bad, what)
    return values.where(ok, "-1").astype(np.int64)


def parse_pattern(frame: pd.DataFrame, column: str, bad: BadLines, pattern: str, what: str) -> pd.Series:
    """``column`` unchanged, where each cell must match ``pattern`` in full (others are bad lines)."""
    values = frame[column].astype(str)
    _check(frame, column, values.str.fullmatch(pattern), bad, what)
    return values


def parse_choice(frame: pd.DataFrame, column: str, bad: BadLines, allowed: Iterable[str]) -> pd.Series:
    """``column`` as float, where the cell must be written as one of ``allowed`` exactly."""
    allowed = tuple(allowed)
    values = frame[column].astype(str)
    ok = values.isin(allowed)
    _check(frame, column, ok, bad, f"one of {', '.join(allowed)}")
    return values.where(ok, "nan").astype(np.float64)
