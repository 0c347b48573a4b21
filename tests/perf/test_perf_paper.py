"""Benchmarks of the ``paper`` preset on a CUDA GPU (skipped without one): Stable Diffusion
v1.5's architecture reading preference tokens (token training step, 25-step generation at
512x512) and a Llama LM of TinyLlama-1.1B's shape with LoRA + tokens (training step, 64 new tokens).

The components have random weights (:mod:`paper_components`, ``scale="full"``): nothing can be
downloaded here, and random weights cost the same time and memory as trained ones. fp32 weights
with TF32 matmuls, the adapters' defaults. Peak GPU memory per benchmark is in ``extra_info``.
Run: ``pytest tests/perf/test_perf_paper.py --benchmark-enable -m slow --benchmark-json OUT.json``.
"""

from __future__ import annotations

import pytest
import torch
from paper_components import FULL, LM_TEXTS, save_causal_lm, save_stable_diffusion

from dppmg.generation.paper import PaperImageGenerator, PaperTextGenerator

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

IMAGE_TOKENS = [f"<img_{level}_{code}>" for level in (1, 2, 3) for code in range(4)]
TEXT_TOKENS = [t.replace("img", "txt") for t in IMAGE_TOKENS]
MEANINGS = {"<img_1_0>": ["a red star"], "<txt_1_0>": ["a red star"]}
IMAGE_BATCH, RESOLUTION = 4, 512
TEXT_BATCH, TARGET_WORDS = 8, 160


def _measured(benchmark, fn, rounds: int, **info):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()

    def synced():
        out = fn()
        torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(synced, rounds=rounds, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(info, peak_gpu_memory_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
                                device=torch.cuda.get_device_name(), torch=torch.__version__)
    return out


@pytest.fixture(scope="module", autouse=True)
def _tf32():
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    gen = PaperImageGenerator.from_pretrained(save_stable_diffusion(tmp_path_factory.mktemp("sd15"), FULL),
                                              IMAGE_TOKENS, MEANINGS)
    gen.pipeline.to("cuda")
    return gen


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    gen = PaperTextGenerator.from_pretrained(save_causal_lm(tmp_path_factory.mktemp("llm"), FULL), TEXT_TOKENS,
                                             MEANINGS, lora_r=16)
    gen.model.to("cuda")
    return gen


def _prompts(tokens, n):
    return [" ".join(tokens[i % 4::4][:3]) for i in range(n)]


def test_sd15_token_training_step(benchmark, sd15):
    optim = torch.optim.Adam(sd15.tokens.parameters(), lr=5e-3)
    images = torch.rand(IMAGE_BATCH, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0)) * 2 - 1
    generator = torch.Generator().manual_seed(0)

    def step():
        loss = sd15.loss(images, _prompts(IMAGE_TOKENS, IMAGE_BATCH), generator)
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss

    loss = _measured(benchmark, step, rounds=10, batch=IMAGE_BATCH, resolution=RESOLUTION,
                     unet_parameters=sum(p.numel() for p in sd15.pipeline.unet.parameters()))
    assert torch.isfinite(loss)


def test_sd15_generate_25_steps(benchmark, sd15):
    images = _measured(benchmark, lambda: sd15.generate(_prompts(IMAGE_TOKENS, IMAGE_BATCH), seed=0,
                                                        num_inference_steps=25, height=RESOLUTION, width=RESOLUTION),
                       rounds=3, batch=IMAGE_BATCH, resolution=RESOLUTION, guidance_scale=7.5)
    assert len(images) == IMAGE_BATCH and images[0].size == (RESOLUTION, RESOLUTION)


def test_llm_lora_token_training_step(benchmark, llm):
    optim = torch.optim.Adam(llm.trainable_parameters(), lr=1e-4)
    words = " ".join(LM_TEXTS).split()
    target = " " + " ".join(words[i % len(words)] for i in range(TARGET_WORDS))
    prompts = [f"Preferences: {p}\nItem:" for p in _prompts(TEXT_TOKENS, TEXT_BATCH)]

    def step():
        loss = llm.loss(prompts, [target] * TEXT_BATCH, max_length=512)
        optim.zero_grad()
        loss.backward()
        optim.step()
        return loss

    target_tokens = len(llm.tokenizer(target)["input_ids"])
    loss = _measured(benchmark, step, rounds=10, batch=TEXT_BATCH, target_tokens=target_tokens,
                     parameters=sum(p.numel() for p in llm.model.parameters()),
                     trainable=sum(p.numel() for p in llm.trainable_parameters()))
    assert torch.isfinite(loss)


def test_llm_generate_64_tokens(benchmark, llm):
    prompt = [f"Preferences: {_prompts(TEXT_TOKENS, 1)[0]}\nItem:"]
    texts = _measured(benchmark, lambda: llm.generate(prompt, seed=0, max_new_tokens=64, min_new_tokens=64),
                      rounds=3, new_tokens=64)
    assert len(texts) == 1
