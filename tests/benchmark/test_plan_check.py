"""`python -m benchmark plan-check`: a measured slice against the plan's estimate from the other runs."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.plan import DEFAULT_BLOCK_SECONDS, DEFAULT_FIT_SECONDS, run_path
from benchmark.suites import EVALUATION_STAGE
from dppmg.errors import DPPMGError
from dppmg.infra.results import make_result, write_result


def _run(results, method, seed, text, image, fit=10.0):
    timings = [{"stage": "fit", "wall_time_s": fit}, {"stage": "generate", "wall_time_s": text + image}]
    for modality, seconds in (("text", text), ("image", image)):
        if seconds:
            timings.append({"stage": f"generate: {modality}", "wall_time_s": seconds, "items": 256,
                            "within": "generate"})
    result = make_result("evaluation", "hm", method, "small", seed, {}, {}, timings)
    write_result(run_path(results, "small", EVALUATION_STAGE, "hm", method, seed).with_suffix(".json"), result)


def test_a_complete_slice_is_estimated_from_the_other_runs_only(tmp_path):
    from benchmark.plan_check import plan_check

    # Seed 0: the measured slice (its lamp reused the non-personalized image). Seed 1: the other
    # runs the estimate may read, 0.1 s per text and 0.2 s per image.
    _run(tmp_path, "nonpersonalized", 0, 100.0, 200.0)
    _run(tmp_path, "lamp", 0, 100.0, 0.0)
    _run(tmp_path, "nonpersonalized", 1, 25.6, 51.2, fit=20.0)
    written = plan_check("small", ["hm"], [0, 1], ["nonpersonalized", "lamp"], tmp_path)
    cells = pd.read_csv(written["plan_check_cells"].with_suffix(".csv"))
    assert list(cells["method"]) == ["nonpersonalized", "lamp"] and set(cells["seed"]) == {0}  # seed 1 lacks lamp
    blocks = sum(DEFAULT_BLOCK_SECONDS["small"].values())
    # Its own nonpersonalized run is hidden: the fit of seed 1 (20 s), not seed 0's (10 s); lamp has
    # no other run: the default fit, its text, the image reused from the slice's first cell.
    expected = [(20.0 + 25.6 + 51.2 + blocks) / 60, (DEFAULT_FIT_SECONDS["small"]["loads"] + 25.6 + blocks) / 60]
    assert list(cells["estimated (min)"]) == pytest.approx([round(e, 1) for e in expected])
    assert list(cells["measured (min)"]) == pytest.approx([5.2, 1.8])
    slices = pd.read_csv(written["plan_check"].with_suffix(".csv"))
    assert slices.loc[0, "measured (min)"] == pytest.approx(7.0)
    assert "Do not edit by hand" in written["plan_check"].read_text()


def test_no_complete_slice_is_an_error_naming_where_it_looked(tmp_path):
    from benchmark.plan_check import plan_check

    _run(tmp_path, "lamp", 0, 100.0, 0.0)
    with pytest.raises(DPPMGError, match="no complete .* slice"):
        plan_check("small", ["hm"], [0], ["nonpersonalized", "lamp"], tmp_path)
    assert main(["plan-check", "--datasets", "hm", "--seeds", "0", "--methods", "nonpersonalized", "lamp",
                 "--results-dir", str(tmp_path)]) == 2


def test_the_default_slice_is_the_headline_grid():
    from benchmark.plan import headline_methods
    from dppmg.registry import method_names

    headline = headline_methods()
    assert {"real-test-item", "retrieval", "nonpersonalized", "dppmg", "dppmg-no-reward", "dppmg-shuffled-tokens",
            "lamp", "pepler", "pmg", "history-image", "textual-inversion", "lamp+pmg",
            "pepler+textual-inversion"} == set(headline)
    assert set(method_names("ablation", suite="evaluation")) - set(headline) == set(
        method_names("ablation", suite="evaluation")) - {"dppmg-no-reward"}
