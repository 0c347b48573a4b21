"""The papermill harness: notebooks run, JSON results are validated, tables are built from them."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from benchmark import harness
from benchmark.harness import NOTEBOOK_DIR, run_suite
from dppmg.errors import ConfigError, DPPMGError
from dppmg.results import read_result


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory, session_cache):
    out = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPPMG_CACHE_DIR", str(session_cache))
        written = run_suite("data", "smoke", datasets=["synthetic"], results_dir=out, log=lambda m: None)
    return out, written


def test_tables_come_from_the_results(suite_run):
    out, written = suite_run
    result = read_result(out / "runs/smoke/dataset_stats/synthetic__-__seed0.json", stage="dataset_stats")
    table = pd.read_csv(out / "smoke/dataset_stats.csv")
    row = table.set_index("dataset").loc["synthetic"]
    assert row["users"] == result["metrics"]["users"]
    assert row["train interactions"] == result["metrics"]["split_interactions"]["train"]
    assert "Do not edit by hand" in written["dataset_stats"].read_text()
    feats = pd.read_csv(out / "smoke/features.csv")
    assert set(feats["modality"]) == {"text", "image"} and set(feats["dim"]) == {384, 1280}


def test_results_carry_provenance(suite_run):
    out, _ = suite_run
    result = json.loads((out / "runs/smoke/features/synthetic__-__seed0.json").read_text())
    prov = result["provenance"]
    assert prov["seed"] == 0 and prov["config"]["dataset"] == "synthetic"
    assert {"git_sha", "git_dirty", "packages", "device", "wall_time_s", "peak_rss_mb"} <= set(prov)
    assert prov["packages"]["torch"]


def test_executed_notebooks_are_kept(suite_run):
    out, _ = suite_run
    nb = nbformat.read(out / "runs/smoke/dataset_stats/synthetic__-__seed0.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'dataset = "synthetic"' in injected[0].source
    assert (out / "smoke/figures/synthetic_items.png").stat().st_size > 1000
    assert (out / "smoke/figures/timing_data.png").is_file()


def test_resume_reuses_valid_results(suite_run, monkeypatch):
    out, _ = suite_run

    def no_execution(*a, **k):
        raise AssertionError("executed although a valid result exists")

    monkeypatch.setattr(harness, "execute_stage", no_execution)
    run_suite("data", "smoke", datasets=["synthetic"], results_dir=out, resume=True, log=lambda m: None)


def test_tables_only_executes_nothing_and_lists_missing_runs(suite_run, monkeypatch):
    out, _ = suite_run

    def no_execution(*a, **k):
        raise AssertionError("--tables-only executed a notebook")

    monkeypatch.setattr(harness, "execute_stage", no_execution)
    messages: list[str] = []
    written = run_suite("data", "smoke", datasets=["synthetic"], seeds=[0, 7], results_dir=out, tables_only=True,
                        log=messages.append)
    assert "dataset_stats" in written
    assert any("seed 7: no result, left out of the tables" in m for m in messages)


def test_notebooks_are_thin():
    for path in NOTEBOOK_DIR.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "def " not in code and "class " not in code, f"{path.name} defines logic"


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unknown suite 'everything'"):
        run_suite("everything", "smoke")
    with pytest.raises(ConfigError, match="unknown dataset 'imdb'"):
        run_suite("data", "smoke", datasets=["imdb"])


def test_result_validation(tmp_path, suite_run):
    out, _ = suite_run
    good = json.loads((out / "runs/smoke/features/synthetic__-__seed0.json").read_text())
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**good, "schema": "dppmg.result/v0"}))
    with pytest.raises(DPPMGError, match=r"old\.json: schema 'dppmg.result/v0'"):
        read_result(old)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(good))
    with pytest.raises(DPPMGError, match="for dataset 'synthetic', expected 'hm'"):
        read_result(other, dataset="hm")


def test_generation_suite_at_smoke(tmp_path, session_cache):
    import os

    written = run_suite("generation", "smoke", datasets=["synthetic"], results_dir=tmp_path, log=lambda m: None)
    result = read_result(tmp_path / "runs/smoke/generation/synthetic__dppmg__seed0.json", stage="generation")
    m = result["metrics"]
    assert m["users"] == len(m["user_ids"]) == len(m["image"]["per_user_difference"])
    assert set(m["ground_truth"]) == {"own_tokens", "shuffled_tokens"}
    table = pd.read_csv(tmp_path / "smoke/personalization.csv")
    assert set(table["modality"]) == {"image", "text"}
    row = table.set_index("modality").loc["text"]
    assert str(row["users own > other"]) == str(m["text"]["users_own_closer"])
    assert "synthetic_attributes" in written
    for figure in m["figures"]:
        assert os.path.getsize(figure) > 1000
    assert {t["stage"] for t in result["provenance"]["timings"]} >= {"stage2_train_or_load", "generate"}


def test_evaluation_suite_at_smoke(tmp_path, session_cache):
    from dppmg.registry import method_names

    written = run_suite("evaluation", "smoke", datasets=["synthetic"], seeds=[0], results_dir=tmp_path,
                        log=lambda m: None)
    table = pd.read_csv(tmp_path / "smoke/generation.csv").set_index("method")
    assert list(table.index) == method_names(suite="evaluation")
    assert list(table.index)[:3] == ["nonpersonalized", "dppmg-no-reward", "dppmg"]
    result = read_result(tmp_path / "runs/smoke/evaluation/synthetic__dppmg__seed0.json", stage="evaluation")
    mean = result["metrics"]["consistency"]["evaluator"]["mean"]
    assert table.loc["dppmg", "consistency (evaluator)"].startswith(f"{mean:.4f}")
    paired = pd.read_csv(tmp_path / "smoke/reward_vs_stage2.csv")
    assert "consistency (evaluator)" in set(paired["metric"])
    assert set(pd.read_csv(tmp_path / "smoke/alignment_models.csv")["model"]) == {"reward", "evaluator"}
    assert (tmp_path / "smoke/figures/reward_curves_synthetic_dppmg_seed0.png").is_file()
    for method in table.index:
        assert (tmp_path / f"smoke/figures/evaluation_synthetic_{method}_seed0.png").stat().st_size > 1000
    personal = pd.read_csv(tmp_path / "smoke/personalization_by_method.csv")
    assert set(personal["method"]) == set(table.index) and set(personal["modality"]) == {"image", "text"}
    assert "timing_evaluation" in written
