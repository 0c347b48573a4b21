"""Stage 3 at smoke: the reward, and fine-tuning that touches only the token embeddings."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from dppmg.config import reward_config
from dppmg.errors import ConfigError, DPPMGError
from dppmg.reward.alignment import alignment_features
from dppmg.reward.finetune import fine_tune_with_reward
from dppmg.reward.objective import PreferenceReward


@pytest.fixture(scope="module")
def stage2(smoke_stage2):
    return smoke_stage2


@pytest.fixture(scope="module")
def alignment(smoke_alignment):
    return smoke_alignment


def test_reward_rejects_the_evaluator(stage2, alignment, session_cache):
    _, data = stage2
    _, evaluator, _, _ = alignment
    img, txt = alignment_features(data, session_cache, progress=False)
    with pytest.raises(DPPMGError, match="not the 'evaluator'"):
        PreferenceReward(evaluator, data, img, txt, reward_config("smoke"))


def test_fine_tuning_changes_only_token_embeddings(stage2, alignment, session_cache):
    pipe, data = stage2
    reward_model, _, _, _ = alignment
    img, txt = alignment_features(data, session_cache, progress=False)
    config = reward_config("smoke", steps=3, group_size=4, max_new_tokens=12, text_lr=0.05, image_lr=0.05)
    tuned = copy.copy(pipe)
    tuned.text_tokens, tuned.image_tokens = copy.deepcopy(pipe.text_tokens), copy.deepcopy(pipe.image_tokens)
    frozen = {name: [p.detach().clone() for p in module.parameters()]
              for name, module in (("lm", pipe.text_model), ("unet", pipe.image_backbone.unet),
                                   ("minilm", pipe.image_backbone.conditioner.model), ("reward", reward_model))}
    curves = fine_tune_with_reward(tuned, data, PreferenceReward(reward_model, data, img, txt, config), config,
                                   torch.Generator().manual_seed(0), progress=False)
    assert len(curves["reward"]) == config.steps and np.isfinite(curves["reward"]).all()
    assert not torch.equal(tuned.text_tokens.weight, pipe.text_tokens.weight)
    assert not torch.equal(tuned.image_tokens.weight, pipe.image_tokens.weight)
    for name, module in (("lm", pipe.text_model), ("unet", pipe.image_backbone.unet),
                         ("minilm", pipe.image_backbone.conditioner.model), ("reward", reward_model)):
        for before, after in zip(frozen[name], module.parameters()):
            assert torch.equal(before, after), f"{name} changed"
    # The KL penalty's reference is the Stage 2 model: for a user whose text tokens moved, the
    # log-probabilities of a sample differ between the tuned and the reference token embeddings.
    from dppmg.reward.finetune import sequence_log_probs

    moved = {t for t, row_moved in zip(tuned.text_tokens.tokens,
                                        (tuned.text_tokens.weight != pipe.text_tokens.weight).any(1)) if row_moved}
    user = next(u for u in data.users["user_id"].astype(str) if moved & set(tuned.tokens_for(u)["text"]))
    prompts, samples = tuned.sample_text_ids([user], seed=0, max_new_tokens=6)
    logp, _ = sequence_log_probs(tuned, prompts[0], samples[0])
    ref_logp, _ = sequence_log_probs(tuned, prompts[0], samples[0], pipe.text_tokens)
    assert not torch.allclose(logp, ref_logp)


def test_fine_tuning_when_the_image_reads_the_generated_text(stage2, alignment, session_cache, monkeypatch):
    import dataclasses

    import dppmg.reward.finetune as reward_module

    pipe, data = stage2
    img, txt = alignment_features(data, session_cache, progress=False)
    config = reward_config("smoke", steps=1, group_size=3, max_new_tokens=8)
    tuned = copy.copy(pipe)
    tuned.text_tokens, tuned.image_tokens = copy.deepcopy(pipe.text_tokens), copy.deepcopy(pipe.image_tokens)
    tuned.config = dataclasses.replace(pipe.config, image_sees_generated_text=4)
    prompts, reads_text = [], []
    monkeypatch.setattr(tuned, "image_condition", lambda p: prompts.extend(p) or pipe.image_condition(p))
    real_text_reward = reward_module.text_reward
    monkeypatch.setattr(reward_module, "text_reward", lambda terms, c, flag: reads_text.append(flag)
                        or real_text_reward(terms, c, flag))
    curves = fine_tune_with_reward(tuned, data, PreferenceReward(alignment[0], data, img, txt, config), config,
                                   torch.Generator().manual_seed(0), progress=False)
    assert np.isfinite(curves["reward"]).all() and reads_text == [True]
    # Each user's image prompt is their image tokens followed by words of their first sampled text.
    assert len(prompts) == config.users_per_step
    assert all(len(p.split()) > len(tuned.tokens_for(next(iter(tuned.token_table)))["image"]) for p in prompts)


def test_refl_prediction_carries_the_gradient_to_the_condition(stage2):
    from dppmg.generation.image_backbone import ddim_sample

    pipe, data = stage2
    backbone = pipe.image_backbone
    user = str(data.users["user_id"].iloc[0])
    cond = pipe.image_condition([pipe.image_prompt(user)])
    hidden = cond.hidden.detach().requires_grad_(True)
    cond = type(cond)(hidden=hidden, mask=cond.mask, pooled=cond.pooled)
    steps = 4
    x0 = ddim_sample(backbone.unet, cond, backbone.uncond(), backbone.config, torch.Generator().manual_seed(0),
                     steps=steps, predict_x0_at=2)
    assert x0.shape == (1, 3, backbone.config.height, backbone.config.width)
    x0.sum().backward()
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="outside the 4 sampling steps"):
        ddim_sample(backbone.unet, cond, backbone.uncond(), backbone.config, torch.Generator().manual_seed(0),
                    steps=steps, predict_x0_at=steps)


def test_population_baseline_rewards_own_history_over_the_average_users(stage2, alignment, session_cache):
    _, data = stage2
    reward_model = alignment[0]
    img, txt = alignment_features(data, session_cache, progress=False)
    plain = PreferenceReward(reward_model, data, img, txt, reward_config("smoke"))
    relative = PreferenceReward(reward_model, data, img, txt,
                                reward_config("smoke", personalization_baseline="population"))
    users = data.users["user_id"].tolist()[:6]
    histories = data.items_by_user(users, "train")
    # Each user's own history mean: high plain similarity for everyone; the relative term must
    # still rank a user's own history mean above another user's.
    own = torch.as_tensor(np.stack([img[h].mean(0) for h in histories]), dtype=torch.float32)
    own_txt = torch.as_tensor(np.stack([txt[h].mean(0) for h in histories]), dtype=torch.float32)
    mine = relative(own, own_txt, users)
    theirs = relative(own, own_txt, users[1:] + users[:1])
    assert (mine["image_personalization"] > theirs["image_personalization"]).all()
    assert (mine["text_personalization"] > theirs["text_personalization"]).all()
    # The catalogue's average output is no closer to anyone than to the average user.
    average = torch.as_tensor(img.mean(0, keepdims=True), dtype=torch.float32).repeat(len(users), 1)
    average_txt = torch.as_tensor(txt.mean(0, keepdims=True), dtype=torch.float32).repeat(len(users), 1)
    assert plain(average, average_txt, users)["image_personalization"].min() > 0.1
    assert relative(average, average_txt, users)["image_personalization"].abs().max() < 0.05
    shift = plain(own, own_txt, users)["image_personalization"] - mine["image_personalization"]
    assert torch.allclose(shift, (torch.nn.functional.normalize(own, dim=-1)
                                  * (plain.image_history - relative.image_history)[0]).sum(-1), atol=1e-5)


def test_text_reward_leaves_consistency_out_when_the_image_reads_the_text():
    from dppmg.reward.finetune import text_reward

    terms = {"consistency": torch.tensor([0.5, -0.5]), "image_personalization": torch.tensor([0.1, 0.1]),
             "text_personalization": torch.tensor([0.2, 0.4])}
    config = reward_config("smoke", consistency_weight=2.0)
    terms["reward"] = 2.0 * terms["consistency"] + terms["image_personalization"] + terms["text_personalization"]
    without = terms["image_personalization"] + terms["text_personalization"]
    assert torch.allclose(text_reward(terms, config, image_reads_text=False), terms["reward"])
    assert torch.allclose(text_reward(terms, config, image_reads_text=True), without)
    on, off = reward_config("smoke", text_consistency="on"), reward_config("smoke", text_consistency="off")
    assert torch.allclose(text_reward({**terms, "reward": terms["reward"] - terms["consistency"]}, on, True),
                          terms["reward"] - terms["consistency"])
    assert torch.allclose(text_reward({**terms, "reward": without + terms["consistency"]}, off, False), without)


@pytest.mark.parametrize("bad", [{"image_gradient": "ddpo"}, {"refl_window": (0.9, 0.5)}, {"refl_window": (0.2, 1.0)},
                                 {"personalization_baseline": "others"}, {"text_consistency": "sometimes"},
                                 {"image_consistency_text": "first"}])
def test_reward_config_rejects_bad_image_gradient_settings(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        reward_config("small", **bad)


def test_reward_cache_follows_the_image_sampling_settings(stage2, tmp_path):
    # Stage 2's folder leaves the sampling settings out, but the fine-tuning samples with them:
    # a fine-tuning at another guidance scale must not be read back from the cache.
    from pathlib import Path

    from dppmg.reward.finetune import image_sampling_settings, reward_dir

    pipe, _ = stage2
    sampling = image_sampling_settings(pipe)
    assert set(sampling) == {"guidance_scale", "sample_eta"}  # the fine-tuning's DDIM steps are its own
    assert sampling["guidance_scale"] == pipe.image_backbone.config.guidance_scale
    args = (Path(pipe.meta["folder"]), reward_config("smoke"), 0, tmp_path)
    here = reward_dir(*args, image_sampling=sampling)
    assert reward_dir(*args, image_sampling=dict(reversed(list(sampling.items())))) == here
    assert reward_dir(*args, image_sampling={**sampling, "guidance_scale": sampling["guidance_scale"] + 3}) != here
    assert reward_dir(Path(pipe.meta["folder"]), reward_config("smoke", sample_steps=4), 0, tmp_path,
                      image_sampling=sampling) != here


def test_image_consistency_target_is_the_read_sample_only_when_asked_and_read():
    from dppmg.reward.finetune import image_consistency_target

    feats = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)  # 2 users, G = 3 texts
    mean, read = reward_config("small"), reward_config("small", image_consistency_text="read")
    assert mean.image_consistency_text == "mean"
    assert torch.equal(image_consistency_target(feats, mean, True), feats.mean(1))
    assert torch.equal(image_consistency_target(feats, read, True), feats[:, 0])
    assert torch.equal(image_consistency_target(feats, read, False), feats.mean(1))
