"""The printed plan's estimates: earlier runs first, then the committed profile, then defaults."""

from __future__ import annotations

import json

from benchmark.executors import Cell
from benchmark.plan import DEFAULT_CELL_SECONDS, Estimator
from benchmark.suites import EVALUATION_STAGE, SELECTION_STAGE
from dppmg.results import make_result, read_result_summary, write_result


def _cell(tmp_path, dataset, method, seed=0, stage=EVALUATION_STAGE):
    params = {"dataset": dataset, "method": method, "seed": seed, "preset": "small"}
    return Cell(stage, params, tmp_path / "runs" / "small" / stage.name / f"{dataset}__{method}__{seed}")


def _write_run(tmp_path, dataset, method, seed, wall_time, stage=EVALUATION_STAGE):
    result = make_result(stage.name, dataset, method, "small", seed, {"per_user": list(range(1000))}, {}, [])
    result["provenance"]["wall_time_s"] = wall_time
    return write_result(_cell(tmp_path, dataset, method, seed, stage).out_json, result)


def test_estimates_come_from_earlier_runs_then_the_dataset_then_defaults(tmp_path):
    _write_run(tmp_path, "hm", "dppmg", 0, 100.0)
    _write_run(tmp_path, "hm", "dppmg", 1, 300.0)
    _write_run(tmp_path, "hm", "nonpersonalized", 0, 40.0)
    estimator = Estimator(tmp_path, "small")
    assert estimator.seconds(_cell(tmp_path, "hm", "dppmg")) == (200.0, "earlier runs")
    # No run of the method: the mean over the dataset's runs of that stage.
    assert estimator.seconds(_cell(tmp_path, "hm", "real-test-item")) == (440.0 / 3, "earlier runs")
    assert estimator.seconds(_cell(tmp_path, "movielens", "dppmg")) == (
        DEFAULT_CELL_SECONDS["small"]["evaluation"], "default")


def test_a_selection_group_is_estimated_from_the_same_group_never_from_another(tmp_path):
    _write_run(tmp_path, "synthetic", "sampling", 0, 7000.0, SELECTION_STAGE)
    estimator = Estimator(tmp_path, "small")
    assert estimator.seconds(_cell(tmp_path, "hm", "sampling", stage=SELECTION_STAGE)) == (7000.0, "earlier runs")
    assert estimator.seconds(_cell(tmp_path, "synthetic", "preference", stage=SELECTION_STAGE)) == (
        DEFAULT_CELL_SECONDS["small"]["selection/preference"], "default")


def test_result_summary_skips_unreadable_and_older_files(tmp_path):
    good = _write_run(tmp_path, "hm", "dppmg", 2, 12.5)
    assert read_result_summary(good) == {"stage": "evaluation", "dataset": "hm", "method": "dppmg", "seed": 2,
                                         "wall_time_s": 12.5}
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    older = tmp_path / "older.json"
    older.write_text(json.dumps({**json.loads(good.read_text()), "schema": "dppmg.result/v1"}))
    assert read_result_summary(broken) is None
    assert read_result_summary(older) is None
    assert read_result_summary(tmp_path / "absent.json") is None


def test_selection_cells_are_groups_of_settings_and_methods_can_pick_them(tmp_path):
    from benchmark.harness import plan_cells

    def selection_methods(methods):
        plan = plan_cells("reproduce", "small", ["synthetic"], None, methods, None, tmp_path)
        cells = next(cells for stage, cells in plan if stage.name == "selection")
        return [c.params["method"] for c in cells]

    assert selection_methods(None) == ["preference", "sampling", "reward"]
    # --methods naming no group (a generation method, say) keeps every group of settings.
    assert selection_methods(["dppmg"]) == ["preference", "sampling", "reward"]
    assert selection_methods(["preference"]) == ["preference"]
