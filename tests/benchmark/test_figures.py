"""Figures exist only for runs that exist: a rebuild removes the ones nothing on disk backs."""

from __future__ import annotations

from benchmark.figures import prune_figures


def test_figures_without_their_runs_are_removed_and_the_others_kept(tmp_path):
    runs = tmp_path / "runs" / "small"
    for stage, name in (("evaluation", "hm__dppmg__seed0"), ("preference", "hm__lightgcn__seed1"),
                        ("dataset_stats", "hm__-__seed0")):
        (runs / stage).mkdir(parents=True, exist_ok=True)
        (runs / stage / f"{name}.json").write_text("{}")
    figures = tmp_path / "small" / "figures"
    figures.mkdir(parents=True)
    kept = ["evaluation_hm_dppmg_seed0.png", "reward_curves_hm_dppmg_seed0.png", "preference_hm_lightgcn_seed1.png",
            "samples_hm.png", "hm_items.png", "timing_evaluation.png", "my_own_plot.png"]
    gone = ["evaluation_hm_dppmg_seed1.png", "evaluation_movielens_dppmg_seed0.png", "samples_movielens.png",
            "sensitivity_hm.png", "movielens_items.png", "timing_generation.png", "reward_curves_hm_seed0.png",
            "generation_hm_seed0.png", "hm_image_backbone.png"]
    for name in kept + gone:
        (figures / name).write_bytes(b"png")
    removed = prune_figures(tmp_path, "small", log=lambda _: None)
    assert sorted(p.name for p in removed) == sorted(gone)
    assert sorted(p.name for p in figures.iterdir()) == sorted(kept)
