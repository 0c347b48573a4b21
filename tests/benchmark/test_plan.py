"""The printed plan's estimates: measured runs first, then the per-block model, then defaults."""

from __future__ import annotations

import json

import pytest
import torch

from benchmark.executors import Cell
from benchmark.plan import (
    DEFAULT_BLOCK_SECONDS,
    DEFAULT_CELL_SECONDS,
    DEFAULT_FIT_SECONDS,
    DEFAULT_SECONDS_PER_OUTPUT,
    DEFAULT_TRAINING_SECONDS,
    Estimator,
)
from benchmark.suites import DATA_STAGES, EVALUATION_STAGE, SELECTION_STAGE
from dppmg.infra.results import make_result, read_result_summary, write_result


def _cell(tmp_path, dataset, method, seed=0, stage=EVALUATION_STAGE):
    params = {"dataset": dataset, "method": method, "seed": seed, "preset": "small"}
    return Cell(stage, params, tmp_path / "runs" / "small" / stage.name / f"{dataset}__{method}__{seed}")


def _write_run(tmp_path, dataset, method, seed, wall_time, stage=EVALUATION_STAGE, timings=None):
    result = make_result(stage.name, dataset, method, "small", seed, {"per_user": list(range(1000))}, {},
                         timings or [])
    if timings is None:
        result["provenance"]["wall_time_s"] = wall_time
    return write_result(_cell(tmp_path, dataset, method, seed, stage).out_json, result)


def _block(name, seconds, **extra):
    return {"stage": name, "wall_time_s": seconds, "peak_rss_mb": 1.0, **extra}


def test_estimates_come_from_measured_runs_then_the_block_model_then_defaults(tmp_path):
    _write_run(tmp_path, "hm", "dppmg", 0, 100.0)
    _write_run(tmp_path, "hm", "dppmg", 1, 300.0)
    # Planted blocks: 0.1 s per text and 0.2 s per image made; evaluators cached after the first cell.
    for seed, evaluators in ((0, 50.0), (1, 2.0)):
        _write_run(tmp_path, "hm", "nonpersonalized", seed, None, timings=[
            _block("fit", 10.0), _block("evaluators", evaluators), _block("generate", 77.0),
            _block("generate: text", 25.6, items=256, within="generate"),
            _block("generate: image", 51.2, items=256, within="generate"), _block("metrics", 20.0)])
    estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "cache")
    # DPPMG says what it would train: an empty cache lacks Stages 1-3, none measured on any dataset.
    trainings = sum(DEFAULT_TRAINING_SECONDS["small"].values())
    assert estimator.seconds(_cell(tmp_path, "hm", "dppmg")) == (200.0 + trainings, "measured + 3 training step(s)")
    # lamp, never run: its fit by default (it loads the backbones), 256 users x 1 text x 0.1 s,
    # the non-personalized image reused from that cell, the smallest evaluators, the mean metrics.
    estimator.mark_planned(_cell(tmp_path, "hm", "nonpersonalized", seed=2))
    fit = DEFAULT_FIT_SECONDS["small"]["loads"]
    seconds, basis = estimator.seconds(_cell(tmp_path, "hm", "lamp", seed=2))
    assert basis == "block model" and seconds == pytest.approx(fit + 25.6 + 2.0 + 20.0)
    # Estimating has no side effect: the same cell again, the same estimate.
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp", seed=2))[0] == pytest.approx(seconds)
    estimator.mark_planned(_cell(tmp_path, "hm", "lamp", seed=2))
    # pmg draws 4 candidates per user; its text is the reused non-personalized one.
    assert estimator.seconds(_cell(tmp_path, "hm", "pmg", seed=2))[0] == pytest.approx(fit + 4 * 51.2 + 22.0)
    estimator.mark_planned(_cell(tmp_path, "hm", "pmg", seed=2))
    # The pair after its parts generates nothing new.
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp+pmg", seed=2))[0] == pytest.approx(fit + 22.0)
    # Another seed is another slice: nothing generated there yet.
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp+pmg", seed=0))[0] == pytest.approx(
        fit + 25.6 + 4 * 51.2 + 22.0)
    assert estimator.seconds(_cell(tmp_path, "movielens", "dppmg")) == (
        DEFAULT_FIT_SECONDS["small"]["loads"] + 256 * sum(DEFAULT_SECONDS_PER_OUTPUT["small"].values())
        + sum(DEFAULT_BLOCK_SECONDS["small"].values()) + trainings, "block model + 3 training step(s)")
    assert estimator.seconds(_cell(tmp_path, "hm", "-", stage=DATA_STAGES[0])) == (
        DEFAULT_CELL_SECONDS["small"]["dataset_stats"], "default")


