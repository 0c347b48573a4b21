"""A run's budget: durations, a budget no cell fits, and cells left for --resume."""

from __future__ import annotations

import pytest

from benchmark.budget import parse_duration
from dppmg.errors import ConfigError


@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("45s", 45),
                                           ("600", 600), ("1.5h", 5400), ("10min", 600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["two hours", "", "-5", "0", "5x", "h"])
def test_a_budget_that_is_not_a_duration_is_named(text):
    with pytest.raises(ConfigError, match="--budget"):
        parse_duration(text)


def test_a_budget_shorter_than_any_cell_runs_nothing_and_says_so(tmp_path):
    from benchmark.harness import run_suite

    with pytest.raises(ConfigError, match="shorter than any cell"):
        run_suite("data", "smoke", datasets=["synthetic"], results_dir=tmp_path, runner="inline", budget="1s",
                  progress=False, log=lambda _: None)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.json"))


def test_a_budget_starts_only_the_cells_that_fit_and_ends_with_what_is_left(tmp_path):
    from benchmark.harness import run_suite

    lines: list[str] = []
    # The defaults estimate dataset_stats at 3 s and features at 35 s: a 20 s budget runs the first.
    run_suite("data", "smoke", datasets=["synthetic"], results_dir=tmp_path, runner="inline", budget="20s",
              progress=False, log=lines.append)
    assert (tmp_path / "runs" / "smoke" / "dataset_stats" / "synthetic__-__seed0.json").is_file()
    assert not (tmp_path / "runs" / "smoke" / "features").exists()
    last = lines[-1]
    assert last.startswith("budget 0 min 20 s: ran 1 of 2 cell(s)") and "left for the next --resume: 1 cell(s)" in last
    assert "[features] synthetic - seed 0" in last


def test_a_resumed_run_keeps_a_cell_another_run_finished_meanwhile(tmp_path):
    from benchmark.harness import run_suite

    other, mine = tmp_path / "other", tmp_path / "mine"
    run_suite("data", "smoke", datasets=["synthetic"], results_dir=other, runner="inline", progress=False,
              log=lambda _: None)
    features = "runs/smoke/features/synthetic__-__seed0.json"
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("[dataset_stats]") and "done" in line:  # the other run finishes the next cell now
            (mine / features).parent.mkdir(parents=True, exist_ok=True)
            (mine / features).write_bytes((other / features).read_bytes())

    run_suite("data", "smoke", datasets=["synthetic"], results_dir=mine, runner="inline", progress=False,
              resume=True, log=log)
    assert (mine / features).read_bytes() == (other / features).read_bytes()
    assert any("finished meanwhile by another run; kept, not rerun" in line for line in lines)
    assert lines[-1].startswith("ran 1 of 2 cell(s)") and "1 finished meanwhile by another run" in lines[-1]
