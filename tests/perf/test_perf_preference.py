"""Benchmarks of Stage 1 (pytest-benchmark; ``tox -e bench``): one full-graph training epoch of
the modal-specific GNN on MovieLens, and our propagation against torch-geometric's LightGCN on
the same graph and sizes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dppmg.data import load_dataset
from dppmg.data.features import extract_features
from dppmg.preference.model import fit_preference, normalized_adjacency, propagate
from dppmg.preference.ranking import RankingEvaluator
from dppmg.registry import resolve_stage1

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def movielens_small(data_root, session_cache):
    data = load_dataset("movielens", data_root=data_root, cache_dir=session_cache)
    return data, extract_features(data, cache_dir=session_cache, progress=False)


@pytest.mark.parametrize("method", ["dppmg", "lightgcn", "mf-bpr"])
def test_training_epoch_movielens(benchmark, movielens_small, method):
    data, feats = movielens_small
    evaluator = RankingEvaluator(data)
    # Five epochs without early stopping; the reported figure is the median epoch (training only).
    config = dataclasses.replace(resolve_stage1("movielens", "small", 0, method).preference, max_epochs=5, patience=10)

    def run():
        return fit_preference(data, feats, config, torch.Generator().manual_seed(0), evaluator, progress=False)

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["median_epoch_seconds"] = result.epoch_seconds
    benchmark.extra_info["train_interactions"] = int(evaluator.train.sum())


@pytest.fixture(scope="module")
def graph(movielens_small):
    data, _ = movielens_small
    pairs = data.user_item_pairs("train")
    n_u, n_i = data.num_users, data.num_items
    edge_index = torch.as_tensor(np.concatenate([np.stack([pairs[:, 0], pairs[:, 1] + n_u]),
                                                 np.stack([pairs[:, 1] + n_u, pairs[:, 0]])], 1))
    return normalized_adjacency(pairs, n_u, n_i), edge_index, n_u + n_i


def _forward_backward(fn, x):
    x.grad = None
    fn(x).pow(2).sum().backward()


def test_propagation_ours(benchmark, graph):
    adjacency, _, n = graph
    x = torch.randn(n, 64, requires_grad=True)
    benchmark(_forward_backward, lambda e: propagate(adjacency, e, 2), x)


def test_propagation_torch_geometric(benchmark, graph):
    from torch_geometric.nn.models import LightGCN

    _, edge_index, n = graph
    model = LightGCN(n, embedding_dim=64, num_layers=2)
    benchmark(lambda: model.get_embedding(edge_index).pow(2).sum().backward())


@pytest.fixture(scope="module")
def ml1m_size(session_cache, tmp_path_factory, movielens_root):
    from benchmark.fixtures import write_movielens_1m_format

    root = write_movielens_1m_format(tmp_path_factory.mktemp("ml1m-root"), source_root=movielens_root.parent,
                                     progress=False)
    data = load_dataset("movielens-1m", data_root=root, cache_dir=session_cache)
    return data, extract_features(data, cache_dir=session_cache, progress=False)


@pytest.mark.parametrize("method", ["dppmg", "lightgcn", "mf-bpr"])
def test_training_epoch_ml1m_size(benchmark, ml1m_size, method):
    """One epoch on the ML-1M-size fixture (about 414k training interactions); the scaling table
    itself comes from ``python -m benchmark scaling``."""
    from benchmark.scaling import epoch_profile

    data, feats = ml1m_size
    row = benchmark.pedantic(lambda: epoch_profile(data, feats, method, "small", epochs=2), rounds=1, iterations=1)
    benchmark.extra_info.update(row)
