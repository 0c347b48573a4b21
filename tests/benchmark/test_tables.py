"""Table builders turn result files into the published tables."""

from __future__ import annotations

import pytest

from benchmark.tables import mean_std, preference_tables
from dppmg.stage1 import fit_and_save


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
