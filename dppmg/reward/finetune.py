"""Stage 3: cross-modal consistent and personalized reward fine-tuning of the preference tokens.

The reward (:mod:`dppmg.reward.objective`) is R(u, x, y) = a · cons(x, y) + b · pers_img(x, u)
+ c · pers_txt(y, u), scored by the reward alignment model (:mod:`dppmg.reward.model`), never by
the evaluator. Only the preference-token embeddings change (the backbones, their LoRA and the
alignment model stay frozen). Each step takes a batch of users and

* **text** — samples a group of G texts per user from the current model, scores them with the
  image of that user held fixed, and follows the policy gradient with a group baseline
  (GRPO-style advantages A = (R - mean_G R) / (std_G R + ε)) and a KL penalty to the Stage 2
  model: ``L_txt = -mean(A · mean_t log π(y_t)) + β · KL(π ‖ π_stage2)`` (k3 estimator,
  Schulman 2020), log-probabilities at the sampling temperature. When the image reads the
  generated text (Stage 2's ``image_sees_generated_text``), the one image of a user is drawn
  from the words of the group's first text, so its consistency with each text mostly measures
  resemblance to that arbitrary first sample: with ``text_consistency="auto"`` (the default) the
  text's advantage then leaves the consistency term out and consistency is left to the image
  step and to the conditioning itself (``"on"`` / ``"off"`` force it);
* **image** — reward backpropagation into the image-token embeddings through the frozen UNet,
  the differentiable EfficientNet features and the frozen MiniLM, ``L_img = -mean R`` plus an L2
  pull towards the Stage 2 embeddings in the role of the KL penalty. Two estimators:
  ``"refl"`` (default; ReFL, Xu et al., 2023, "ImageReward"): sample without a graph down to a
  random step in the middle-to-late part of the schedule (``refl_window``), run that step with
  the graph and score its one-step prediction of the clean image; ``"draft"`` (DRaFT-K, Clark et
  al., 2024): score the final sample with the graph kept through the last K steps only.
  ReFL is the default because the condition steers the UNet most at middle noise levels: on these
  backbones DRaFT-1's last step (t ≈ 40 of 1000) barely depends on the tokens, so its gradient
  hardly moved them. Both cost one UNet backward per step on a CPU; DDPO was not chosen because
  the reward is differentiable in the image.

A fine-tuning is cached under a key of its config, the image sampling settings, the Stage 2
folder and the seed (:func:`reward_dir`); :func:`load_or_fine_tune` loads it or runs it.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dppmg.data.features import encode_lowres_tensor, get_encoder
from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.generation.config import sampling_settings
from dppmg.generation.image_backbone import ddim_sample
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.infra.provenance import StageTimer
from dppmg.infra.seeding import seed_everything
from dppmg.reward.alignment import alignment_features
from dppmg.reward.config import REWARD_VERSION, RewardConfig
from dppmg.reward.model import load_or_train_reward_model
from dppmg.reward.objective import PreferenceReward


def sequence_log_probs(pipe, prompt_ids: torch.Tensor, sample_ids: torch.Tensor, token_module=None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities (at the sampling temperature) of ``sample_ids`` after the prompts,
    and the mask of real tokens (up to and including the first end-of-sequence)."""
    group = len(sample_ids) // len(prompt_ids)
    prompts = prompt_ids.repeat_interleave(group, dim=0)
    ids = torch.cat([prompts, sample_ids], dim=1)
    module = token_module if token_module is not None else pipe.text_tokens
    embeds = module(ids, pipe.text_model.get_input_embeddings())
    logits = pipe.text_model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids)).logits
    logits = logits[:, prompts.shape[1] - 1:-1] / pipe.config.temperature
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, sample_ids[..., None])[..., 0]
    eos = pipe.text_tokenizer.eos_token_id
    ended = torch.cumsum((sample_ids == eos).int(), dim=1)
    mask = (ended == 0) | ((ended == 1) & (sample_ids == eos))
    return logp, mask.float()


def _encode_texts(texts: Sequence[str]) -> torch.Tensor:
    return torch.as_tensor(get_encoder("text").encode(list(texts), progress=False), dtype=torch.float32)


