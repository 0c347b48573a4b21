"""Benchmarks of the data and feature stages (pytest-benchmark; run with ``tox -e bench``).

Times are recorded, never asserted: they depend on the machine. Peak memory of each run is added
to the benchmark's ``extra_info``.
"""

from __future__ import annotations

import pytest

import dppmg.data.features as features
from dppmg.data import load_dataset
from dppmg.infra.provenance import peak_rss_mb

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def movielens_all_items(data_root, session_cache):
    # Every MovieLens item with a poster (1,666), not only those that survive the positive threshold.
    return load_dataset("movielens", data_root=data_root, cache_dir=session_cache,
                        positive_threshold=None, min_user_interactions=1)


def test_movielens_features_cold(benchmark, movielens_all_items, tmp_path_factory):
    def setup():
        features._ENCODERS.clear()  # include loading both encoders, as a first run does
        return (movielens_all_items,), {"cache_dir": tmp_path_factory.mktemp("cold"), "progress": False}

    result = benchmark.pedantic(features.extract_features, setup=setup, rounds=1, iterations=1)
    benchmark.extra_info.update(items=movielens_all_items.num_items, peak_rss_mb=peak_rss_mb())
    assert result["text"].shape == (1666, 384) and result["image"].shape == (1666, 1280)


def test_movielens_features_cached_rerun(benchmark, data_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("warm")

    def rerun():
        data = load_dataset("movielens", data_root=data_root, cache_dir=cache,
                            positive_threshold=None, min_user_interactions=1)
        return features.extract_features(data, cache_dir=cache, progress=False)

    rerun()  # fills the dataset and feature caches
    features._ENCODERS.clear()
    result = benchmark.pedantic(rerun, rounds=5, iterations=1)
    benchmark.extra_info.update(peak_rss_mb=peak_rss_mb())
    assert not features._ENCODERS, "a cached rerun must not load any encoder"
    assert result["image"].shape[0] == 1666


@pytest.mark.parametrize("dataset", ["movielens", "hm"])
def test_dataset_load_uncached(benchmark, dataset, data_root, tmp_path_factory):
    data = benchmark.pedantic(load_dataset, args=(dataset,),
                              kwargs={"data_root": data_root, "use_cache": False,
                                      "cache_dir": tmp_path_factory.mktemp("load")}, rounds=3, iterations=1)
    assert data.num_users > 0
