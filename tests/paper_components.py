"""Randomly initialised ``paper``-preset components, saved to local folders the way users keep
their own weights: Stable Diffusion's layout (VAE, CLIP text encoder + tokenizer, UNet,
scheduler) and a Llama-style causal LM.

``scale="tiny"`` builds components small enough for the CPU tests; ``scale="full"`` builds the
architectures of Stable Diffusion v1.5 (860M-parameter UNet, 12-layer CLIP text encoder, the
4-level VAE) and TinyLlama-1.1B's shape (970M parameters with the 300-token vocabulary used
here) for the GPU benchmarks. Random weights cost the same time and memory as trained ones; no
download happens either way.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

TINY, FULL = "tiny", "full"


def char_clip_tokenizer(folder: Path, max_length: int):
    """A character-level ``CLIPTokenizer`` (CLIP's BPE vocabulary cannot be downloaded here)."""
    from transformers import CLIPTokenizer

    chars = string.ascii_lowercase + string.digits + "<>_.,!?'-"
    vocab = ["<|startoftext|>", "<|endoftext|>"] + list(chars) + [c + "</w>" for c in chars]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length)


def save_stable_diffusion(folder: Path, scale: str = TINY) -> Path:
    """A ``StableDiffusionPipeline`` folder with random weights; returns its path."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    if scale == TINY:
        tokenizer = char_clip_tokenizer(folder / "tok", 16)
        text = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                    max_position_embeddings=16)
        vae = dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=16)
        unet = dict(sample_size=8, block_out_channels=(8, 16), layers_per_block=1,
                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32, norm_num_groups=4,
                    attention_head_dim=4)
        scheduler = DDIMScheduler()
    else:  # Stable Diffusion v1.5's architecture
        tokenizer = char_clip_tokenizer(folder / "tok", 77)
        text = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                    max_position_embeddings=77, hidden_act="quick_gelu")
        vae = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, sample_size=512)
        unet = dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                    attention_head_dim=8)
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), bos_token_id=0, eos_token_id=1,
                                                pad_token_id=1, **text))
    levels = len(vae["block_out_channels"])
    autoencoder = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                                down_block_types=("DownEncoderBlock2D",) * levels,
                                up_block_types=("UpDecoderBlock2D",) * levels, **vae)
    pipe = StableDiffusionPipeline(vae=autoencoder, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=UNet2DConditionModel(in_channels=4, out_channels=4, **unet),
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder / "sd")
    return folder / "sd"


LM_TEXTS = ["a red star with stripes", "a blue circle, calm and plain", "an elegant green square"]


def save_causal_lm(folder: Path, scale: str = TINY) -> Path:
    """A Llama-style causal LM and its BPE tokenizer with random weights; returns the folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from dppmg.generation.text_backbone import train_bpe_tokenizer

    tokenizer = train_bpe_tokenizer(LM_TEXTS * 20, 300)
    shape = (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=128) if scale == TINY else
             dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                  num_key_value_heads=4, max_position_embeddings=2048))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                                         bos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
                                         **shape))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
