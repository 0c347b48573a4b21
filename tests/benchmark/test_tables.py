"""Table builders turn result files into the published tables."""

from __future__ import annotations

import pytest

from benchmark.formatting import mean_std
from benchmark.tables import VS_STRONGEST, preference_tables
from dppmg.preference.train import fit_and_save
from dppmg.registry import resolve_stage1


@pytest.fixture(scope="module")
def runs(session_cache):
    out = []
    for method in ("popularity", "dppmg"):
        for seed in (0, 1):
            record, _ = fit_and_save(resolve_stage1("synthetic", "smoke", seed, method), cache_dir=session_cache, progress=False)
            out.append(record)
    return out


def test_ranking_table_is_mean_and_std_of_the_runs(runs):
    tables = preference_tables(runs)
    table = tables["ranking_synthetic"].set_index("method")
    dppmg = [r["metrics"]["test"]["recall@20"] for r in runs if r["method"] == "dppmg"]
    assert table.loc["dppmg", "test recall@20"] == mean_std(dppmg)
    assert table.loc["dppmg", "seeds"] == 2
    assert table.loc["dppmg", VS_STRONGEST].startswith("popularity: Δ=")
    assert set(tables) >= {"ranking", "quantizer", "synthetic_probes", "synthetic_divergence"}


def test_mean_std_format():
    assert mean_std([1.0, 3.0]) == "2.0000 ± 1.4142"
    assert mean_std([0.5]) == "0.5000"  # one seed: no "± 0"


def _test(values: list[float], users: list[int], p: float) -> dict:
    """A matching-test result as the evaluation writes it (only the fields the tables read)."""
    return {"statistic": float(sum(values) / len(values)), "p": p, "p_less": 1 - p, "auc": 0.6, "users": len(users),
            "user_index": users, "per_user": {"centred_own": values, "auc": [0.6] * len(values)}}


def _evaluation_run(method: str, seed: int, users: list[str], consistency: list[float], p: float = 0.01) -> dict:
    """The fields of a results JSON of ``dppmg evaluate`` that the evaluation tables read."""
    per_user = {"mean": sum(consistency) / len(consistency), "per_user": consistency}
    test = _test(consistency, list(range(len(users))), p)
    return {"dataset": "synthetic", "method": method, "seed": seed, "metrics": {
        "users": users, "split": "test",
        "personalization": {m: {v: test for v in ("targets", "history", "evaluator")} for m in ("image", "text")},
        "consistency": {"evaluator": per_user, "reward_model": per_user, "matching_unseen": test},
        "quality": {"kid": {"mean": 0.1, "std": 0.01}}, "diversity": {"distinct_2": 0.5},
        "alignment": {role: {"items": 1, "R@1": 0, "chance R@1": 0, "R@10": 0, "chance R@10": 0, "median rank": 1}
                      for role in ("reward", "evaluator")}}}


def test_reward_comparison_pairs_users_within_each_seed():
    from benchmark.tables import evaluation_tables

    # Seed 1 draws other users than seed 0, and user "a" is in both: each seed is tested on its
    # own users and the seeds are combined, never pooled.
    runs = [_evaluation_run("dppmg-no-reward", 0, ["a", "b", "c"], [0.0, 0.0, 0.0]),
            _evaluation_run("dppmg", 0, ["a", "b", "c"], [0.1, 0.3, 0.2]),
            _evaluation_run("dppmg-no-reward", 1, ["a", "d", "e"], [0.5, 0.5, 0.5]),
            _evaluation_run("dppmg", 1, ["a", "d", "e"], [0.4, 0.6, 0.5])]
    paired = evaluation_tables(runs)["reward_vs_stage2"].set_index("metric").loc["consistency (evaluator)"]
    assert paired["seeds"] == 2 and paired["users per seed"] == "3/3"
    assert paired["with reward - stage 2"] == "+0.1000 ± 0.1414"  # per seed +0.2 and +0.0


def test_unmeasurable_cells_are_marked_and_verdicts_need_every_seed():
    from benchmark.tables import evaluation_tables

    runs = [_evaluation_run("real-test-item", s, ["a", "b", "c"], [0.1, 0.2, 0.3], p=0.5) for s in (0, 1)]
    runs += [_evaluation_run("dppmg", s, ["a", "b", "c"], [0.1, 0.2, 0.3], p=0.001) for s in (0, 1)]
    tables = evaluation_tables(runs)
    measure = tables["measurability"].set_index("cell")
    assert measure.loc["personalization/image/targets", "measurable"] == "no"
    row = tables["generation"].set_index("method").loc["dppmg"]
    assert row["image personalization (targets)"] == "not measurable"
    verdicts = tables["personalization"].set_index(["method", "modality", "view"])["verdict"]
    assert verdicts.loc[("dppmg", "image", "targets")] == "not measurable"
    assert verdicts.loc[("real-test-item", "image", "targets")] == "not shown"


