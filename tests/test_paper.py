"""``paper`` preset adapters, exercised with tiny randomly initialised components built here
(no downloads): Stable Diffusion's layout (VAE, CLIP text encoder + tokenizer, UNet, scheduler)
and a Llama-style causal LM, each saved to a local folder and loaded through the adapter."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
import torch

from dppmg.paper import PaperImageGenerator, PaperTextGenerator, TokenEmbeddingWithPreferences

TOKENS = ["<img_1_0>", "<img_1_1>", "<img_2_0>"]
MEANINGS = {"<img_1_0>": ["a red star"], "<img_1_1>": ["a blue circle"]}


def tiny_clip_tokenizer(folder):
    from transformers import CLIPTokenizer

    chars = string.ascii_lowercase + string.digits + "<>_.,!?'-"
    vocab = ["<|startoftext|>", "<|endoftext|>"] + list(chars) + [c + "</w>" for c in chars]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = tmp_path_factory.mktemp("tiny-sd")
    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer(folder / "tok")
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
                                                num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=16,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1))
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=16)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=4, attention_head_dim=4)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder / "sd")
    return folder / "sd"


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
def test_stable_diffusion_adapter_trains_tokens_and_generates(tiny_sd, device):
    gen = PaperImageGenerator.from_pretrained(tiny_sd, TOKENS, MEANINGS)
    gen.pipeline.to(device)
    assert isinstance(gen.pipeline.text_encoder.get_input_embeddings(), TokenEmbeddingWithPreferences)
    ids = gen.pipeline.tokenizer("<img_1_1>", add_special_tokens=False)["input_ids"]
    assert ids == [gen.tokens.first_id + 1]
    before = gen.tokens.weight.detach().clone()
    optim = torch.optim.Adam(gen.tokens.parameters(), lr=1e-2)
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    loss = gen.loss(images, ["<img_1_0> <img_2_0>", "<img_1_1> <img_2_0>"], torch.Generator().manual_seed(0))
    loss.backward()
    trainable = [n for n, p in gen.pipeline.text_encoder.named_parameters() if p.grad is not None]
    assert len(trainable) == 1 and trainable[0].endswith("embeddings.token_embedding.preferences.weight")
    assert all(p.grad is None for p in gen.pipeline.unet.parameters())
    optim.step()
    assert not torch.equal(before.to(device), gen.tokens.weight.detach())
    out = gen.generate(["<img_1_0> <img_2_0>"], seed=0, num_inference_steps=2, height=16, width=16)
    assert out[0].size == (16, 16)
    again = gen.generate(["<img_1_0> <img_2_0>"], seed=0, num_inference_steps=2, height=16, width=16)
    assert np.array_equal(np.asarray(out[0]), np.asarray(again[0]))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    from dppmg.text_backbone import train_bpe_tokenizer

    folder = tmp_path_factory.mktemp("tiny-lm")
    texts = ["a red star with stripes", "a blue circle, calm and plain", "an elegant green square"] * 20
    tokenizer = train_bpe_tokenizer(texts, 300)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                         max_position_embeddings=128, eos_token_id=tokenizer.eos_token_id,
                                         bos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("device", DEVICES)
def test_causal_lm_adapter_trains_tokens_and_lora(tiny_lm, device):
    gen = PaperTextGenerator.from_pretrained(tiny_lm, ["<txt_1_0>", "<txt_1_1>"], {"<txt_1_0>": ["a red star"]},
                                             lora_r=4)
    gen.model.to(device)
    names = {n for n, p in gen.model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in names) and any(n.endswith("preferences.weight") for n in names)
    assert all("lora_" in n or n.endswith("preferences.weight") for n in names)
    optim = torch.optim.Adam(gen.trainable_parameters(), lr=1e-2)
    loss = gen.loss(["Preferences: <txt_1_0>\nItem:"], [" a red star"])
    loss.backward()
    optim.step()
    assert gen.tokens.weight.grad is not None and gen.tokens.weight.grad.abs().sum() > 0
    texts = gen.generate(["Preferences: <txt_1_1>\nItem:"], seed=0, max_new_tokens=5)
    assert len(texts) == 1 and isinstance(texts[0], str)


def test_paths_must_be_local(tmp_path):
    from dppmg.errors import ConfigError

    with pytest.raises(ConfigError, match="not a local directory"):
        PaperImageGenerator.from_pretrained("runwayml/stable-diffusion-v1-5", TOKENS, MEANINGS)
    with pytest.raises(ConfigError, match="not a local directory"):
        PaperTextGenerator.from_pretrained(tmp_path / "missing", TOKENS, MEANINGS)
