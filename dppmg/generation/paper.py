"""``paper`` preset adapters: Stable Diffusion v1.5 and any Hugging Face causal LM, from local paths.

Both read the preference tokens the same way as the small backbones (see
:mod:`dppmg.generation.injection`), but through :class:`TokenEmbeddingWithPreferences`, which replaces the
model's input-embedding module, so the models' own ``__call__``/``generate`` and the diffusers
``StableDiffusionPipeline`` work unchanged with prompts containing ``<img_1_17>``-style tokens.

* Image: ``StableDiffusionPipeline.from_pretrained(path)``; the new tokens go into its
  ``CLIPTokenizer`` and ``CLIPTextModel``; training is latent-diffusion epsilon prediction on the
  user's history images (VAE-encoded), with only the token rows (and optional UNet LoRA) trained.
* Text: ``AutoModelForCausalLM.from_pretrained(path)`` + LoRA (peft) + the new tokens.

Both can be built without new tokens (a prompt-only baseline such as LaMP or PMG), and the image
generator also takes its cross-attention input directly (the ``history-image`` baseline's image
tokens). The baselines' ``paper`` paths are in their own files (``paper_*`` functions and classes
of :mod:`baselines`).

Weights come from the user's own cache or a local directory; nothing is downloaded here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dppmg.errors import ConfigError
from dppmg.generation.injection import PreferenceTokenEmbedding, new_token_embedding


class TokenEmbeddingWithPreferences(nn.Module):
    """An input-embedding module: the frozen base table for old ids, preference rows for new ids."""

    def __init__(self, base: nn.Embedding, preferences: PreferenceTokenEmbedding):
        super().__init__()
        self.base = base
        self.preferences = preferences
        self.base.requires_grad_(False)

    @property
    def weight(self) -> torch.Tensor:  # some library code reads the embedding matrix (e.g. its dtype)
        return self.base.weight

    @property
    def num_embeddings(self) -> int:
        return self.preferences.first_id + len(self.preferences.tokens)

    @property
    def embedding_dim(self) -> int:
        return self.base.embedding_dim

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.preferences(input_ids, self.base)


def inject_tokens(model, tokenizer, tokens: Sequence[str], meanings: dict[str, Sequence[str]]) -> PreferenceTokenEmbedding:
    """Register ``tokens`` in ``tokenizer`` and put a preference-aware embedding into ``model``."""
    base = model.get_input_embeddings()
    if isinstance(base, TokenEmbeddingWithPreferences):
        raise ConfigError("this model already carries preference tokens")
    prefs = new_token_embedding(tokenizer, base, tokens, meanings)
    model.set_input_embeddings(TokenEmbeddingWithPreferences(base, prefs))
    return prefs


@dataclass
class PaperImageGenerator:
    """Stable Diffusion (any diffusers SD-1.x folder) reading preference tokens.

    Args:
        pipeline: a ``StableDiffusionPipeline`` (see :meth:`from_pretrained`).
        tokens: the token embedding module injected into its text encoder (``None`` when the
            generator was built without new tokens, as the prompt-only baselines build it).
    """

    pipeline: object
    tokens: PreferenceTokenEmbedding | None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, tokens: Sequence[str] = (),
                        meanings: dict[str, Sequence[str]] | None = None,
                        torch_dtype: torch.dtype = torch.float32, **kwargs) -> "PaperImageGenerator":
        from diffusers import StableDiffusionPipeline

        if not os.path.isdir(path):
            raise ConfigError(f"Stable Diffusion path {path} is not a local directory (no downloads here)")
        pipe = StableDiffusionPipeline.from_pretrained(path, torch_dtype=torch_dtype, safety_checker=None,
                                                       requires_safety_checker=False, **kwargs)
        return cls.from_pipeline(pipe, tokens, meanings)

    @classmethod
    def from_pipeline(cls, pipe, tokens: Sequence[str] = (),
                      meanings: dict[str, Sequence[str]] | None = None) -> "PaperImageGenerator":
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.requires_grad_(False)
        prefs = inject_tokens(pipe.text_encoder, pipe.tokenizer, tokens, meanings or {}) if len(tokens) else None
        return cls(pipe, prefs)

    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        tok = self.pipeline.tokenizer
        ids = tok(list(prompts), padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(self.pipeline.text_encoder.device)
        return self.pipeline.text_encoder(ids)[0]

    def loss(self, images: torch.Tensor, prompts: Sequence[str], generator: torch.Generator) -> torch.Tensor:
        """Latent-diffusion epsilon loss; ``images`` in [-1, 1], shape (n, 3, H, W)."""
        return self.loss_from_embeds(images, self.encode_prompts(prompts), generator)

    def loss_from_embeds(self, images: torch.Tensor, embeds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The same loss with the UNet's cross-attention input given directly (``(n, L, dim)``)."""
        pipe = self.pipeline
        vae = pipe.vae
        latents = vae.encode(images.to(vae.device, vae.dtype)).latent_dist.sample(generator) * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(latents)
        t = torch.randint(pipe.scheduler.config.num_train_timesteps, (len(images),), generator=generator).to(latents.device)
        noisy = pipe.scheduler.add_noise(latents, noise, t)
        pred = pipe.unet(noisy, t, encoder_hidden_states=embeds.to(latents.dtype)).sample
        return F.mse_loss(pred.float(), noise.float())

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seed: int, num_inference_steps: int = 25,
                 guidance_scale: float = 7.5, **kwargs) -> list:
        generator = torch.Generator().manual_seed(seed)
        out = self.pipeline(list(prompts), num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                            generator=generator, **kwargs)
        return out.images

    @torch.no_grad()
    def generate_from_embeds(self, embeds: torch.Tensor, negative_embeds: torch.Tensor, seed: int,
                             num_inference_steps: int = 25, guidance_scale: float = 7.5, **kwargs) -> list:
        """Images from cross-attention inputs given directly (guidance against ``negative_embeds``)."""
        generator = torch.Generator().manual_seed(seed)
        out = self.pipeline(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds,
                            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                            generator=generator, **kwargs)
        return out.images


