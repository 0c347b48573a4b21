"""The modal-specific graph preference model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dppmg.errors import ConfigError
from dppmg.preference.config import PreferenceConfig
from dppmg.preference.model import (
    ModalPreferenceGNN,
    cold_start_fill,
    epoch_batch_size,
    fit_preference,
    normalized_adjacency,
    propagate,
    sample_negatives,
)
from dppmg.preference.ranking import RankingEvaluator, SparseInteractions


def random_graph(n_users=12, n_items=20, n=60, seed=0):
    rng = np.random.default_rng(seed)
    pairs = np.unique(np.stack([rng.integers(0, n_users, n), rng.integers(0, n_items, n)], 1), axis=0)
    return pairs, n_users, n_items


def test_propagation_matches_torch_geometric_lightgcn():
    from torch_geometric.nn.models import LightGCN

    pairs, n_u, n_i = random_graph()
    adj = normalized_adjacency(pairs, n_u, n_i)
    pyg = LightGCN(n_u + n_i, embedding_dim=8, num_layers=3)
    edge_index = torch.as_tensor(np.concatenate([np.stack([pairs[:, 0], pairs[:, 1] + n_u]),
                                                 np.stack([pairs[:, 1] + n_u, pairs[:, 0]])], 1))
    expected = pyg.get_embedding(edge_index)
    ours = propagate(adj, pyg.embedding.weight, 3)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_symmetric_spmm_gradient_matches_dense():
    pairs, n_u, n_i = random_graph()
    adj = normalized_adjacency(pairs, n_u, n_i)
    x = torch.randn(n_u + n_i, 4, requires_grad=True)
    (propagate(adj, x, 2) ** 2).sum().backward()
    dense = adj.to_dense()
    x2 = x.detach().clone().requires_grad_(True)
    ((x2 + dense @ x2 + dense @ (dense @ x2)) / 3).pow(2).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-5)


def make_model(config=PreferenceConfig(dim=8, num_layers=2)):
    pairs, n_u, n_i = random_graph()
    feats = {"text": torch.randn(n_i, 6), "image": torch.randn(n_i, 10)}
    return ModalPreferenceGNN(n_u, n_i, feats, normalized_adjacency(pairs, n_u, n_i), config), pairs


def test_gradients_reach_both_modalities():
    model, pairs = make_model()
    reps = model()
    loss = sum((p[pairs[:, 0]] * q[pairs[:, 1]]).sum() for p, q in reps.values())
    loss.backward()
    for m in ("text", "image"):
        assert model.proj[m].weight.grad.abs().sum() > 0
        assert model.user_emb[m].weight.grad.abs().sum() > 0


def test_shared_ablation_has_one_user_vector():
    model, _ = make_model(PreferenceConfig(dim=8, shared=True))
    reps = model()
    assert list(reps) == ["shared"] and set(model.proj) == {"text", "image"}


def test_negatives_avoid_training_items():
    dense = torch.zeros(3, 50, dtype=torch.bool)
    dense[0, :45] = True
    train = SparseInteractions(dense.nonzero().numpy(), 3, 50)
    users = torch.zeros(200, dtype=torch.long)
    for tries in (20, 0):  # 0: every clash goes to the exact draw among the user's free items
        neg = sample_negatives(users, train, torch.Generator().manual_seed(0), tries=tries)
        assert not dense[users, neg].any()


def test_epoch_steps_are_bounded_so_an_epoch_is_linear_in_the_data():
    config = PreferenceConfig(batch_size=100, max_steps_per_epoch=4)
    assert epoch_batch_size(350, config) == 100  # 4 steps: the bound does not bind
    assert epoch_batch_size(401, config) == 101  # would be 5 steps: the batch grows instead
    assert -(-40_000 // epoch_batch_size(40_000, config)) == 4


def test_branches_propagated_together_equal_each_alone():
    pairs, n_u, n_i = random_graph()
    adjacency = normalized_adjacency(pairs, n_u, n_i)
    torch.manual_seed(0)
    feats = {"text": torch.randn(n_i, 12), "image": torch.randn(n_i, 20)}
    model = ModalPreferenceGNN(n_u, n_i, feats, adjacency, PreferenceConfig(dim=8))
    together = model()
    for branch, (p, q) in together.items():
        alone = propagate(adjacency, torch.cat([model.user_emb[branch].weight, model.item_input(branch)]), 2)
        assert torch.allclose(torch.cat([p, q]), alone, atol=1e-6)


def test_config_validation():
    with pytest.raises(ConfigError, match="cannot be combined"):
        PreferenceConfig(modalities=("id", "text"))
    with pytest.raises(ConfigError, match="num_layers must be >= 0"):
        PreferenceConfig(num_layers=-1)


def test_training_is_reproducible(smoke_synthetic):
    from dppmg.data.features import extract_features

    feats = extract_features(smoke_synthetic, progress=False)
    config = PreferenceConfig(dim=16, max_epochs=3)
    ev = RankingEvaluator(smoke_synthetic)
    a = fit_preference(smoke_synthetic, feats, config, torch.Generator().manual_seed(5), ev, progress=False)
    b = fit_preference(smoke_synthetic, feats, config, torch.Generator().manual_seed(5), ev, progress=False)
    # Multithreaded CPU kernels may change the last bits of a sum; everything else is identical.
    assert [pytest.approx(h, rel=1e-5) for h in a.history] == b.history
    assert a.best_epoch == b.best_epoch
    # Multithreaded CPU reductions (sparse products, index_add in backward) may differ in the last bits.
    assert torch.allclose(a.model.score_all(), b.model.score_all(), atol=1e-5)


def test_cold_start_users_get_the_mean_preference():
    prefs = torch.tensor([[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]])
    out = cold_start_fill(prefs, torch.tensor([True, True, False]))
    assert out[2].tolist() == [2.0, 1.0] and out[0].tolist() == [1.0, 0.0]


def test_a_training_checkpoint_of_other_data_is_not_resumed(tmp_path, capsys):
    from dppmg.preference.model import _load_training_state, _save_training_state

    folder = tmp_path / "dppmg-small-seed0-abc.training"
    _save_training_state(folder, {"epoch": 5, "data": {"train": "old"}}, "synthetic")
    assert _load_training_state(folder, {"train": "old"})["epoch"] == 5
    assert _load_training_state(folder, {"train": "new"}) is None
    assert "written for other data; rebuilding it" in capsys.readouterr().err
    assert not folder.exists()