def test_a_claim_over_fewer_seeds_than_the_preset_runs_has_no_verdict_yet():
    from benchmark.claims import claims_table

    users = [f"u{i}" for i in range(12)]
    runs = []
    for seed in (0, 1):
        runs.append(_evaluation_run("dppmg-no-reward", seed, users, [0.0] * 12))
        runs.append(_evaluation_run("dppmg", seed, users, [0.1 + 0.01 * i for i in range(12)]))

    def consistency_row(seeds_required):
        table = claims_table([], runs, seeds_required=seeds_required).set_index("claim")
        return table.loc["the reward raises cross-modal consistency"]

    assert consistency_row(2)["verdict"] == "reproduced"
    row = consistency_row(3)
    assert row["verdict"] == "inconclusive" and row["note"].startswith("2 of 3 seeds so far")


def _baseline_runs(values: dict[str, list[float]], seeds=(0, 1, 2)) -> list[dict]:
    users = [f"u{i}" for i in range(12)]
    return [_evaluation_run(method, seed, users, [v + 0.001 * seed for v in vals])
            for method, vals in values.items() for seed in seeds]


def test_main_table_marks_the_best_generator_and_the_other_modality_of_a_unimodal_baseline():
    from benchmark.tables import STRONGEST_BASELINE_ROW, main_table

    runs = _baseline_runs({"dppmg": [0.3 + 0.01 * i for i in range(12)], "pepler": [0.2] * 12,
                           "pmg": [0.1 + 0.02 * (i % 3) for i in range(12)], "nonpersonalized": [0.0] * 12,
                           "real-test-item": [0.5] * 12})
    table = main_table(runs).set_index("method")
    text, image = "text personalization (targets)", "image personalization (targets)"
    assert table.loc["pepler", image] == "n/a" and table.loc["pmg", text] == "n/a"
    assert table.loc["dppmg", text].startswith("**")  # the best generator; the reference is not a generator
    assert not table.loc["real-test-item", text].startswith("**")
    diff = table.loc[STRONGEST_BASELINE_ROW]
    assert " vs pepler " in diff[text] and " vs pmg " in diff[image]
    assert diff[text].startswith("+0.1")  # per user 0.3 + 0.01 i - 0.2, averaged


def test_claims_compare_dppmg_with_the_best_unimodal_baseline_and_the_two_model_pairs():
    from benchmark.claims import claims_table

    runs = _baseline_runs({"dppmg": [0.3 + 0.01 * i for i in range(12)], "pepler": [0.2] * 12,
                           "lamp": [0.25 + 0.01 * i for i in range(12)], "pmg": [0.5 + 0.01 * i for i in range(12)],
                           "lamp+pmg": [0.0 + 0.01 * i for i in range(12)]})
    table = claims_table([], runs, seeds_required=3).set_index(["claim", "modality"])
    text = table.loc[("DPPMG's texts are more personalized than the best unimodal baseline", "text")]
    assert text["comparison"] == "dppmg - lamp" and text["verdict"] == "reproduced"
    image = table.loc[("DPPMG's images are more personalized than the best unimodal baseline", "image")]
    assert image["comparison"] == "dppmg - pmg" and image["verdict"] == "contradicted"
    pairs = table.loc[("DPPMG is more consistent than two separate models", "-")].set_index("comparison")
    assert pairs.loc["dppmg - lamp+pmg", "verdict"] == "reproduced"
    # A registered pair without runs still has its row, so the table says what is left to run.
    missing = pairs.loc["dppmg - pepler+textual-inversion"]
    assert missing["verdict"] == "missing" and missing["note"] == "no runs of pepler+textual-inversion"


