"""``paper`` preset adapters, exercised with tiny randomly initialised components
(:mod:`paper_components`, no downloads): Stable Diffusion's layout and a Llama-style causal LM,
each saved to a local folder and loaded through the adapter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from paper_components import save_causal_lm, save_stable_diffusion

from dppmg.generation.paper import PaperImageGenerator, PaperTextGenerator, TokenEmbeddingWithPreferences

TOKENS = ["<img_1_0>", "<img_1_1>", "<img_2_0>"]
MEANINGS = {"<img_1_0>": ["a red star"], "<img_1_1>": ["a blue circle"]}


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return save_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))


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
    return save_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


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
