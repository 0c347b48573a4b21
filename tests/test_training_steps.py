"""`dppmg.train`: what a DPPMG run would train, read from the cache before it runs."""

from __future__ import annotations

import pytest

from dppmg.config import selection_config
from dppmg.errors import DPPMGError
from dppmg.experiments.selection import early_stop, reward_weight_candidates, selection_training_steps
from dppmg.methods import DPPMG, DPPMGNoReward


def test_training_steps_name_the_folders_a_run_writes_and_what_the_cache_holds(session_cache, tmp_path):
    empty = DPPMG().training_steps("synthetic", "smoke", 0, cache_dir=tmp_path / "empty")
    assert [s.block for s in empty] == ["stage1", "stage2", "stage3_reward_finetuning"]
    assert not any(s.cached for s in empty)
    assert [s.block for s in DPPMGNoReward().training_steps("synthetic", "smoke", 0, cache_dir=tmp_path)] == [
        "stage1", "stage2"]

    method = DPPMG()
    before = method.training_steps("synthetic", "smoke", 0, cache_dir=session_cache)
    method.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    after = method.training_steps("synthetic", "smoke", 0, cache_dir=session_cache)
    assert all(s.cached for s in after)
    assert [s.artifact for s in after] == [method.info["stage1_folder"], method.info["stage2_folder"],
                                           method.info["reward"]["folder"]]
    stage2 = next(t for t in method.info["timings"] if t["stage"] == "stage2")
    assert stage2["loaded"] is before[1].cached
    # What the cache held was loaded: no training block for it.
    trained = {t["stage"] for t in method.info["timings"]} - {"stage2"}
    assert trained == {s.block for s in before if not s.cached} - {"stage2"} | (
        {"alignment_reward_model"} if not before[2].cached else set())

    again = DPPMG()
    again.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    assert [t["stage"] for t in again.info["timings"]] == ["stage2"] and again.info["timings"][0]["loaded"]


def test_reward_selection_fine_tunes_the_configured_weights_first_then_each_other_candidate(tmp_path):
    configured = (1.0, 0.5, 0.5)  # MovieLens's row of DATASET_TABLE
    weights = reward_weight_candidates("small", "movielens", [(2.0, 1.0, 1.0), configured, (1, 2, 2)])
    assert weights == [configured, (2.0, 1.0, 1.0), (1.0, 2.0, 2.0)]

    steps = selection_training_steps("reward", "synthetic", "smoke", 0, cache_dir=tmp_path)
    smoke = reward_weight_candidates("smoke", "synthetic", selection_config("smoke", "synthetic").reward_weights)
    assert [s.block for s in steps] == ["stage1", "stage2"] + ["stage3_reward_finetuning"] * len(smoke)
    assert len({s.artifact for s in steps}) == len(steps) and not any(s.cached for s in steps)
    assert [s.block for s in selection_training_steps("sampling", "synthetic", "smoke", 0, cache_dir=tmp_path)] == [
        "stage1", "stage2"]


def test_early_stopping_replayed_on_a_validation_curve_stops_at_its_patience():
    curve = [{"step": s, "loss": v} for s, v in [(0, 5.0), (50, 4.0), (100, 4.1), (150, 3.9), (200, 4.0),
                                                 (250, 4.2), (300, 4.3)]]
    assert early_stop(curve, 0) == (300, 150, 3.9)  # the full budget keeps the lowest loss
    assert early_stop(curve, 1) == (100, 50, 4.0)  # stops at the first validation without improvement
    assert early_stop(curve, 2) == (250, 150, 3.9)
    assert early_stop(curve, 3) == (300, 150, 3.9)
    assert early_stop(curve[:1], 1) == (0, 0, 5.0)
    with pytest.raises(DPPMGError, match="empty validation curve"):
        early_stop([], 1)
