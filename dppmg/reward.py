"""Stage 3: cross-modal consistent and personalized reward fine-tuning of the preference tokens.

For a user u with a generated image x and text y,

    R(u, x, y) = a · cons(x, y) + b · pers_img(x, u) + c · pers_txt(y, u),

    cons(x, y)     = cos(g_img(f_img(x)), g_txt(f_txt(y)))       (the *reward* alignment model)
    pers_img(x, u) = mean_{i ∈ H_u} cos(f_img(x), f_img(i))       (EfficientNet-Lite0, 32x48 images)
    pers_txt(y, u) = mean_{i ∈ H_u} cos(f_txt(y), f_txt(i))       (MiniLM)

with H_u the user's training history. With ``personalization_baseline="population"`` both terms
subtract the same similarity to the average user's history, mean_v mean_{i ∈ H_v} cos(·, f(i)),
so they reward being closer to *this* user's history than to the average user's; the plain terms
(``"none"``, the default) also grow when the output moves towards the catalogue's average, which
brings it closer to every user's history alike. Only the preference-token embeddings change (the
backbones, their LoRA and the alignment model stay frozen). Each step takes a batch of users and

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
"""

from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dppmg.alignment import AlignmentModel
from dppmg.config import check_preset
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError, DPPMGError
from dppmg.image_backbone import ddim_sample

# 2: the text advantage's consistency term follows ``text_consistency``.
# 3: the cache key holds the image sampling settings.
REWARD_VERSION = 3


@dataclass(frozen=True)
class RewardConfig:
    """Reward fine-tuning (serialized with the fine-tuned pipeline).

    Args:
        consistency_weight / image_personalization_weight / text_personalization_weight: a, b, c.
        steps: optimisation steps; each updates the text and the image tokens once.
        users_per_step: users per step (drawn from users with a training history).
        group_size: texts sampled per user for the group baseline.
        text_lr / image_lr: Adam learning rates of the token embeddings.
        kl_coef: β of the text KL penalty to the Stage 2 model.
        image_anchor: weight of the L2 pull of the image tokens towards their Stage 2 values.
        image_gradient: ``"refl"`` (reward on the one-step clean-image prediction at a random
            intermediate step) or ``"draft"`` (reward on the final sample, gradient through its
            last ``draft_k`` steps).
        refl_window: the fractions of the sampling steps between which ReFL stops.
        draft_k: denoising steps the image reward is backpropagated through (``"draft"`` only).
        sample_steps: DDIM steps while fine-tuning (None: the backbone's default).
        max_new_tokens: length of the texts sampled while fine-tuning.
        personalization_baseline: ``"none"`` (plain similarity to the user's history) or
            ``"population"`` (minus the similarity to the average user's history).
        text_consistency: whether the text's policy-gradient reward includes a·consistency:
            ``"auto"`` (unless the image reads the generated text), ``"on"`` or ``"off"``.
        image_consistency_text: the text the image step's consistency is scored against:
            ``"mean"`` (the mean feature of the user's G sampled texts) or ``"read"`` (the sample
            the image reads when ``image_sees_generated_text`` is on, the pair the evaluator sees;
            the mean otherwise).
    """

    consistency_weight: float = 1.0
    image_personalization_weight: float = 1.0
    text_personalization_weight: float = 1.0
    steps: int = 20
    users_per_step: int = 6
    group_size: int = 4
    text_lr: float = 2e-3
    image_lr: float = 2e-3
    kl_coef: float = 0.05
    image_anchor: float = 1.0
    image_gradient: str = "refl"
    refl_window: tuple[float, float] = (0.5, 0.9)
    draft_k: int = 1
    sample_steps: int | None = None
    max_new_tokens: int = 48
    personalization_baseline: str = "none"
    text_consistency: str = "auto"
    image_consistency_text: str = "mean"

    def __post_init__(self):
        if self.text_consistency not in ("auto", "on", "off"):
            raise ConfigError(f"text_consistency must be 'auto', 'on' or 'off', not {self.text_consistency!r}")
        if self.image_consistency_text not in ("mean", "read"):
            raise ConfigError(f"image_consistency_text must be 'mean' or 'read', not {self.image_consistency_text!r}")
        if self.personalization_baseline not in ("population", "none"):
            raise ConfigError(f"personalization_baseline must be 'population' or 'none', "
                              f"not {self.personalization_baseline!r}")
        if self.image_gradient not in ("refl", "draft"):
            raise ConfigError(f"image_gradient must be 'refl' or 'draft', not {self.image_gradient!r}")
        lo, hi = self.refl_window
        if not 0 <= lo <= hi < 1:
            raise ConfigError(f"refl_window must satisfy 0 <= start <= end < 1, got {self.refl_window}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PRESETS = {"smoke": {"steps": 2, "users_per_step": 2, "group_size": 2, "max_new_tokens": 8, "sample_steps": 3},
            "small": {}, "paper": {}}


