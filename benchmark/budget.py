"""A run's time budget (``python -m benchmark run ... --budget 2h``).

A run with a budget starts a cell only when the plan's estimate for it (:mod:`benchmark.plan`)
fits in the time left; a cell that does not fit is left for the next ``--resume`` and later,
shorter cells may still run. The run ends with one line saying what it ran and what is left.
Cells are never cut off: a cell that overruns its estimate finishes (an estimate within 25% of
the measured slices is the plan's aim; a budget that ends before the session does leaves room).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from benchmark.executors import Cell
from dppmg.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|min|s)")


def parse_duration(text: str) -> float:
    """Seconds in ``2h``, ``90m``, ``1h30m``, ``45s`` or a plain number of seconds; anything else
    is an error naming the value."""
    value = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    elif value and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*(h|m|min|s)\s*)+", value):
        unit = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0}
        seconds = sum(float(n) * unit[u] for n, u in _PART.findall(value))
    else:
        raise ConfigError(f"--budget {text!r} is not a duration; write e.g. 2h, 90m, 1h30m, 45s or seconds")
    if seconds <= 0:
        raise ConfigError(f"--budget {text!r} must be longer than zero")
    return seconds


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h} h {rest // 60:02d} min" if h else f"{rest // 60} min {rest % 60:02d} s"


class Budget:
    """Admit a cell only if its estimate fits in the time left (see the module docstring).

    Args:
        seconds: the budget; ``None`` admits every cell.
        estimates: each cell's estimated seconds and basis, by result path.
        finished: asked just before a cell starts; ``True`` skips it as done meanwhile (a
            ``--resume`` run beside another run of the same cells: each result kept once).
    """

    def __init__(self, seconds: float | None, estimates: dict[Path, tuple[float, str]],
                 finished: Callable[[Cell], bool] | None = None):
        self.seconds, self.estimates, self.finished = seconds, estimates, finished
        self.started = time.monotonic()
        self.left_out: list[Cell] = []
        self.done_elsewhere: list[Cell] = []
        self.admitted = 0

    def check_feasible(self, cells: list[Cell]) -> None:
        """A budget shorter than every cell to run is an error: nothing would run."""
        if self.seconds is None or not cells:
            return
        shortest = min(self.estimates[c.out_json][0] for c in cells)
        if shortest > self.seconds:
            raise ConfigError(f"--budget {duration(self.seconds)} is shorter than any cell to run (the shortest is "
                              f"estimated at {duration(shortest)}): nothing was run")

    def admit(self, cell: Cell) -> bool:
        if self.finished is not None and self.finished(cell):
            self.done_elsewhere.append(cell)
            return False
        if self.seconds is None:
            self.admitted += 1
            return True
        left = self.seconds - (time.monotonic() - self.started)
        estimate = self.estimates[cell.out_json][0]
        if estimate > left:
            self.left_out.append(cell)
            return False
        self.admitted += 1
        return True

    def summary(self, to_run: int, done: int, failed: int) -> str:
        """The run's last line: what ran, in how long, and what is left for ``--resume``."""
        spent = duration(time.monotonic() - self.started)
        text = f"ran {self.admitted} of {to_run} cell(s) in {spent}: {done} done, {failed} failed"
        if self.seconds is not None:
            text = f"budget {duration(self.seconds)}: " + text
        if self.done_elsewhere:
            text += f"; {len(self.done_elsewhere)} finished meanwhile by another run (kept, not rerun)"
        if self.left_out:
            left = sum(self.estimates[c.out_json][0] for c in self.left_out)
            text += (f"; left for the next --resume: {len(self.left_out)} cell(s), estimated {duration(left)} "
                     f"(first: {self.left_out[0].label})")
        else:
            text += "; nothing left"
        return text