def test_sample_grid_shows_the_same_users_across_methods(tmp_path):
    from PIL import Image

    from benchmark.figures import sample_grids
    from dppmg.evaluation.evaluate import decode_samples, encode_samples

    users = ["a", "b", "c"]
    colour = {"dppmg": (200, 0, 0), "pmg": (0, 200, 0), "lamp": (0, 0, 200)}
    runs = []
    for method, rgb in colour.items():
        run = _evaluation_run(method, 0, users, [0.1, 0.2, 0.3])
        sampled = users if method != "lamp" else ["x", "y", "z"]
        run["metrics"]["samples"] = encode_samples(
            [{"user_id": u, "text": f"{method} text", "image": Image.new("RGB", (32, 48), rgb)} for u in sampled])
        runs.append(run)
    decoded = decode_samples(runs[0])
    assert [s["user_id"] for s in decoded] == users and tuple(decoded[0]["image"][0, 0]) == colour["dppmg"]
    logged = []
    paths = sample_grids(runs, "smoke", tmp_path, log=logged.append)
    assert [p.name for p in paths] == ["samples_synthetic.png", "samples_synthetic.md"] and paths[0].stat().st_size > 0
    page = paths[1].read_text()  # the companion page: every method's full text beside its image, per user
    assert page.count("## user ") == len(users) and "| dppmg | ![dppmg](" in page
    assert "dppmg text" in page and "pmg text" in page and "lamp" not in page
    link = page.split("| pmg | ![pmg](", 1)[1].split(")", 1)[0]
    assert (paths[1].parent / link).is_file() and (tmp_path / "samples_synthetic" / f"pmg_{users[0]}.png").is_file()
    assert any("lamp sampled other users" in m for m in logged)  # a method's row shows the same users or none
    for run in runs:  # files written before the samples kept their images: no grid, and a message
        run["metrics"]["samples"] = [{"user_id": s["user_id"], "text": s["text"]} for s in run["metrics"]["samples"]]
    assert sample_grids(runs, "smoke", tmp_path, log=logged.append) == [] and "no result file" in logged[-1]


def test_ablation_table_gives_each_variant_its_difference_to_full_dppmg():
    from benchmark.ablations import ablation_table

    runs = _baseline_runs({"dppmg": [0.3 + 0.01 * i for i in range(12)],
                           "dppmg-no-graph": [0.1 + 0.01 * i for i in range(12)],
                           "dppmg-continuous": [0.3 + 0.01 * i + (0.001 if i % 2 else -0.001) for i in range(12)],
                           "pepler": [0.2] * 12})
    table = ablation_table(runs).set_index("variant")
    assert list(table.index) == ["dppmg", "dppmg-no-graph", "dppmg-continuous"]  # baselines are not variants
    text = "text personalization (targets)"
    assert "Δ" not in table.loc["dppmg", text]
    assert "(Δ -0.2000, p=" in table.loc["dppmg-no-graph", text]
    assert table.loc["dppmg-no-graph", "override"] == "preference.modalities=('id',); preference.num_layers=0"
    assert table.loc["dppmg-no-graph", "taken away / changed"] == "the graph"
    p_continuous = float(table.loc["dppmg-continuous", text].split("p=")[1].rstrip(")"))
    assert p_continuous > 0.5  # no difference: a two-sided p far from significance


def test_component_claims_come_from_the_ablations():
    from benchmark.claims import claims_table

    runs = _baseline_runs({"dppmg": [0.3 + 0.01 * i for i in range(12)],
                           "dppmg-no-graph": [0.1 + 0.01 * i for i in range(12)],
                           "dppmg-shared": [0.5 + 0.01 * i for i in range(12)],
                           "dppmg-continuous": [0.3 + 0.01 * i for i in range(12)]})
    table = claims_table([], runs, seeds_required=3).set_index(["claim", "modality"])
    assert table.loc[("the graph helps", "image"), "verdict"] == "reproduced"
    assert table.loc[("modality-specific preferences help", "text"), "verdict"] == "contradicted"
    assert table.loc[("quantization does not cost personalization", "text"), "verdict"] == "reproduced"
    consistency = table.loc[("the consistency term raises consistency", "-")]
    assert consistency["verdict"] == "missing" and consistency["note"] == "no runs of dppmg-reward-no-consistency"


def test_best_unimodal_claim_needs_dppmg_to_beat_every_unimodal_baseline():
    from benchmark.claims import claims_table

    # DPPMG beats pepler in every seed but not lamp (same values, user noise only): not reproduced.
    noise = [0.01 * ((i * 7) % 5 - 2) for i in range(12)]
    runs = _baseline_runs({"dppmg": [0.3 + 0.01 * i for i in range(12)], "pepler": [0.1] * 12,
                           "lamp": [0.3 + 0.01 * i + e for i, e in zip(range(12), noise)]})
    table = claims_table([], runs, seeds_required=3).set_index(["claim", "modality"])
    text = table.loc[("DPPMG's texts are more personalized than the best unimodal baseline", "text")]
    assert text["verdict"] == "inconclusive" and text["comparison"] == "dppmg - lamp"
    assert text["note"].startswith("intersection-union test over lamp, pepler")
