from __future__ import annotations

import pytest

from dppmg.config import data_config
from dppmg.errors import ConfigError
from dppmg.seeding import check_seed, seed_everything


def test_dataset_defaults():
    assert data_config("movielens").positive_threshold == 4.0
    hm = data_config("hm")
    assert (hm.min_user_interactions, hm.min_item_interactions) == (5, 2)
    assert data_config("synthetic", "smoke").synthetic.num_users < data_config("synthetic", "small").synthetic.num_users


@pytest.mark.parametrize("kwargs, match", [
    ({"dataset": "imdb"}, "unknown dataset 'imdb'"),
    ({"dataset": "hm", "preset": "huge"}, "unknown preset 'huge'"),
    ({"dataset": "hm", "split_ratios": (0.5, 0.1, 0.1)}, "split_ratios"),
    ({"dataset": "hm", "min_user_interactions": 0}, "min_user_interactions"),
    ({"dataset": "hm", "colour": 1}, "unknown data config option"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        data_config(**kwargs)


def test_seed_checks():
    assert check_seed(3) == 3
    for bad in ("3", 3.0, True, -1):
        with pytest.raises(ConfigError, match="seed"):
            check_seed(bad)


def test_seed_everything_gives_reproducible_generators():
    a, b = seed_everything(7), seed_everything(7)
    assert a.numpy.random() == b.numpy.random()
    import torch

    assert torch.equal(torch.rand(3, generator=a.torch), torch.rand(3, generator=b.torch))