def test_a_dppmg_cell_costs_what_the_cache_lacks_not_what_an_earlier_run_loaded(tmp_path):
    # Seed 0 loaded Stages 1-3 that the selections had trained (a Stage 2 block of seconds, from
    # before loads were marked); seed 1 of the ablation trained Stages 1 and 2.
    def generate(text, image):
        return [_block("generate", text + image), _block("generate: text", text, items=256, within="generate"),
                _block("generate: image", image, items=256, within="generate")]

    _write_run(tmp_path, "hm", "dppmg", 0, None, timings=[
        _block("stage2", 2.0, within="fit"), _block("fit", 3.0), _block("evaluators", 5.0), *generate(100.0, 200.0),
        _block("metrics", 20.0)])
    _write_run(tmp_path, "hm", "dppmg-no-reward", 1, None, timings=[
        _block("stage1", 100.0, within="fit"), _block("stage2", 600.0, within="fit", loaded=False),
        _block("fit", 701.0), _block("evaluators", 1.0), *generate(80.0, 120.0), _block("metrics", 10.0)])
    estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "empty-cache")
    stage3 = DEFAULT_TRAINING_SECONDS["small"]["stage3_reward_finetuning"]
    # Its fit (3 s: a 2-second Stage 2 is a load), a text and an image per user at the median rates
    # (90 + 160 s), the smallest evaluators (1 s), the median metrics (15 s), and Stages 1-3.
    assert estimator.seconds(_cell(tmp_path, "hm", "dppmg", seed=1)) == pytest.approx(
        (269.0 + 100.0 + 600.0 + stage3, "measured fit + block model + 3 training step(s)"))
    # Planned after the ablation of its seed, it loads that cell's Stages 1 and 2.
    estimator.mark_planned(_cell(tmp_path, "hm", "dppmg-no-reward", seed=1))
    assert estimator.seconds(_cell(tmp_path, "hm", "dppmg", seed=1)) == pytest.approx(
        (269.0 + stage3, "measured fit + block model + 1 training step(s)"))
    # The ablation's own estimate leaves out the trainings it measured, then adds back what is missing.
    assert estimator.seconds(_cell(tmp_path, "hm", "dppmg-no-reward", seed=2)) == pytest.approx(
        (1.0 + 250.0 + 1.0 + 15.0 + 700.0, "measured fit + block model + 2 training step(s)"))


def test_a_run_counts_nested_blocks_once_also_in_files_written_before_they_said_so(tmp_path):
    from dppmg.infra.provenance import top_level_wall_time

    nested = [_block("stage1", 30.0, within="fit"), _block("fit", 40.0), _block("generate", 100.0),
              _block("generate: text", 60.0, within="generate"), _block("metrics", 5.0)]
    assert top_level_wall_time(nested) == 145.0
    legacy = [_block("stage1", 30.0), _block("stage2", 5.0), _block("fit", 40.0), _block("generate", 100.0)]
    assert top_level_wall_time(legacy) == 140.0
    path = _write_run(tmp_path, "hm", "dppmg", 0, None, timings=legacy)
    assert read_result_summary(path)["wall_time_s"] == 140.0


