"""Table builders turn result files into the published tables."""

from __future__ import annotations

import pytest

from benchmark.tables import mean_std, preference_tables
from dppmg.preference.train import fit_and_save


@pytest.fixture(scope="module")
def runs(session_cache):
    out = []
    for method in ("popularity", "dppmg"):
        for seed in (0, 1):
            record, _ = fit_and_save("synthetic", "smoke", seed, method, cache_dir=session_cache, progress=False)
            out.append(record)
    return out


def test_ranking_table_is_mean_and_std_of_the_runs(runs):
    tables = preference_tables(runs)
    table = tables["ranking_synthetic"].set_index("method")
    dppmg = [r["metrics"]["test"]["recall@20"] for r in runs if r["method"] == "dppmg"]
    assert table.loc["dppmg", "test recall@20"] == mean_std(dppmg)
    assert table.loc["dppmg", "seeds"] == 2
    assert table.loc["dppmg", "vs strongest baseline (Wilcoxon p, test recall@20)"].startswith("popularity: Δ=")
    assert set(tables) >= {"ranking", "quantizer", "synthetic_probes", "synthetic_divergence"}


def test_mean_std_format():
    assert mean_std([1.0, 3.0]) == "2.0000 ± 1.4142"
    assert mean_std([0.5]) == "0.5000 ± 0.0000"


def _evaluation_run(method: str, seed: int, users: list[str], consistency: list[float]) -> dict:
    """The fields of a results JSON of ``dppmg evaluate`` that the evaluation tables read."""
    per_user = {"mean": sum(consistency) / len(consistency), "per_user": consistency}
    node = {"cos_history": per_user, "cos_test": per_user}
    own_vs_other = {"mean_paired_difference": per_user["mean"], "per_user_difference": consistency}
    return {"dataset": "synthetic", "method": method, "seed": seed, "metrics": {
        "personalization": {"image": own_vs_other, "text": own_vs_other}, "users": users, "consistency": {"evaluator": per_user, "reward_model": per_user}, "image": node, "text": node,
        "alignment": {role: {"items": 1, "R@1": 0, "chance R@1": 0, "R@10": 0, "chance R@10": 0, "median rank": 1}
                      for role in ("reward", "evaluator")}}}


def test_reward_comparison_pairs_users_within_each_seed():
    from benchmark.tables import evaluation_tables

    # Seed 1 draws other users than seed 0, and user "a" is in both: it must count twice, never averaged.
    runs = [_evaluation_run("dppmg-no-reward", 0, ["a", "b"], [0.0, 0.0]),
            _evaluation_run("dppmg", 0, ["a", "b"], [0.1, 0.3]),
            _evaluation_run("dppmg-no-reward", 1, ["a", "c"], [0.5, 0.5]),
            _evaluation_run("dppmg", 1, ["a", "c"], [0.4, 0.6])]
    paired = evaluation_tables(runs)["reward_vs_stage2"].set_index("metric").loc["consistency (evaluator)"]
    assert paired["seeds"] == 2 and paired["pairs"] == 4
    assert paired["per-seed difference"] == "+0.2000 +0.0000"
    assert paired["difference"] == pytest.approx(0.1)


def test_personalization_pools_the_pairs_of_every_seed():
    from benchmark.tables import evaluation_tables

    runs = [_evaluation_run("dppmg", 0, ["a", "b"], [0.1, 0.3]), _evaluation_run("dppmg", 1, ["a", "c"], [-0.2, 0.6])]
    rows = evaluation_tables(runs)["personalization_by_method"].set_index("modality")
    assert rows.loc["image", "pairs"] == 4 and rows.loc["image", "own closer"] == "3/4"
    assert rows.loc["text", "own - other"] == pytest.approx(0.2)
    assert rows.loc["image", "per-seed own - other"] == "+0.2000 +0.2000"
