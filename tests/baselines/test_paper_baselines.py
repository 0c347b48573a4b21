"""The baselines' ``paper``-preset paths, exercised with the tiny randomly initialised Stable
Diffusion and causal LM of :mod:`paper_components` (as tests/generation/test_paper.py exercises
DPPMG's adapters): each trains only what its method trains and generates deterministically."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from paper_components import save_causal_lm, save_stable_diffusion


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return save_stable_diffusion(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return save_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


def _trained(parameters) -> list:
    return [p for p in parameters if p.grad is not None and p.grad.abs().sum() > 0]


def test_pepler_paper_path_trains_each_users_tokens_and_lora(tiny_lm, smoke_synthetic):
    from baselines.pepler import paper_text_generator

    gen, prompts = paper_text_generator(tiny_lm, smoke_synthetic, 2, lora_r=4)
    users = smoke_synthetic.users["user_id"].tolist()[:2]
    assert prompts[users[0]] != prompts[users[1]]
    history = smoke_synthetic.items_by_user(users[:1], "train")[0]
    text = smoke_synthetic.items["text"].iloc[int(history[0])]
    gen.loss([prompts[users[0]]], [" " + text[:40]]).backward()
    rows = gen.tokens.weight.grad.abs().sum(1)
    assert rows[:2].sum() > 0 and rows[2:].sum() == 0  # only the first user's two tokens were read
    out = gen.generate([prompts[u] for u in users], seed=0, max_new_tokens=4)
    assert out == gen.generate([prompts[u] for u in users], seed=0, max_new_tokens=4)


def test_lamp_paper_path_trains_nothing_per_user(tiny_lm, smoke_synthetic):
    from baselines.lamp import paper_generate
    from dppmg.data.features import item_features
    from dppmg.generation.paper import PaperTextGenerator

    gen = PaperTextGenerator.from_pretrained(tiny_lm, lora_r=4)
    assert gen.tokens is None
    features = item_features(smoke_synthetic, "text", progress=False)
    users = smoke_synthetic.users["user_id"].tolist()[:3]
    out = paper_generate(gen, smoke_synthetic, features, users, seed=1, max_new_tokens=4)
    assert len(out) == 3 and out == paper_generate(gen, smoke_synthetic, features, users, seed=1, max_new_tokens=4)


def test_textual_inversion_paper_path_learns_one_word_per_user(tiny_sd, smoke_synthetic):
    from baselines.textual_inversion import paper_image_generator

    gen, prompts = paper_image_generator(tiny_sd, smoke_synthetic)
    users = smoke_synthetic.users["user_id"].tolist()[:2]
    gen.loss(torch.rand(1, 3, 16, 16) * 2 - 1, [prompts[users[0]]], torch.Generator().manual_seed(0)).backward()
    assert _trained(gen.pipeline.text_encoder.parameters()) == [gen.tokens.weight]
    assert all(p.grad is None for p in gen.pipeline.unet.parameters())
    out = gen.generate([prompts[u] for u in users], seed=0, num_inference_steps=2, height=16, width=16)
    assert len(out) == 2 and out[0].size == (16, 16)


def test_pmg_paper_path_keeps_the_best_scored_candidate(tiny_sd):
    from baselines.pmg import paper_generate
    from dppmg.generation.paper import PaperImageGenerator

    gen = PaperImageGenerator.from_pretrained(tiny_sd)
    brightness = lambda images: [float(np.asarray(im).mean()) for im in images]  # noqa: E731  (a stand-in score)
    kwargs = dict(num_inference_steps=2, height=16, width=16)
    best = paper_generate(gen, ["red, wool", "blue, denim"], brightness, seed=0, candidates=3, **kwargs)
    pools = [gen.generate(["red, wool", "blue, denim"], 0 * 3 + j, **kwargs) for j in range(3)]
    for u in range(2):
        assert np.asarray(best[u]).mean() == max(np.asarray(pool[u]).mean() for pool in pools)


def test_history_image_paper_path_trains_only_the_projection(tiny_sd):
    from baselines.history_image import PaperHistoryImage
    from dppmg.generation.paper import PaperImageGenerator

    adapter = PaperHistoryImage(PaperImageGenerator.from_pretrained(tiny_sd), feature_dim=12, k=2)
    features = torch.nn.functional.normalize(torch.randn(2, 12), dim=-1)
    adapter.loss(torch.rand(2, 3, 16, 16) * 2 - 1, features, torch.Generator().manual_seed(0)).backward()
    pipe = adapter.generator.pipeline
    assert len(_trained(adapter.projection.parameters())) > 0
    assert all(p.grad is None for m in (pipe.unet, pipe.text_encoder, pipe.vae) for p in m.parameters())
    kwargs = dict(num_inference_steps=2, height=16, width=16)
    out = adapter.generate(features, seed=0, **kwargs)
    again = adapter.generate(features, seed=0, **kwargs)
    assert len(out) == 2 and np.array_equal(np.asarray(out[0]), np.asarray(again[0]))