def fine_tune_with_reward(pipe, data: InteractionData, reward: PreferenceReward, config: RewardConfig,
                          generator: torch.Generator, progress: bool = True) -> dict[str, list[float]]:
    """Reward fine-tuning of ``pipe``'s token embeddings in place; returns per-step curves."""
    reference_text = copy.deepcopy(pipe.text_tokens).requires_grad_(False)
    reference_image = pipe.image_tokens.weight.detach().clone()
    text_opt = torch.optim.Adam(pipe.text_tokens.parameters(), lr=config.text_lr)
    image_opt = torch.optim.Adam(pipe.image_tokens.parameters(), lr=config.image_lr)
    trained_users = np.unique(data.user_item_pairs("train")[:, 0])
    user_ids = data.users["user_id"].to_numpy()
    backbone = pipe.image_backbone
    uncond = backbone.uncond()
    image_reads_text = bool(pipe.config.image_sees_generated_text)
    curves: dict[str, list[float]] = {k: [] for k in ("reward", "consistency", "image_personalization",
                                                      "text_personalization", "text_kl", "image_anchor")}
    for step in tqdm(range(config.steps), desc="reward fine-tuning", disable=not progress, leave=False):
        pick = torch.randperm(len(trained_users), generator=generator)[:config.users_per_step].numpy()
        users = [str(u) for u in user_ids[trained_users[np.sort(pick)]]]
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        # Text samples of the current model (no gradient), G per user.
        prompts, samples = pipe.sample_text_ids(users, seed, config.max_new_tokens, num_return_sequences=config.group_size)
        prompt_ids, sample_ids = torch.cat(prompts), _pad_cat(samples, pipe.text_tokenizer.eos_token_id)
        texts = [pipe.text_tokenizer.decode(row, skip_special_tokens=True).strip() for row in sample_ids]
        text_feats = _encode_texts(texts).view(len(users), config.group_size, -1)

        # Image: ReFL or DRaFT-K against the user's mean sampled text, or the sample it reads.
        # The image reads each user's first text sample when the pipeline conditions it on the text.
        cond = pipe.image_condition([pipe.image_prompt(u, texts[i * config.group_size]) for i, u in enumerate(users)])
        x = ddim_sample(backbone.unet, cond, uncond, backbone.config, torch.Generator().manual_seed(seed),
                        steps=config.sample_steps, **_image_gradient_args(config, backbone.config, generator))
        image_feats = encode_lowres_tensor(x)
        image_terms = reward(image_feats, image_consistency_target(text_feats, config, image_reads_text), users)
        anchor = ((pipe.image_tokens.weight - reference_image) ** 2).sum(-1).mean()
        image_loss = -image_terms["reward"].mean() + config.image_anchor * anchor
        image_opt.zero_grad()
        image_loss.backward()
        image_opt.step()

        # Text: group-baseline policy gradient with the image held fixed.
        fixed_image = image_feats.detach().repeat_interleave(config.group_size, dim=0)
        grouped_users = [u for u in users for _ in range(config.group_size)]
        terms = reward(fixed_image, text_feats.view(-1, text_feats.shape[-1]), grouped_users)
        r = text_reward(terms, config, image_reads_text).view(len(users), config.group_size)
        advantage = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-6)).view(-1)
        logp, mask = sequence_log_probs(pipe, prompt_ids, sample_ids)
        with torch.no_grad():
            ref_logp, _ = sequence_log_probs(pipe, prompt_ids, sample_ids, reference_text)
        tokens = mask.sum(1).clamp(min=1)
        policy = -(advantage * (logp * mask).sum(1) / tokens).mean()
        log_ratio = (ref_logp - logp) * mask
        kl = ((log_ratio.exp() - log_ratio - 1) * mask).sum() / mask.sum().clamp(min=1)
        text_opt.zero_grad()
        (policy + config.kl_coef * kl).backward()
        text_opt.step()

        curves["reward"].append(float(terms["reward"].mean()))
        for k in ("consistency", "image_personalization", "text_personalization"):
            curves[k].append(float(terms[k].mean()))
        curves["text_kl"].append(float(kl.detach()))
        curves["image_anchor"].append(float(anchor.detach()))
    return curves


def image_consistency_target(text_feats: torch.Tensor, config: RewardConfig, image_reads_text: bool) -> torch.Tensor:
    """The text feature each user's image is scored against, from ``(users, G, d)`` sampled-text
    features: the group mean, or with ``image_consistency_text="read"`` the first sample when the
    image read it."""
    return text_feats[:, 0] if config.image_consistency_text == "read" and image_reads_text else text_feats.mean(1)