def test_a_selection_group_is_estimated_from_the_same_group_never_from_another(tmp_path):
    from dppmg.config import selection_config
    from dppmg.experiments.selection import reward_weight_candidates

    _write_run(tmp_path, "synthetic", "sampling", 0, 7000.0, SELECTION_STAGE)
    _write_run(tmp_path, "synthetic", "reward", 0, 1500.0, SELECTION_STAGE)
    estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "cache")
    # The sampling selection trains Stages 1-2 where the cache lacks them, the reward selection a
    # Stage 3 per weight candidate (the configured weights and the selection's own).
    training = DEFAULT_TRAINING_SECONDS["small"]
    assert estimator.seconds(_cell(tmp_path, "hm", "sampling", stage=SELECTION_STAGE)) == (
        7000.0 + training["stage1"] + training["stage2"], "measured (same group, other dataset) + 2 training step(s)")
    # H&M's configured weights are among the selection's candidates: trained once.
    candidates = len(reward_weight_candidates("small", "hm", selection_config("small", "hm").reward_weights))
    assert candidates == len(selection_config("small", "hm").reward_weights)
    assert estimator.seconds(_cell(tmp_path, "hm", "reward", stage=SELECTION_STAGE)) == (
        1500.0 + training["stage1"] + training["stage2"] + candidates * training["stage3_reward_finetuning"],
        f"measured (same group, other dataset) + {2 + candidates} training step(s)")
    # Once the sampling selection is planned, the reward selection loads its Stages 1-2.
    estimator.mark_planned(_cell(tmp_path, "hm", "sampling", stage=SELECTION_STAGE))
    assert estimator.seconds(_cell(tmp_path, "hm", "reward", stage=SELECTION_STAGE))[0] == (
        1500.0 + candidates * training["stage3_reward_finetuning"])
    assert estimator.seconds(_cell(tmp_path, "synthetic", "preference", stage=SELECTION_STAGE)) == (
        DEFAULT_CELL_SECONDS["small"]["selection/preference"], "default")


def test_result_summary_skips_unreadable_and_older_files(tmp_path):
    good = _write_run(tmp_path, "hm", "dppmg", 2, 12.5)
    assert read_result_summary(good) == {"stage": "evaluation", "dataset": "hm", "method": "dppmg", "seed": 2,
                                         "wall_time_s": 12.5, "timings": [], "threads": torch.get_num_threads()}
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

    assert selection_methods(None) == ["preference", "sampling", "reward", "precision", "budget"]
    # --methods naming no group (a generation method, say) keeps every group of settings.
    assert selection_methods(["dppmg"]) == ["preference", "sampling", "reward", "precision", "budget"]
    assert selection_methods(["preference"]) == ["preference"]


def test_the_evaluation_stage_runs_references_and_dppmgs_comparisons_first_pairs_after_their_parts(tmp_path):
    from benchmark.harness import plan_cells
    from benchmark.plan import run_order

    plan = plan_cells("evaluation", "small", ["movielens", "hm"], [0, 1], None, None, tmp_path)
    cells = run_order(next(cells for stage, cells in plan if stage.name == "evaluation"), ["movielens", "hm"])
    order = [(c.params["dataset"], c.params["method"], c.params["seed"]) for c in cells]
    assert order[0][0] == "movielens" and order[-1][0] == "hm"
    movielens = [m for d, m, _ in order if d == "movielens"]
    assert movielens.index("real-test-item") < movielens.index("dppmg") < movielens.index("lamp")
    assert movielens.index("nonpersonalized") < movielens.index("lamp") < movielens.index("lamp+pmg")
    assert movielens.index("pmg") < movielens.index("lamp+pmg")
    first_dppmg = order.index(("movielens", "dppmg", 0))
    assert order.index(("movielens", "dppmg", 1)) < order.index(("movielens", "lamp", 0)), \
        "DPPMG's comparisons come seed by seed before the baselines"
    assert first_dppmg < order.index(("movielens", "dppmg-shuffled-tokens", 0))


