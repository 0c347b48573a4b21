"""No training stage reads the test split: perturbing the test interactions leaves every trained
output unchanged (Stage 1's model and tokens, Stage 2's token embeddings, the reward fine-tuning,
both alignment models and the preference evaluator)."""

from __future__ import annotations

import numpy as np
import torch


def _train_everything(data, cache):
    from dppmg.config import alignment_config, preference_evaluator_config, reward_config, stage2_config
    from dppmg.data.features import extract_features
    from dppmg.evaluation.preference_evaluator import load_or_train_preference_evaluator
    from dppmg.generation.train import build_pipeline
    from dppmg.infra.seeding import seed_everything
    from dppmg.preference.checkpoint import load_stage1, save_stage1
    from dppmg.preference.train import run_stage1
    from dppmg.registry import resolve_stage1
    from dppmg.reward.alignment import alignment_features, load_or_train_alignment
    from dppmg.reward.finetune import fine_tune_with_reward
    from dppmg.reward.objective import PreferenceReward

    stage1 = run_stage1(data, extract_features(data, cache_dir=cache, progress=False),
                        resolve_stage1("synthetic", "smoke", 0, "dppmg"), seed_everything(0).torch, progress=False)
    checkpoint = load_stage1(save_stage1(stage1, data, cache / "stage1"), data)
    pipe = build_pipeline(data, checkpoint, stage2_config("smoke", "synthetic"), seed_everything(0).torch,
                          cache_dir=cache, progress=False)
    out = {"stage1 model": stage1.fit.model.state_dict(), "tokens": checkpoint.tokens,
           "stage2 text tokens": pipe.text_tokens.weight.detach().clone(),
           "stage2 image tokens": pipe.image_tokens.weight.detach().clone()}
    models = {}
    for role in ("reward", "evaluator"):
        models[role], _ = load_or_train_alignment(data, alignment_config(role, "smoke"), cache, progress=False)
        out[f"{role} model"] = models[role].state_dict()
    image_feats, text_feats = alignment_features(data, cache, progress=False)
    config = reward_config("smoke")
    fine_tune_with_reward(pipe, data, PreferenceReward(models["reward"], data, image_feats, text_feats, config),
                          config, torch.Generator().manual_seed(0), progress=False)
    out["reward text tokens"] = pipe.text_tokens.weight.detach().clone()
    out["reward image tokens"] = pipe.image_tokens.weight.detach().clone()
    preference = load_or_train_preference_evaluator(data, preference_evaluator_config("smoke"), cache,
                                                    progress=False, report_test=False)
    out["preference evaluator"] = preference.model.state_dict()
    return out


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def test_perturbing_the_test_interactions_changes_no_trained_output(smoke_synthetic, tmp_path):
    data = smoke_synthetic
    interactions = data.interactions.copy()
    test = (interactions["split"] == "test").to_numpy()
    rng = np.random.default_rng(0)
    # Every test interaction now points at another, random item.
    interactions.loc[test, "item"] = rng.integers(0, data.num_items, int(test.sum()))
    interactions.loc[test, "item_id"] = data.items["item_id"].to_numpy()[interactions.loc[test, "item"]]
    perturbed = data.replace(interactions=interactions)
    assert not np.array_equal(perturbed.user_item_pairs("test"), data.user_item_pairs("test"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # multithreaded sums vary in the last bits between runs; one thread does not
    try:
        original = _train_everything(data, tmp_path / "original")
        again = _train_everything(perturbed, tmp_path / "perturbed")
    finally:
        torch.set_num_threads(threads)
    changed = [name for name in original if not _equal(original[name], again[name])]
    assert not changed, f"perturbing the test split changed {changed}"