def text_reward(terms: dict[str, torch.Tensor], config: RewardConfig, image_reads_text: bool) -> torch.Tensor:
    """The reward the text's policy gradient follows: the full reward, or without a·consistency
    when ``text_consistency`` says so (``"auto"``: when the image reads the generated text)."""
    with_consistency = config.text_consistency == "on" or (config.text_consistency == "auto" and not image_reads_text)
    return terms["reward"] if with_consistency else terms["reward"] - config.consistency_weight * terms["consistency"]


def _image_gradient_args(config: RewardConfig, backbone_config, generator: torch.Generator) -> dict[str, int]:
    if config.image_gradient == "draft":
        return {"grad_last": config.draft_k}
    n = config.sample_steps
    lo, hi = (int(f * n) for f in config.refl_window)
    return {"predict_x0_at": int(torch.randint(lo, hi + 1, (1,), generator=generator))}


def _pad_cat(samples: Sequence[torch.Tensor], pad: int) -> torch.Tensor:
    width = max(s.shape[1] for s in samples)
    return torch.cat([F.pad(s, (0, width - s.shape[1]), value=pad) for s in samples])


def image_sampling_settings(pipe) -> dict[str, Any]:
    """The pipeline's sampling settings the fine-tuning's DDIM uses: its guidance scale and eta
    (not part of Stage 2's key; the steps are the fine-tuning's own)."""
    settings = sampling_settings(pipe.image_backbone.config)
    return {k: settings[k] for k in ("guidance_scale", "sample_eta")}


def reward_dir(stage2_folder: Path, config: RewardConfig, seed: int, cache_dir: str | os.PathLike | None = None, *,
               image_sampling: dict[str, Any]) -> Path:
    """Cache folder of one fine-tuning. ``image_sampling`` (:func:`image_sampling_settings`) is in
    the key: the images the reward scores depend on it, and Stage 2's folder leaves it out."""
    key = stable_hash(REWARD_VERSION, config.to_dict(), image_sampling, stage2_folder.name, seed)
    return resolve_cache_dir(cache_dir) / "stage3" / f"{stage2_folder.name}-{key}"


def load_or_fine_tune(pipe, data: InteractionData, config: RewardConfig, preset: str, seed: int,
                      cache_dir: str | os.PathLike | None = None, progress: bool = True,
                      timings: list[dict[str, Any]] | None = None) -> tuple[Any, dict[str, Any]]:
    """Fine-tune ``pipe``'s tokens with the reward (or load a cached fine-tuning onto it).

    Returns ``(pipe, info)`` with the config, the cache folder and the per-step curves; the wall
    time and peak memory of the steps that ran are appended to ``timings``.
    """
    timings = timings if timings is not None else []
    folder = reward_dir(Path(pipe.meta["folder"]), config, seed, cache_dir, image_sampling=image_sampling_settings(pipe))
    with cache.lock(folder, "Stage 3 fine-tuned tokens"):
        if cache.reuse(folder, "Stage 3 fine-tuned tokens"):
            # The backbones are already loaded: only the fine-tuned token embeddings are read.
            pipe.load_token_weights(folder)
            pipe.meta["folder"] = str(folder)
            curves = json.loads((folder / "reward_curves.json").read_text())
            return pipe, {"config": config.to_dict(), "folder": str(folder), "curves": curves}
        with StageTimer("alignment_reward_model") as t:
            model, report = load_or_train_reward_model(data, preset, cache_dir, progress)
            image_feats, text_feats = alignment_features(data, cache_dir, progress)
        timings.append(t.record)
        with StageTimer("stage3_reward_finetuning") as t:
            reward = PreferenceReward(model, data, image_feats, text_feats, config)
            curves = fine_tune_with_reward(pipe, data, reward, config, seed_everything(seed).torch, progress)
        timings.append(t.record)
        if not all(np.isfinite(v).all() for v in curves.values()):
            raise DPPMGError(f"reward fine-tuning diverged (non-finite values); nothing saved to {folder}")
        pipe.meta = {**pipe.meta, "reward": {"config": config.to_dict(), "alignment": report["config"]}}
        with cache.entry(folder, data.name) as tmp:
            pipe.save_pretrained(tmp)
            atomic_write_json(tmp / "reward_curves.json", curves)
        pipe.meta["folder"] = str(folder)
        return pipe, {"config": config.to_dict(), "folder": str(folder), "curves": curves}
