"""Throughput of generation at ``small`` on MovieLens: users per second, text and image together,
for a 64-user batch and for all test users, with the peak memory (``tox -e bench``).

Needs the trained ``small`` Stage 2 pipeline of (movielens, seed 0) in the user's cache
(``dppmg train --dataset movielens --preset small --no-reward``); skipped otherwise.
"""

from __future__ import annotations

import pytest

from dppmg.infra.provenance import peak_rss_mb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(data_root, user_cache):
    from dppmg.config import stage2_config
    from dppmg.data import load_dataset
    from dppmg.generation.cache import pipeline_dir
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.preference.checkpoint import checkpoint_dir, load_stage1
    from dppmg.registry import resolve_stage1

    data = load_dataset("movielens", preset="small", data_root=data_root, cache_dir=user_cache)
    folder = checkpoint_dir(resolve_stage1("movielens", "small", 0, "dppmg"), user_cache)
    if not folder.is_dir() or not (pipeline_dir(load_stage1(folder, data), stage2_config("small", "movielens"), 0,
                                                user_cache) / "pipeline.json").is_file():
        pytest.skip("no trained small pipeline of movielens, seed 0: run `dppmg train --dataset movielens "
                    "--preset small --no-reward` first")
    pipe, data, _ = load_or_train_pipeline(resolve_stage1("movielens", "small", 0, "dppmg"), stage2_config("small", "movielens"),
                                           data_root=data_root, cache_dir=user_cache, progress=False)
    return pipe, data


@pytest.mark.parametrize("users", [64, None], ids=["64-users", "all-test-users"])
def test_users_per_second(benchmark, pipeline, users):
    from dppmg.evaluation.personalization import sample_users

    pipe, data = pipeline
    ids = sample_users(data, users, seed=0)
    out = benchmark.pedantic(pipe, args=(ids,), kwargs={"seed": 0}, rounds=1, iterations=1)
    assert len(out) == len(ids)
    seconds = benchmark.stats.stats.max
    benchmark.extra_info.update(users=len(ids), users_per_second=len(ids) / seconds, peak_rss_mb=peak_rss_mb(),
                                sampler=pipe.image_backbone.config.sampler,
                                sample_steps=pipe.image_backbone.config.sample_steps,
                                text_batch_size=pipe.config.text_batch_size)


# The same generators with untrained weights: trained weights cost the same time and memory, so these
# run on a fresh clone (no 30-minute backbone training first) and give the profile of what bounds
# throughput at `small`. Texts may stop early at an end-of-sequence token; untrained image weights
# cannot.
@pytest.fixture(scope="module")
def random_generators(user_cache):
    import torch

    from dppmg.config import image_backbone_config, stage2_config
    from dppmg.generation.image_backbone import TextConditioner, build_unet
    from dppmg.generation.text_backbone import load_smollm2

    torch.manual_seed(0)
    config = image_backbone_config("small", "movielens")
    unet = build_unet(config).eval()
    lm, tokenizer = load_smollm2(user_cache)
    return {"unet": unet, "image_config": config, "conditioner": TextConditioner(max_tokens=config.max_text_tokens),
            "lm": lm.eval(), "tokenizer": tokenizer, "stage2": stage2_config("small", "movielens")}


def _autocast(dtype: str):
    """bf16 autocast on the CPU (AVX-512 BF16 where the CPU has it), or nothing for fp32: what a
    lower-precision generator would buy (not used by the suite until a selection compares it)."""
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()


@pytest.mark.parametrize("sampler,steps,dtype", [("ddim", 25, "fp32"), ("dpm++", 15, "fp32"), ("dpm++", 10, "fp32"),
                                                 ("dpm++", 10, "bf16")])
def test_image_users_per_second_untrained(benchmark, random_generators, sampler, steps, dtype):
    import dataclasses

    import torch

    from dppmg.generation.image_backbone import sample_images

    g = random_generators
    config = dataclasses.replace(g["image_config"], sampler=sampler, sample_steps=steps)
    cond = g["conditioner"].encode(["<img_0_1> <img_1_2> <img_2_3> a film poster"] * 64)
    uncond = g["conditioner"].encode([""])

    def run():
        with _autocast(dtype):
            return sample_images(g["unet"], cond, uncond, config, torch.Generator().manual_seed(0))

    out = benchmark.pedantic(run, rounds=1, iterations=1)
    assert out.shape == (64, 3, config.height, config.width)
    benchmark.extra_info.update(users=64, users_per_second=64 / benchmark.stats.stats.max, peak_rss_mb=peak_rss_mb(),
                                sampler=sampler, sample_steps=steps, dtype=dtype, weights="untrained",
                                threads=torch.get_num_threads())


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_text_users_per_second_untrained_tokens(benchmark, random_generators, dtype):
    import torch

    from dppmg.generation.text_backbone import sample_in_batches

    g = random_generators
    config, tok = g["stage2"], g["tokenizer"]
    prompt = torch.tensor(tok("Describe a film this user would like: <txt_0_1> <txt_1_2> <txt_2_3>")["input_ids"])
    embed = g["lm"].get_input_embeddings()

    def run():
        with _autocast(dtype):
            return sample_in_batches(g["lm"], tok, [prompt] * 64, embed, 0, config.text_batch_size,
                                     max_new_tokens=config.max_new_tokens, top_p=config.top_p,
                                     temperature=config.temperature)

    _, samples = benchmark.pedantic(run, rounds=1, iterations=1)
    new_tokens = sum(s.shape[1] for s in samples) / len(samples)
    benchmark.extra_info.update(users=64, users_per_second=64 / benchmark.stats.stats.max, peak_rss_mb=peak_rss_mb(),
                                text_batch_size=config.text_batch_size, max_new_tokens=config.max_new_tokens,
                                mean_new_tokens=new_tokens, dtype=dtype, threads=torch.get_num_threads())
