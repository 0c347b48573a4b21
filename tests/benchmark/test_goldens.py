"""Goldens and the metric check: tolerances from the spread over seeds, every failure named, stale
goldens refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark import goldens
from benchmark.cli import main
from benchmark.goldens import (
    CHECK_SEED,
    COLUMNS,
    FLOORS,
    K,
    compare,
    golden_rows,
    headline_metrics,
    read_goldens,
    write_goldens,
)
from dppmg.errors import DPPMGError
from dppmg.infra.results import SCHEMA


def preference_result(method: str, seed: int, recall: float, dataset: str = "synthetic") -> dict:
    return {"stage": "preference", "dataset": dataset, "method": method, "seed": seed,
            "metrics": {"test": {"recall@20": recall, "ndcg@20": recall / 2}, "valid": {"recall@20": recall}}}


def stats_result(users: int) -> dict:
    return {"stage": "dataset_stats", "dataset": "synthetic", "method": "-", "seed": 0,
            "metrics": {"users": users, "items": 10, "interactions": 100}}


def test_tolerance_is_k_std_over_seeds_with_a_floor():
    recalls = [0.30, 0.34, 0.26]
    rows = golden_rows([preference_result("dppmg", s, r) for s, r in enumerate(recalls)]).set_index("metric")
    assert rows.loc["test recall@20", "value"] == pytest.approx(0.30)  # the check seed's value
    assert rows.loc["test recall@20", "tolerance"] == pytest.approx(K * np.std(recalls, ddof=1), abs=1e-6)
    # Equal on every seed: the floor, never zero (a metric is not frozen to its bits by chance).
    flat = golden_rows([preference_result("dppmg", s, 0.3) for s in range(3)]).set_index("metric")
    assert flat.loc["test recall@20", "tolerance"] == FLOORS["recall@20"]


def test_counts_are_bit_stable():
    rows = golden_rows([stats_result(120)]).set_index("metric")
    assert rows.loc["users count", "tolerance"] == 0.0 and rows.loc["users count", "value"] == 120


def test_a_metric_without_a_floor_is_an_error():
    with pytest.raises(DPPMGError, match="no tolerance floor for metric 'mystery'"):
        goldens._floor("mystery")


def test_headline_metrics_skip_validation_runs():
    run = {"stage": "evaluation", "metrics": {"split": "valid"}}
    assert headline_metrics(run) == {}


def test_compare_names_regressions_missing_and_new_metrics():
    gold = golden_rows([preference_result("dppmg", s, r) for s, r in enumerate([0.30, 0.31, 0.29])]
                       + [preference_result("mf-bpr", 0, 0.2)])
    now = [preference_result("dppmg", CHECK_SEED, 0.10), stats_result(120)]  # dppmg fell, mf-bpr vanished
    table = compare(gold, now).set_index(["method", "metric"])
    assert table.loc[("dppmg", "test recall@20"), "status"] == "REGRESSION"
    assert table.loc[("mf-bpr", "test recall@20"), "status"] == "MISSING"
    assert table.loc[("-", "users count"), "status"] == "NEW"
    same = compare(gold, [preference_result("dppmg", 0, 0.30 + 0.5 * gold["tolerance"].iloc[0])
                          ]).set_index(["method", "metric"])
    assert same.loc[("dppmg", "test recall@20"), "status"] == "ok"


def test_goldens_round_trip_and_stale_goldens_are_errors(tmp_path):
    rows = golden_rows([preference_result("dppmg", s, r) for s, r in enumerate([0.3, 0.32, 0.28])])
    csv = write_goldens(rows, "smoke", tmp_path, (0, 1, 2))
    back, meta = read_goldens("smoke", tmp_path)
    assert list(back.columns) == list(COLUMNS) and len(back) == len(rows)
    assert meta["preset"] == "smoke" and meta["result_schema"] == SCHEMA and "git_sha" in meta
    assert {"torch", "numpy"} <= set(meta["packages"])

    with pytest.raises(DPPMGError, match="no goldens for preset 'small'.*--update"):
        read_goldens("small", tmp_path)
    meta_file = csv.with_suffix(".json")
    (tmp_path / "small.csv").write_text(csv.read_text())
    (tmp_path / "small.json").write_text(meta_file.read_text())
    with pytest.raises(DPPMGError, match="goldens of preset 'smoke', not 'small'"):
        read_goldens("small", tmp_path)
    meta_file.write_text(json.dumps({**meta, "result_schema": "dppmg.result/v1"}))
    with pytest.raises(DPPMGError, match="stale goldens, regenerate with"):
        read_goldens("smoke", tmp_path)


def test_goldens_are_written_only_on_purpose(tmp_path, capsys):
    assert main(["goldens", "--preset", "smoke", "--goldens-dir", str(tmp_path)]) == 2
    assert "only with --update" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_check_fails_on_a_regression_and_writes_its_table(tmp_path, monkeypatch, capsys):
    gold = golden_rows([preference_result("dppmg", s, r) for s, r in enumerate([0.30, 0.31, 0.29])])
    write_goldens(gold, "smoke", tmp_path / "goldens", (0, 1, 2))
    now = [preference_result("dppmg", 0, 0.05)]
    monkeypatch.setattr(goldens, "suite_results", lambda *a, **k: now)
    code = main(["check", "--preset", "smoke", "--results-dir", str(tmp_path), "--goldens-dir",
                 str(tmp_path / "goldens")])
    out = capsys.readouterr().out
    assert code == 1 and "synthetic/dppmg/test recall@20: REGRESSION" in out
    assert "REGRESSION" in (tmp_path / "smoke" / "check.md").read_text()
    monkeypatch.setattr(goldens, "suite_results", lambda *a, **k: [preference_result("dppmg", 0, 0.30)])
    assert main(["check", "--preset", "smoke", "--results-dir", str(tmp_path), "--goldens-dir",
                 str(tmp_path / "goldens")]) == 0
    # --seeds names the check seed (the command line); another seed is refused, naming it.
    assert main(["check", "--preset", "smoke", "--seeds", "0", "--results-dir", str(tmp_path), "--goldens-dir",
                 str(tmp_path / "goldens")]) == 0
    capsys.readouterr()
    assert main(["check", "--preset", "smoke", "--seeds", "1", "--results-dir", str(tmp_path), "--goldens-dir",
                 str(tmp_path / "goldens")]) == 2
    assert "--seeds 1: the smoke goldens are checked at seed 0 only" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "goldens" / "smoke.csv")
    assert set(table["metric"]) == {"test recall@20", "test ndcg@20", "valid recall@20"}


def test_goldens_from_existing_results_run_nothing_and_skip_incomplete_groups(tmp_path, monkeypatch, capsys):
    from dppmg.infra.results import make_result, write_result

    def never(*args, **kwargs):
        raise AssertionError("--from-existing must not run the suite")

    monkeypatch.setattr(goldens, "suite_results", never)
    folder = tmp_path / "runs" / "small" / "preference"
    for method, seeds in (("dppmg", (0, 1, 2)), ("lightgcn", (0, 1))):
        for seed in seeds:
            r = preference_result(method, seed, 0.3 + 0.01 * seed)
            write_result(folder / f"synthetic__{method}__seed{seed}.json",
                         make_result("preference", "synthetic", method, "small", seed, r["metrics"], {}, []))
    assert main(["goldens", "--preset", "small", "--update", "--suite", "preference", "--from-existing",
                 "--results-dir", str(tmp_path), "--goldens-dir", str(tmp_path / "goldens")]) == 0
    assert "preference synthetic lightgcn: seeds [0, 1] of [0, 1, 2]; left out" in capsys.readouterr().err
    rows, meta = read_goldens("small", tmp_path / "goldens")
    assert set(rows["method"]) == {"dppmg"} and meta["suite"] == "preference"
    assert sum(meta["results_computed_at"].values()) == 3
    with pytest.raises(DPPMGError, match="no complete small results of suite 'evaluation'"):
        goldens.update("small", results_dir=tmp_path, goldens_dir=tmp_path / "g2", suite="evaluation",
                       from_existing=True)
