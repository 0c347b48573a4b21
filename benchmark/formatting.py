"""How a table cell shows numbers over seeds: the one set of formatters every table uses."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def mean_std(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` over seeds (sample std); one seed shows its value alone (no "± 0"). A NaN
    value is kept, so a run that produced one shows as ``nan`` instead of vanishing."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 1:
        return f"{arr[0]:.{digits}f}"
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1):.{digits}f}"


def effect(combined: dict[str, Any] | None, digits: int = 4) -> str:
    """A combined comparison's signed ``mean ± std`` over seeds (one seed: the value alone)."""
    if combined is None:
        return ""
    if combined["seeds"] < 2:
        return f"{combined['mean']:+.{digits}f}"
    return f"{combined['mean']:+.{digits}f} ± {combined['std']:.{digits}f}"


def interval(combined: dict[str, Any] | None, digits: int = 4) -> str:
    """A combined comparison's 95% interval over seeds (empty with fewer than two seeds)."""
    if combined is None or combined["seeds"] < 2:
        return ""
    lo, hi = combined["ci"]
    return f"[{lo:+.{digits}f}, {hi:+.{digits}f}]"