@dataclass
class PaperTextGenerator:
    """Any local causal LM with LoRA and preference tokens."""

    model: object
    tokenizer: object
    tokens: PreferenceTokenEmbedding | None

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, tokens: Sequence[str] = (),
                        meanings: dict[str, Sequence[str]] | None = None,
                        lora_r: int = 16, lora_targets: Sequence[str] = ("q_proj", "v_proj"),
                        torch_dtype: torch.dtype = torch.float32) -> "PaperTextGenerator":
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not os.path.isdir(path):
            raise ConfigError(f"language model path {path} is not a local directory (no downloads here)")
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch_dtype)
        model.requires_grad_(False)
        prefs = inject_tokens(model, tokenizer, tokens, meanings or {}) if len(tokens) else None
        model = get_peft_model(model, LoraConfig(r=lora_r, lora_alpha=2 * lora_r, target_modules=list(lora_targets),
                                                 lora_dropout=0.0))
        if prefs is not None:
            prefs.weight.requires_grad_(True)
        return cls(model, tokenizer, prefs)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def loss(self, prompts: Sequence[str], targets: Sequence[str], max_length: int = 256) -> torch.Tensor:
        from dppmg.generation.text_backbone import causal_lm_loss

        return causal_lm_loss(self.model, self.tokenizer, prompts, targets, max_length)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str], seed: int, max_new_tokens: int = 64, **generate_kwargs) -> list[str]:
        """One sampled continuation per prompt; ``generate_kwargs`` go to the model's ``generate``."""
        out = []
        for i, prompt in enumerate(prompts):
            ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)
            with torch.random.fork_rng():
                torch.manual_seed(seed * 1_000_003 + i)
                gen = self.model.generate(**ids, max_new_tokens=max_new_tokens,
                                          **{"do_sample": True, "top_p": 0.9, **generate_kwargs},
                                          pad_token_id=self.tokenizer.pad_token_id)
            out.append(self.tokenizer.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
        return out
