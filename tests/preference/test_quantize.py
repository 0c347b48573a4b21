"""Residual quantizer invariants."""

from __future__ import annotations

import pytest
import torch

from dppmg.preference.config import QuantizerConfig
from dppmg.preference.quantize import ResidualQuantizer, codes_to_tokens, quantizer_report, token_name, train_quantizer

CONFIG = QuantizerConfig(levels=3, codebook_size=8, code_dim=4, hidden_dim=16, epochs=20, batch_size=64)


def clustered(n=300, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(10, d, generator=g) * 3
    return centres[torch.randint(10, (n,), generator=g)] + 0.3 * torch.randn(n, d, generator=g)


def test_codes_in_range_and_shapes():
    x = clustered()
    model, history = train_quantizer(x, CONFIG, torch.Generator().manual_seed(0), progress=False)
    codes = model.encode(x)
    assert codes.shape == (300, 3) and codes.min() >= 0 and codes.max() < 8
    assert model.decode(codes).shape == x.shape
    assert history[-1]["recon"] < 1.0  # better than predicting the mean (standardised units)


def test_training_reduces_reconstruction_error():
    x = clustered()
    gen = torch.Generator().manual_seed(0)
    model = ResidualQuantizer(6, CONFIG)
    model.init_codebooks(x, gen)
    before = quantizer_report(model, x)["recon_mse"]
    trained, _ = train_quantizer(x, CONFIG, torch.Generator().manual_seed(0), progress=False)
    assert quantizer_report(trained, x)["recon_mse"] < before


def test_restart_revives_a_dead_code():
    x = clustered()
    gen = torch.Generator().manual_seed(1)
    model = ResidualQuantizer(6, CONFIG)
    model.init_codebooks(x, gen)
    with torch.no_grad():
        model.codebooks[0, 3] = 1e4  # far from every residual: never chosen
    assert (model.encode(x)[:, 0] != 3).all()
    last_used = torch.full((3, 8), 10.0)
    last_used[0, 3] = 0
    restarted = model.restart_dead_codes(x, last_used, epoch=10, generator=gen)
    assert restarted == 1
    assert (model.encode(x)[:, 0] == 3).any()


def test_report_fields():
    x = clustered()
    model, _ = train_quantizer(x, CONFIG, torch.Generator().manual_seed(0), progress=False)
    rep = quantizer_report(model, x)
    assert len(rep["levels"]) == 3
    assert all(0 < lv["utilisation"] <= 1 and 1 <= lv["perplexity"] <= 8 for lv in rep["levels"])
    codes = [tuple(row) for row in model.encode(x).tolist()]
    shared = sum(codes.count(c) > 1 for c in codes) / len(codes)  # users whose whole code another user has
    assert rep["collision_rate"] == pytest.approx(shared) and rep["distinct_tuples"] == len(set(codes))


def test_token_names():
    assert token_name("image", 0, 17) == "<img_1_17>"
    assert token_name("text", 1, 5) == "<txt_2_5>"
    assert codes_to_tokens("text", [[1, 2]]) == [["<txt_1_1>", "<txt_2_2>"]]


def test_decode_rejects_bad_codes():
    import pytest

    from dppmg.errors import ConfigError

    model = ResidualQuantizer(6, CONFIG)
    with pytest.raises(ConfigError, match="codes must lie"):
        model.decode(torch.tensor([[0, 1, 99]]))