def test_a_run_slowed_by_a_job_beside_it_does_not_move_the_estimate(tmp_path):
    # Three runs of the same cell kind, one of them 10x slower (two busy jobs on two cores).
    for seed, wall in ((0, 300.0), (1, 3000.0), (2, 310.0)):
        _write_run(tmp_path, "hm", "lamp", seed, wall)
    for seed, image in ((0, 51.2), (1, 512.0), (2, 51.2)):
        _write_run(tmp_path, "hm", "nonpersonalized", seed, None, timings=[
            _block("generate", image), _block("generate: image", image, items=256, within="generate")])
    estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "cache")
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp", seed=3)) == (310.0, "measured")
    # The per-image rate of the block model is the median run's: 0.2 s, not the mean's 0.8 s.
    seconds, basis = estimator.seconds(_cell(tmp_path, "hm", "pmg", seed=3))
    fit, blocks = DEFAULT_FIT_SECONDS["small"]["loads"], sum(DEFAULT_BLOCK_SECONDS["small"].values())
    text = 256 * DEFAULT_SECONDS_PER_OUTPUT["small"]["text"]
    assert basis == "block model" and seconds == pytest.approx(fit + text + 4 * 51.2 + blocks)


def test_a_kept_runs_generations_count_as_reused_only_at_the_plans_thread_count(tmp_path):
    # The generation cache's key holds torch's thread count: a MovieLens lamp cell at 1 thread
    # regenerated the non-personalized images that cell had made at 2 threads.
    path = _write_run(tmp_path, "hm", "nonpersonalized", 0, None, timings=[
        _block("fit", 10.0), _block("evaluators", 2.0), _block("generate", 77.0),
        _block("generate: text", 25.6, items=256, within="generate"),
        _block("generate: image", 51.2, items=256, within="generate"), _block("metrics", 20.0)])
    result = json.loads(path.read_text())
    result["provenance"]["device"]["torch_threads"] = 2
    path.write_text(json.dumps(result))
    fit = DEFAULT_FIT_SECONDS["small"]["loads"]
    for threads, image_seconds in ((1, 51.2), (2, 0.0), (None, 0.0)):
        estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "cache", threads=threads)
        estimator.mark_planned(_cell(tmp_path, "hm", "nonpersonalized"))  # the kept run
        seconds, basis = estimator.seconds(_cell(tmp_path, "hm", "lamp"))
        assert basis == "block model" and seconds == pytest.approx(fit + 25.6 + image_seconds + 2.0 + 20.0)
    # A cell the plan runs before, at the plan's threads, is reused whatever they are.
    estimator = Estimator(tmp_path, "small", cache_dir=tmp_path / "cache", threads=1)
    estimator.mark_planned(_cell(tmp_path, "hm", "nonpersonalized", seed=1))
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp", seed=1))[0] == pytest.approx(fit + 25.6 + 2.0 + 20.0)


def test_an_excluded_result_file_is_no_measurement(tmp_path):
    kept = _write_run(tmp_path, "hm", "lamp", 0, 300.0)
    hidden = _write_run(tmp_path, "hm", "lamp", 1, 3000.0)
    assert Estimator(tmp_path, "small").seconds(_cell(tmp_path, "hm", "lamp", seed=2)) == (1650.0, "measured")
    estimator = Estimator(tmp_path, "small", exclude=[hidden])
    assert estimator.seconds(_cell(tmp_path, "hm", "lamp", seed=2)) == (300.0, "measured")
    assert kept.is_file() and hidden.is_file()


def test_a_quantity_comes_from_the_runs_at_the_plans_thread_count_where_any_measured_it(tmp_path):
    def write(method, seed, wall, threads):
        path = _write_run(tmp_path, "hm", method, seed, wall)
        result = json.loads(path.read_text())
        result["provenance"]["device"]["torch_threads"] = threads
        path.write_text(json.dumps(result))

    write("lamp", 0, 300.0, 1)
    write("lamp", 1, 200.0, 2)
    write("lamp", 2, 210.0, 2)
    write("pepler", 0, 900.0, 2)
    cell = _cell(tmp_path, "hm", "lamp", seed=3)
    assert Estimator(tmp_path, "small", threads=1).seconds(cell) == (300.0, "measured")
    assert Estimator(tmp_path, "small", threads=2).seconds(cell) == (205.0, "measured")
    assert Estimator(tmp_path, "small").seconds(cell) == (210.0, "measured")  # every run
    # Measured only at 2 threads: those runs stand in for a 1-thread plan.
    assert Estimator(tmp_path, "small", threads=1).seconds(_cell(tmp_path, "hm", "pepler", seed=3)) == (
        900.0, "measured")
