"""Stage 1's training budget chosen on validation (dppmg.experiments.selection.select_stage1_budget)."""

from __future__ import annotations

import pytest

from benchmark.suites import SELECTION_STAGE
from dppmg.data import load_dataset
from dppmg.errors import DPPMGError
from dppmg.experiments.selection import select_stage1_budget, selection_applies
from dppmg.preference.checkpoint import checkpoint_dir, load_quantized_preferences
from dppmg.preference.model import epoch_batch_size
from dppmg.preference.ranking import RankingEvaluator, factor_scorer
from dppmg.registry import resolve_stage1


def test_the_stage1_budget_is_compared_only_where_the_dataset_lists_budgets():
    assert not selection_applies("stage1", "synthetic", "small")
    assert not selection_applies("stage1", "movielens", "small") and not selection_applies("stage1", "hm", "small")
    assert selection_applies("stage1", "movielens-1m", "small")
    assert selection_applies("sampling", "synthetic", "small")
    assert not SELECTION_STAGE.runs_on("stage1", "movielens", "small")
    assert SELECTION_STAGE.runs_on("stage1", "movielens-1m", "small") and SELECTION_STAGE.runs_on("reward", "hm", "small")


def test_the_cheapest_budget_not_worse_than_the_reference_on_validation_is_chosen(session_cache):
    candidates = ((24, 40), (1, 10))
    record = select_stage1_budget("synthetic", "smoke", 0, candidates, cache_dir=session_cache)
    rows = record["candidates"]
    assert [r["value"] for r in rows] == ["24 graph steps per epoch, 40 quantizer epochs",
                                          "1 graph steps per epoch, 10 quantizer epochs"]
    assert rows[0]["acceptable"] and rows[0]["p (lower than the reference)"] is None
    assert rows[1]["acceptable"] == (rows[1]["p (lower than the reference)"] >= 0.05)
    assert record["choice"] == min((r for r in rows if r["acceptable"]), key=lambda r: r["metric"])["value"]
    data = load_dataset("synthetic", preset="smoke", cache_dir=session_cache)
    evaluator = RankingEvaluator(data)
    n_train = len(evaluator.train)
    for (steps, epochs), row in zip(candidates, rows):
        config = resolve_stage1("synthetic", "smoke", 0, "dppmg", preference={"max_steps_per_epoch": steps},
                                quantizer={"epochs": epochs})
        assert row["graph steps"] == row["epochs run"] * -(-n_train // epoch_batch_size(n_train, config.preference))
        assert row["metric"] == row["graph steps"] + row["quantizer steps"]
        # The per-user values the test compares are the quantized preferences Stage 1 reported.
        folder = checkpoint_dir(config, session_cache)
        scorer = factor_scorer(load_quantized_preferences(folder, data, session_cache))
        assert evaluator.evaluate(scorer, "valid")["recall@20"] == pytest.approx(row["quantized valid recall@20"])
    with pytest.raises(DPPMGError, match="no Stage 1 budget candidates"):
        select_stage1_budget("synthetic", "smoke", 0, (), cache_dir=session_cache)
