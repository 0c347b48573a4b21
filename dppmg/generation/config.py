"""Configs of Stage 2: the text backbone, the image backbone and the token-reading generators.

Their values per preset and dataset are resolved in :mod:`dppmg.config`; these classes only hold
the defaults and check the values. Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dppmg.errors import ConfigError

TEXT_BACKBONE_KINDS = ("tiny-gpt2", "smollm2", "hf")
SAMPLERS = ("ddim", "dpm++", "sde-dpm++")
TOKEN_INPUTS = ("discrete", "continuous")


@dataclass(frozen=True)
class TextBackboneConfig:
    """Configuration of the text backbone and its adaptation to the catalogue.

    Args:
        kind: ``"tiny-gpt2"``, ``"smollm2"`` or ``"hf"`` (a local model directory in ``model_path``).
        model_path: for ``"hf"``.
        vocab_size / n_layer / n_embd / n_head: the tiny GPT-2 (``smoke``).
        max_length: tokens per training text.
        adapt_steps / batch_size / lr: catalogue adaptation (full training for tiny GPT-2, LoRA otherwise).
        lora_r / lora_alpha / lora_targets: LoRA of the pretrained backbones.
    """

    kind: str = "smollm2"
    model_path: str | None = None
    vocab_size: int = 2000
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    max_length: int = 96
    adapt_steps: int = 150
    batch_size: int = 8
    lr: float = 5e-4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")

    def __post_init__(self) -> None:
        if self.kind not in TEXT_BACKBONE_KINDS:
            raise ConfigError(f"unknown text backbone kind {self.kind!r}; expected one of {TEXT_BACKBONE_KINDS}")
        if self.kind == "hf" and not self.model_path:
            raise ConfigError("text backbone kind 'hf' needs model_path (a local model directory)")


@dataclass(frozen=True)
class ImageBackboneConfig:
    """Configuration of the conditional UNet, its scheduler and its training.

    Args:
        width / height: image size in pixels (2:3 portrait).
        block_channels: UNet block widths; a plain full-resolution block, then two cross-attention blocks.
        layers_per_block: ResNet layers per UNet block.
        attention_head_dim: channels per attention head.
        max_text_tokens: MiniLM tokens kept for conditioning.
        short_text_prob / short_text_tokens: fraction of training texts cut to their first tokens, so
            that the UNet also learns to read short prompts.
        train_steps / batch_size / lr: AdamW training schedule.
        cond_dropout: probability of training on the empty text (classifier-free guidance).
        checkpoint_every: steps between resumable checkpoints.
        sampler: ``"ddim"`` (DDIM with ``sample_eta``), ``"dpm++"`` (DPM-Solver++ 2M, Lu et al.
            2022, deterministic) or ``"sde-dpm++"`` (its stochastic variant), all with
            classifier-free guidance.
        sample_steps / guidance_scale / sample_eta: sampling defaults. ``sample_eta`` = 1 adds
            fresh noise at every DDIM step (ancestral DDPM-like); at 0 (deterministic DDIM) a backbone
            trained for a few thousand CPU steps leaves visible residual noise in its samples.
        ema_decay: decay of the weight average used for sampling (warmed up as (1+s)/(10+s)).
    """

    width: int = 32
    height: int = 48
    block_channels: tuple[int, int, int] = (32, 64, 64)
    layers_per_block: int = 1
    attention_head_dim: int = 8
    max_text_tokens: int = 64
    short_text_prob: float = 0.2
    short_text_tokens: int = 16
    train_steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    cond_dropout: float = 0.1
    checkpoint_every: int = 100
    num_train_timesteps: int = 1000
    sampler: str = "ddim"
    sample_steps: int = 25
    guidance_scale: float = 3.0
    sample_eta: float = 1.0
    ema_decay: float = 0.999

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; expected one of {', '.join(SAMPLERS)}")
        if isinstance(self.sample_steps, bool) or not isinstance(self.sample_steps, int) or self.sample_steps < 1:
            raise ConfigError(f"sample_steps must be a positive int, got {self.sample_steps!r}")


# Fields that do not change what a training step does: left out of the cache key so that a longer
# schedule resumes the existing run and sampling settings can change without retraining.
SAMPLING_FIELDS = ("sampler", "sample_steps", "guidance_scale", "sample_eta")
SCHEDULE_FIELDS = ("train_steps", "checkpoint_every", *SAMPLING_FIELDS)


# Stage 2 fields that only change how texts are sampled for the evaluated users (the reward
# fine-tuning samples fewer users than a batch holds, with its own length): not part of what the
# token embeddings learn, so a cached pipeline is loaded and then given the current ones.
TEXT_GENERATION_FIELDS = ("text_batch_size", "max_new_tokens", "generation_precision")

# The number format of the evaluated users' generation (the LM's decoding and the UNet's sampling;
# training, Stage 3's sampling included, stays fp32): "bf16" runs them under CPU / CUDA bf16
# autocast, about twice as fast on a CPU with bf16 instructions. Chosen per dataset on validation
# users (dppmg.experiments.selection, group "precision").
PRECISIONS = ("fp32", "bf16")


def generation_autocast(precision: str):
    """The autocast context of ``precision`` (:data:`PRECISIONS`): bf16 autocast on the device torch
    computes on, or nothing for fp32."""
    import contextlib

    import torch

    if precision not in PRECISIONS:
        raise ConfigError(f"generation precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast("cuda" if torch.cuda.is_available() else "cpu", dtype=torch.bfloat16)


def sampling_settings(config: ImageBackboneConfig) -> dict[str, Any]:
    """The ``SAMPLING_FIELDS`` of ``config``: how it samples, not what it trains."""
    return {k: getattr(config, k) for k in SAMPLING_FIELDS}


@dataclass(frozen=True)
class Stage2Config:
    """Configuration of the token-reading generators (serialized with the pipeline).

    Args:
        text / image: the backbones' configs.
        text_steps / image_steps: optimisation steps of the text / image token embeddings.
        batch_size: (user, history item) pairs per step.
        lr: Adam learning rate of the token embeddings.
        text_sees_image_tokens / image_sees_text_tokens: cross-modal token sharing (off by default).
        image_sees_generated_text: the image prompt also holds the first this many words of the
            text generated for the user (0: off, the default).
        max_new_tokens: generated text length.
        text_batch_size: users whose texts are sampled together.
        top_p / temperature: text sampling.
        generation_precision: ``"fp32"`` or ``"bf16"``: the number format of the evaluated users'
            text decoding and image sampling (:data:`PRECISIONS`; training stays fp32).
        token_input: what the generators read: ``"discrete"`` (DPPMG: a learned embedding per
            Stage 1 code) or ``"continuous"`` (the "without quantization" ablation: each user's
            L tokens per branch are a learned linear map of their preference vector,
            :class:`~dppmg.generation.injection.ProjectedTokenEmbedding`).
        validation_every / validation_pairs: every this many steps (and at the start and the end)
            the token embeddings' loss on a fixed sample of this many (user, validation item)
            pairs is measured, and the embeddings of the step with the lowest one are kept: the
            number of training steps is chosen on the validation split (0: off, train to the end).
    """

    text: TextBackboneConfig = field(default_factory=TextBackboneConfig)
    image: ImageBackboneConfig = field(default_factory=ImageBackboneConfig)
    text_steps: int = 300
    image_steps: int = 300
    batch_size: int = 16
    lr: float = 5e-3
    text_sees_image_tokens: bool = False
    image_sees_text_tokens: bool = False
    image_sees_generated_text: int = 0
    max_new_tokens: int = 64
    text_batch_size: int = 16
    top_p: float = 0.9
    temperature: float = 0.8
    validation_every: int = 50
    validation_pairs: int = 128
    token_input: str = "discrete"
    generation_precision: str = "fp32"

    def __post_init__(self):
        if self.generation_precision not in PRECISIONS:
            raise ConfigError(f"Stage2Config.generation_precision must be one of {PRECISIONS}, "
                              f"got {self.generation_precision!r}")
        if self.token_input not in TOKEN_INPUTS:
            raise ConfigError(f"Stage2Config.token_input must be one of {TOKEN_INPUTS}, got {self.token_input!r}")
        n = self.image_sees_generated_text
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"Stage2Config.image_sees_generated_text must be a word count >= 0 (0: off), got {n!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Stage2Config":
        """The config :meth:`to_dict` wrote (JSON turns tuples into lists: they are restored)."""
        text = TextBackboneConfig(**{**d["text"], "lora_targets": tuple(d["text"]["lora_targets"])})
        image = ImageBackboneConfig(**{**d["image"], "block_channels": tuple(d["image"]["block_channels"])})
        return cls(text=text, image=image, **{k: v for k, v in d.items() if k not in ("text", "image")})
