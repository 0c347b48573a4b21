from __future__ import annotations

import pytest

from dppmg.config import data_config
from dppmg.errors import ConfigError
from dppmg.infra.seeding import check_seed, seed_everything
from dppmg.registry import resolve_stage1


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


def test_every_stage_resolves_for_every_preset_and_dataset():
    from dppmg import config

    for preset in config.PRESETS:
        for dataset in config.DATASETS:
            # The paper preset's LM is the user's own local model: its path is a required override.
            text = {"text": config.text_backbone_config(preset, model_path="/models/lm")} if preset == "paper" else {}
            assert config.stage2_config(preset, dataset, **text).image == config.image_backbone_config(preset, dataset)
            config.reward_config(preset, dataset)
            config.evaluation_config(preset, dataset)
            for role in ("reward", "evaluator"):
                assert config.alignment_config(role, preset, dataset).role == role
            for method in ("popularity", "dppmg"):
                resolve_stage1(dataset, preset, 0, method)


def test_dataset_rows_override_the_preset_and_overrides_override_both():
    from dppmg import config

    assert config.preference_config("hm", "paper").dim == 32
    assert config.preference_config("movielens", "small").dim == config.PRESET_TABLE["preference"]["small"]["dim"]
    assert resolve_stage1("hm", "paper", 0, "mf-bpr").preference.dim == 32  # like for like across methods
    assert config.preference_config("hm", "paper", dim=8).dim == 8
    assert config.stage2_config("small", "movielens").image_sees_generated_text == 12
    assert config.evaluation_config("small").users == 256 and config.evaluation_config("smoke").users == 8


@pytest.mark.parametrize("call, match", [
    (lambda c: c.stage2_config("smoke", "synthetic", text_step=3), "unknown stage2 config option\\(s\\): text_step"),
    (lambda c: c.reward_config("smoke", weight=1), "unknown reward config option\\(s\\): weight"),
    (lambda c: c.evaluation_config("smoke", users=1), "EvaluationConfig.users must be an int >= 2"),
    (lambda c: c.alignment_config("judge", "smoke"), "unknown alignment role 'judge'"),
    (lambda c: c.image_backbone_config("huge"), "unknown preset 'huge'"),
    (lambda c: c.preference_config("imdb", "small"), "unknown dataset 'imdb'"),
])
def test_bad_overrides_are_named(call, match):
    from dppmg import config

    with pytest.raises(ConfigError, match=match):
        call(config)