def reward_config(preset: str, **overrides: Any) -> RewardConfig:
    check_preset(preset)
    return RewardConfig(**{**_PRESETS[preset], **overrides})


def _history_directions(feats: np.ndarray, data: InteractionData) -> torch.Tensor:
    """Per user, the mean of the unit feature vectors of their training items (zeros if none):
    its dot product with a unit vector is the mean cosine to the history."""
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    pairs = data.user_item_pairs("train")
    sums = np.zeros((data.num_users, feats.shape[1]))
    np.add.at(sums, pairs[:, 0], unit[pairs[:, 1]])
    counts = np.bincount(pairs[:, 0], minlength=data.num_users)[:, None]
    return torch.as_tensor(sums / np.maximum(counts, 1), dtype=torch.float32)


class PreferenceReward:
    """R = a·consistency + b·image personalization + c·text personalization (module docstring).

    Args:
        model: the reward alignment model (never the evaluator).
        data: the dataset (training histories).
        item_image_feats: 32x48 EfficientNet-Lite0 features of the catalogue (item index order).
        item_text_feats: MiniLM features of the catalogue.
        config: the weights a, b, c.
    """

    def __init__(self, model: AlignmentModel, data: InteractionData, item_image_feats: np.ndarray,
                 item_text_feats: np.ndarray, config: RewardConfig):
        if model.config.role != "reward":
            raise DPPMGError(f"the reward must use the reward alignment model, not the {model.config.role!r}")
        self.model, self.config = model, config
        self.image_history = _history_directions(item_image_feats, data)
        self.text_history = _history_directions(item_text_feats, data)
        if config.personalization_baseline == "population":
            has_history = np.bincount(data.user_item_pairs("train")[:, 0], minlength=data.num_users) > 0
            for table in (self.image_history, self.text_history):
                table -= table[torch.as_tensor(has_history)].mean(0)
        self.user_index = {u: i for i, u in enumerate(data.users["user_id"])}

    def __call__(self, image_feats: torch.Tensor, text_feats: torch.Tensor, user_ids: Sequence[str]
                 ) -> dict[str, torch.Tensor]:
        users = torch.as_tensor([self.user_index[u] for u in user_ids])
        consistency = self.model(image_feats, text_feats)
        pers_img = (F.normalize(image_feats, dim=-1) * self.image_history[users]).sum(-1)
        pers_txt = (F.normalize(text_feats, dim=-1) * self.text_history[users]).sum(-1)
        c = self.config
        total = (c.consistency_weight * consistency + c.image_personalization_weight * pers_img
                 + c.text_personalization_weight * pers_txt)
        return {"reward": total, "consistency": consistency, "image_personalization": pers_img,
                "text_personalization": pers_txt}


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
    from dppmg.features import get_encoder

    return torch.as_tensor(get_encoder("text").encode(list(texts), progress=False), dtype=torch.float32)


def fine_tune_with_reward(pipe, data: InteractionData, reward: PreferenceReward, config: RewardConfig,
                          generator: torch.Generator, progress: bool = True) -> dict[str, list[float]]:
    """Reward fine-tuning of ``pipe``'s token embeddings in place; returns per-step curves."""
    from dppmg.features import encode_lowres_tensor

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
        cond = pipe.image_condition([pipe._image_prompt(u, texts[i * config.group_size]) for i, u in enumerate(users)])
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
    n = config.sample_steps or backbone_config.sample_steps
    lo, hi = (int(f * n) for f in config.refl_window)
    return {"predict_x0_at": int(torch.randint(lo, hi + 1, (1,), generator=generator))}


def _pad_cat(samples: Sequence[torch.Tensor], pad: int) -> torch.Tensor:
    width = max(s.shape[1] for s in samples)
    return torch.cat([F.pad(s, (0, width - s.shape[1]), value=pad) for s in samples])


def image_sampling_settings(pipe) -> dict[str, Any]:
    """The image backbone's DDIM settings the fine-tuning samples with (not part of Stage 2's key)."""
    from dppmg.image_backbone import sampling_settings

    return sampling_settings(pipe.image_backbone.config)


def reward_dir(stage2_folder: Path, config: RewardConfig, seed: int, cache_dir: str | os.PathLike | None = None, *,
               image_sampling: dict[str, Any]) -> Path:
    """Cache folder of one fine-tuning. ``image_sampling`` (:func:`image_sampling_settings`) is in
    the key: the images the reward scores depend on it, and Stage 2's folder leaves it out."""
    from dppmg.io import stable_hash
    from dppmg.paths import cache_dir as resolve_cache_dir

    key = stable_hash(REWARD_VERSION, config.to_dict(), image_sampling, str(stage2_folder), seed)
    return resolve_cache_dir(cache_dir) / "stage3" / f"{stage2_folder.name}-{key}"
