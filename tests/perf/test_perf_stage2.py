"""Benchmarks of Stage 2 at the ``small`` preset on MovieLens (``tox -e bench``): one user's text
(up to 64 new tokens, SmolLM2) + image (25 DDIM steps) end to end, 64 users in one batch, and
image-backbone training steps per second. Needs the Stage 1 checkpoint of (movielens, small, seed 0)
(``dppmg preference fit --dataset movielens``); builds the backbones on first use (long)."""

from __future__ import annotations

import pytest
import torch

from dppmg.config import image_backbone_config, stage2_config
from dppmg.data import load_dataset
from dppmg.generation.image_backbone import TextCondition, diffusion_loss, train_scheduler
from dppmg.generation.train import build_pipeline
from dppmg.preference.checkpoint import checkpoint_dir, load_stage1
from dppmg.registry import resolve_stage1

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(data_root, user_cache):
    data = load_dataset("movielens", preset="small", data_root=data_root, cache_dir=user_cache)
    folder = checkpoint_dir(resolve_stage1("movielens", "small", 0, "dppmg"), user_cache)
    if not folder.is_dir():
        pytest.skip(f"no stage-1 checkpoint at {folder}: run `dppmg preference fit --dataset movielens` first")
    pipe = build_pipeline(data, load_stage1(folder, data), stage2_config("small", "movielens"), torch.Generator().manual_seed(0),
                          cache_dir=user_cache, train=False, progress=False)
    return pipe, data


def test_one_user_end_to_end(benchmark, pipeline):
    pipe, data = pipeline
    user = data.users["user_id"].iloc[0]
    out = benchmark.pedantic(pipe, args=([user],), kwargs={"seed": 0, "num_inference_steps": 25, "max_new_tokens": 64},
                             rounds=2, iterations=1)
    assert out[0]["image"].size == (32, 48)


def test_64_users_batched(benchmark, pipeline):
    pipe, data = pipeline
    users = data.users["user_id"].tolist()[:64]
    benchmark.extra_info["users"] = len(users)
    benchmark.pedantic(pipe.generate_images, args=(users, 0), kwargs={"num_inference_steps": 25}, rounds=1, iterations=1)


def test_64_users_texts(benchmark, pipeline):
    pipe, data = pipeline
    users = data.users["user_id"].tolist()[:64]
    benchmark.extra_info["users"] = len(users)
    benchmark.pedantic(pipe.generate_texts, args=(users, 0), kwargs={"max_new_tokens": 64}, rounds=1, iterations=1)


def test_image_backbone_training_step(benchmark):
    from dppmg.generation.image_backbone import build_unet

    config = image_backbone_config("small")
    unet, scheduler = build_unet(config), train_scheduler(config)
    optim = torch.optim.AdamW(unet.parameters(), lr=config.lr)
    x = torch.rand(config.batch_size, 3, config.height, config.width) * 2 - 1
    hidden = torch.randn(config.batch_size, config.max_text_tokens, 384)
    cond = TextCondition(hidden, torch.ones(config.batch_size, config.max_text_tokens, dtype=torch.long), hidden.mean(1))
    generator = torch.Generator().manual_seed(0)

    def step():
        loss = diffusion_loss(unet, scheduler, x, cond, generator)
        optim.zero_grad()
        loss.backward()
        optim.step()

    benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["batch_size"] = config.batch_size
