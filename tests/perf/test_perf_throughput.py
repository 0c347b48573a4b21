"""Throughput of generation at ``small`` on MovieLens: users per second, text and image together,
for a 64-user batch and for all test users, with the peak memory (``tox -e bench``).

Needs the trained ``small`` Stage 2 pipeline of (movielens, seed 0) in the user's cache
(``dppmg train --dataset movielens --preset small --no-reward``); skipped otherwise.
"""

from __future__ import annotations

import pytest

from dppmg.provenance import peak_rss_mb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(data_root, user_cache):
    from dppmg.config import stage1_config, stage2_config
    from dppmg.data import load_dataset
    from dppmg.generation.cache import pipeline_dir
    from dppmg.generation.train import load_or_train_pipeline
    from dppmg.preference.checkpoint import checkpoint_dir, load_stage1

    data = load_dataset("movielens", preset="small", data_root=data_root, cache_dir=user_cache)
    folder = checkpoint_dir(stage1_config("movielens", "small", 0, "dppmg"), user_cache)
    if not folder.is_dir() or not (pipeline_dir(load_stage1(folder, data), stage2_config("small", "movielens"), 0,
                                                user_cache) / "pipeline.json").is_file():
        pytest.skip("no trained small pipeline of movielens, seed 0: run `dppmg train --dataset movielens "
                    "--preset small --no-reward` first")
    pipe, data = load_or_train_pipeline("movielens", "small", 0, data_root=data_root, cache_dir=user_cache,
                                        progress=False)
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
