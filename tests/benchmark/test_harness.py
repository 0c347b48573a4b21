"""The papermill harness: notebooks run, JSON results are validated, tables are built from them."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from benchmark import executors
from benchmark.executors import NOTEBOOK_DIR
from benchmark.harness import run_suite
from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.results import read_result


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

    monkeypatch.setattr(executors, "execute_stage", no_execution)
    run_suite("data", "smoke", datasets=["synthetic"], results_dir=out, resume=True, log=lambda m: None)


def test_tables_only_executes_nothing_and_lists_missing_runs(suite_run, monkeypatch):
    out, _ = suite_run

    def no_execution(*a, **k):
        raise AssertionError("--tables-only executed a notebook")

    monkeypatch.setattr(executors, "execute_stage", no_execution)
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


def test_evaluation_suite_at_smoke(tmp_path, session_cache):
    # Through notebooks in a pool of two processes: cells build the shared backbones and Stage 1
    # model under the cache's file locks (the first builds, the other waits and loads).
    from dppmg.registry import get_spec, method_names

    # Every method but the ablations that retrain Stage 1 or 2 (the common tests in
    # tests/test_methods.py and CI's metric check run those): this test is about the harness.
    methods = [m for m in method_names(suite="evaluation") if get_spec(m).kind != "ablation" or m == "dppmg-no-reward"]
    written = run_suite("evaluation", "smoke", datasets=["synthetic"], seeds=[0], methods=methods,
                        results_dir=tmp_path, executor="pool", workers=2, progress=False, log=lambda m: None)
    table = pd.read_csv(tmp_path / "smoke/generation.csv").set_index("method")
    assert list(table.index) == methods
    assert list(table.index)[0] == "nonpersonalized"
    assert {"lamp", "pmg", "pepler", "textual-inversion", "retrieval", "dppmg-no-reward", "dppmg"} <= set(table.index)
    result = read_result(tmp_path / "runs/smoke/evaluation/synthetic__dppmg__seed0.json", stage="evaluation")
    mean = result["metrics"]["consistency"]["evaluator"]["mean"]
    assert float(table.loc["dppmg", "consistency (evaluator)"]) == pytest.approx(mean, abs=1e-4)  # one seed: no ± std
    assert set(pd.read_csv(tmp_path / "smoke/measurability.csv")["cell"]) >= {"consistency",
                                                                               "personalization/image/targets"}
    personal = pd.read_csv(tmp_path / "smoke/personalization.csv")
    assert set(personal["method"]) == set(table.index) and set(personal["view"]) == {"targets", "history", "evaluator"}
    assert set(pd.read_csv(tmp_path / "smoke/alignment_models.csv")["model"]) == {"reward", "evaluator"}
    assert set(pd.read_csv(tmp_path / "smoke/preference_evaluator.csv")["split"]) == {"valid", "test"}
    assert (tmp_path / "smoke/figures/reward_curves_synthetic_dppmg_seed0.png").is_file()
    for method in table.index:
        assert (tmp_path / f"smoke/figures/evaluation_synthetic_{method}_seed0.png").stat().st_size > 1000
    claims = pd.read_csv(tmp_path / "smoke/claims.csv")
    assert "the reward raises cross-modal consistency" in set(claims["claim"])
    assert set(claims["verdict"]) <= {"reproduced", "contradicted", "inconclusive", "not measurable", "missing"}
    assert {"timing_evaluation", "claims", "reward_vs_stage2", "ablation"} <= set(written)
    ablation = pd.read_csv(tmp_path / "smoke/ablation.csv").set_index("variant")
    assert list(ablation.index) == ["dppmg", "dppmg-no-reward"]  # the variants with runs
    assert "the graph helps" in set(claims["claim"])  # a component row, "missing" without its ablation


def test_selection_suite_at_smoke(tmp_path, session_cache):
    written = run_suite("selection", "smoke", datasets=["synthetic"], results_dir=tmp_path, log=lambda m: None)
    assert {"selection_preference_dim", "selection_image_guidance_scale", "selection_image_sampler"} <= set(written)
    dims = pd.read_csv(tmp_path / "smoke/selection_preference_dim.csv")
    assert list(dims["candidate"]) == [16, 32] and (dims["chosen"] == "yes").sum() == 1
    best = dims.loc[dims.iloc[:, 3].idxmax(), "candidate"]
    assert dims.set_index("candidate").loc[best, "chosen"] == "yes"
    # One cell per group of settings: Stage 1's dimension, then the image sampling settings.
    groups = {}
    for group in ("preference", "sampling", "reward", "budget"):
        result = read_result(tmp_path / f"runs/smoke/selection/synthetic__{group}__seed0.json", stage="selection")
        groups[group] = {s["setting"] for s in result["metrics"]["selections"]}
        assert all(s["seed"] == 0 for s in result["metrics"]["selections"])
    assert groups == {"preference": {"preference.dim"}, "sampling": {"image.guidance_scale", "image.sampler"},
                      "reward": {"reward.weights"},
                      "budget": {"stage2.text_early_stopping", "stage2.image_early_stopping"}}
    # Early stopping is chosen only where it keeps the full budget's step: no generation changes.
    for modality in ("text", "image"):
        budget = pd.read_csv(tmp_path / f"smoke/selection_stage2_{modality}_early_stopping.csv")
        assert budget.loc[0, "candidate"].startswith("full budget") and budget.loc[0, "configured"] == "yes"
        chosen = budget[budget["chosen"] == "yes"]
        assert len(chosen) == 1 and chosen["kept step"].iloc[0] == budget.loc[0, "kept step"]
        assert chosen["steps trained"].iloc[0] == budget.loc[budget["acceptable"], "steps trained"].min()
    # The reward weights: the configured ones are the reference and first; the choice is acceptable.
    weights = pd.read_csv(tmp_path / "smoke/selection_reward_weights.csv")
    assert list(weights["candidate"]) == ["a=1, b=1, c=1", "a=2, b=1, c=1", "a=1, b=2, c=2"]
    assert weights.loc[0, "configured"] == "yes" and (weights["chosen"] == "yes").sum() == 1
    assert bool(weights.loc[weights["chosen"] == "yes", "acceptable"].iloc[0])


def test_sensitivity_suite_at_smoke(tmp_path, session_cache, monkeypatch):
    import dppmg.experiments.sensitivity_generation as generation_sweep

    # Two generation points keep the test short (inline: the patch reaches the stage function);
    # the codebook sweep runs its whole grid.
    original = generation_sweep.codebook_generation_sweep
    monkeypatch.setattr(generation_sweep, "codebook_generation_sweep",
                        lambda *a, **k: original(*a, sizes=(8,), depths=(1,), **k))
    written = run_suite("sensitivity", "smoke", datasets=["synthetic"], results_dir=tmp_path, runner="inline",
                        log=lambda m: None)
    assert {"sensitivity", "sensitivity_generation", "sensitivity_synthetic"} <= set(written)
    grid = pd.read_csv(tmp_path / "smoke/sensitivity.csv")
    assert sorted(set(grid["codebook_size"])) == [8, 32, 128] and sorted(set(grid["levels"])) == [1, 2, 3, 4]
    collisions = grid.set_index(["codebook_size", "levels"])["collision rate"].astype(float)
    assert collisions.loc[(128, 4)] <= collisions.loc[(8, 1)]  # more codes, fewer users share all of theirs
    generation = pd.read_csv(tmp_path / "smoke/sensitivity_generation.csv")
    assert list(zip(generation["varied"], generation["codebook_size"], generation["levels"])) == [
        ("codebook_size", 8, 2), ("levels", 16, 1)]
    result = read_result(tmp_path / "runs/smoke/sensitivity/synthetic__generation__seed0.json", stage="sensitivity")
    assert result["metrics"]["split"] == "valid"  # a description of the method: the test split is not read
    assert (tmp_path / "smoke/figures/sensitivity_synthetic.png").stat().st_size > 1000


def test_table_note_names_the_commits_its_results_came_from():
    from benchmark.outputs import result_commits, table_note as _note

    runs = [{"provenance": {"git_sha": "a" * 40, "git_dirty": False}},
            {"provenance": {"git_sha": "a" * 40, "git_dirty": False}},
            {"provenance": {"git_sha": "b" * 40, "git_dirty": True}}]
    assert result_commits(runs) == {"a" * 10: 2, "b" * 10 + " (dirty)": 1}
    note = _note("evaluation", "small", runs)
    assert "from 3 result file(s)" in note
    assert f"Results computed at {'a' * 10} (2), {'b' * 10} (dirty) (1)." in note


def test_missing_cells_are_summarized_per_dataset_and_failures_listed_with_their_log():
    from benchmark.outputs import summarize_missing

    text = summarize_missing(["[evaluation] synthetic lamp seed 0 (no result)",
                              "[evaluation] synthetic lamp seed 1 (no result)",
                              "[evaluation] synthetic pmg seed 0 (no result)",
                              "[evaluation] hm pmg seed 2 (failed; log: runs/x.log)"])
    assert text == ("[evaluation] synthetic, no result: lamp (seeds 0, 1), pmg (seed 0); "
                    "[evaluation] hm pmg seed 2 (failed; log: runs/x.log)")
