"""The image backbone's cache: an interrupted training resumes exactly where it stopped."""

from __future__ import annotations

import dataclasses

import torch

from dppmg.config import image_backbone_config
from dppmg.generation.image_backbone import backbone_dir, train_image_backbone
from dppmg.infra.seeding import seed_everything


def _weights(backbone) -> list[torch.Tensor]:
    return [p.detach().clone() for p in backbone.unet.parameters()]


def test_interrupted_training_resumes_to_the_same_weights(smoke_synthetic, tmp_path):
    config = image_backbone_config("smoke", train_steps=6, checkpoint_every=2)
    # The UNet's initial weights come from the global RNG, which seed_everything sets.
    straight = train_image_backbone(smoke_synthetic, config, seed_everything(3).torch,
                                    cache_dir=tmp_path / "straight", progress=False)

    interrupted_cache = tmp_path / "interrupted"
    partial = train_image_backbone(smoke_synthetic, config, seed_everything(3).torch,
                                   cache_dir=interrupted_cache, progress=False, max_steps_this_call=4)
    assert len(partial.losses) == 4
    # A new process would start from a fresh generator: the checkpoint restores its state.
    resumed = train_image_backbone(smoke_synthetic, config, torch.Generator().manual_seed(999),
                                   cache_dir=interrupted_cache, progress=False)
    assert len(resumed.losses) == 6
    assert resumed.losses[:4] == partial.losses
    assert resumed.losses == straight.losses
    for a, b in zip(_weights(resumed), _weights(straight)):
        torch.testing.assert_close(a, b)


def test_longer_schedule_continues_the_same_run(smoke_synthetic, tmp_path):
    short = image_backbone_config("smoke", train_steps=3, checkpoint_every=3)
    longer = dataclasses.replace(short, train_steps=5)
    assert backbone_dir(smoke_synthetic, short, tmp_path) == backbone_dir(smoke_synthetic, longer, tmp_path)
    assert backbone_dir(smoke_synthetic, short, tmp_path) != backbone_dir(
        smoke_synthetic, dataclasses.replace(short, lr=1e-3), tmp_path)
    first = train_image_backbone(smoke_synthetic, short, torch.Generator().manual_seed(0), cache_dir=tmp_path,
                                 progress=False)
    second = train_image_backbone(smoke_synthetic, longer, torch.Generator().manual_seed(0), cache_dir=tmp_path,
                                  progress=False)
    assert second.losses[:3] == first.losses and len(second.losses) == 5
    assert (second.folder / "unet_ema").is_dir()


def test_guidance_is_a_sampling_setting_per_dataset(smoke_synthetic):
    # A dataset samples with the guidance scale (and sampler) chosen on its validation users; that
    # must not retrain its backbone.
    chosen, default = image_backbone_config("small", "synthetic"), image_backbone_config("small")
    assert (chosen.guidance_scale, default.guidance_scale) == (6.0, 3.0)
    unguided = dataclasses.replace(chosen, guidance_scale=3.0, sampler="ddim", sample_steps=25)
    assert backbone_dir(smoke_synthetic, chosen) == backbone_dir(smoke_synthetic, unguided)
    movielens = image_backbone_config("small", "movielens")
    assert (movielens.sampler, movielens.sample_steps) != (default.sampler, default.sample_steps)
    assert backbone_dir(smoke_synthetic, dataclasses.replace(default, train_steps=movielens.train_steps)) == \
        backbone_dir(smoke_synthetic, dataclasses.replace(movielens, train_steps=movielens.train_steps))


def test_shared_backbones_do_not_depend_on_the_seed_of_the_cell_that_trains_them(tmp_path):
    """Backbones are cached per dataset and config, not per seed: the cell that trains one first
    (any method, any seed) must train the same one."""
    from dppmg.generation.backbones import load_backbones

    a = load_backbones("synthetic", "smoke", 0, cache_dir=tmp_path / "a", progress=False)
    b = load_backbones("synthetic", "smoke", 7, cache_dir=tmp_path / "b", progress=False)
    for x, y in ((a.image.unet, b.image.unet), (a.text_model, b.text_model)):
        assert all(torch.equal(p, q) for p, q in zip(x.state_dict().values(), y.state_dict().values()))
