"""Cache entries: sealed by a manifest, damaged ones named in one line and rebuilt (or, for a
command that only loads, an error naming the command that rebuilds them)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from dppmg.cli import main
from dppmg.infra import cache


def _entry(tmp_path):
    folder = tmp_path / "stage2" / "e"
    with cache.entry(folder, "synthetic") as tmp:
        (tmp / "weights.pt").write_bytes(b"x" * 1000)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "config.json").write_text("{}")
    return folder


def test_sealed_entry_is_intact_and_records_its_dataset(tmp_path):
    folder = _entry(tmp_path)
    assert cache.problem(folder) is None
    manifest = json.loads((folder / cache.MANIFEST).read_text())
    assert manifest["dataset"] == "synthetic" and set(manifest["files"]) == {"weights.pt", "sub/config.json"}


@pytest.mark.parametrize("damage, expected", [
    (lambda f: f.joinpath("weights.pt").write_bytes(b"x" * 10), "weights.pt has 10 bytes, its manifest says 1,000"),
    (lambda f: f.joinpath("sub", "config.json").unlink(), "sub/config.json is missing"),
    (lambda f: f.joinpath(cache.MANIFEST).unlink(), "no manifest.json"),
    (lambda f: f.joinpath("weights.pt").write_bytes(b"y" * 1000), "does not match its checksum"),
])
def test_each_kind_of_damage_is_named(tmp_path, damage, expected):
    folder = _entry(tmp_path)
    damage(folder)
    cache._verified.clear()
    assert expected in cache.problem(folder)


def test_reuse_reports_one_line_and_removes_a_damaged_entry(tmp_path, capsys):
    folder = _entry(tmp_path)
    (folder / "weights.pt").write_bytes(b"")
    assert cache.reuse(folder, "Stage 2 pipeline") is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Stage 2 pipeline" in err[0] and "weights.pt" in err[0] and "rebuilding" in err[0]
    assert not folder.exists()
    assert cache.reuse(folder, "Stage 2 pipeline") is False  # absent: nothing to say


def test_require_names_the_rebuild_command(tmp_path):
    with pytest.raises(cache.CacheError, match="run `dppmg preference fit` first"):
        cache.require(tmp_path / "absent", "stage-1 checkpoint", "dppmg preference fit")
    folder = _entry(tmp_path)
    (folder / "weights.pt").unlink()
    with pytest.raises(cache.CacheError, match="weights.pt is missing; rebuild it with `dppmg x`"):
        cache.require(folder, "thing", "dppmg x")


def test_interrupted_write_leaves_no_entry(tmp_path):
    folder = tmp_path / "alignment" / "hm-x"
    with pytest.raises(RuntimeError), cache.entry(folder) as tmp:
        (tmp / "model.pt").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not folder.exists() and not list((tmp_path / "alignment").iterdir())


# ----- each kind of real cache file, truncated, on the smoke synthetic world ------------------


@pytest.fixture
def trained_cache(smoke_stage2, session_cache, tmp_path, monkeypatch):
    """A private copy of the session's trained smoke cache (Stage 1, both backbones, Stage 2)."""
    copy = tmp_path / "cache"
    shutil.copytree(session_cache, copy, ignore=shutil.ignore_patterns("*.tmp", "*.old"))
    monkeypatch.setenv("DPPMG_CACHE_DIR", str(copy))
    return copy


def _one(root, pattern):
    found = sorted(root.glob(pattern))
    assert found, pattern
    return found[0]


def _load_pipeline(cache_dir):
    from dppmg.methods import DPPMG
    from dppmg.train import train_dppmg

    pipe, _, _ = train_dppmg(DPPMG().run_config("synthetic", "smoke", 0, with_reward=False), cache_dir=cache_dir, progress=False)
    return pipe


def _stage2_file(cache_dir, smoke_stage2, name):
    from pathlib import Path

    return cache_dir / "stage2" / Path(smoke_stage2[0].meta["folder"]).name / name


def test_truncated_stage2_tokens_are_named_and_rebuilt(trained_cache, smoke_stage2, capsys):
    import shutil

    target = _stage2_file(trained_cache, smoke_stage2, "image_tokens.pt")
    # The reference is built in this process: the cached entry may come from a harness worker with
    # another thread count, whose float sums Adam's steps can amplify in a few-step smoke run.
    shutil.rmtree(target.parent)
    original = _load_pipeline(trained_cache).image_tokens.weight.detach().clone()
    capsys.readouterr()
    target.write_bytes(target.read_bytes()[:100])
    pipe = _load_pipeline(trained_cache)
    err = capsys.readouterr().err
    assert "dppmg: cache: Stage 2 pipeline" in err and "image_tokens.pt has 100 bytes" in err
    torch.testing.assert_close(pipe.image_tokens.weight.detach(), original, rtol=1e-4, atol=1e-5)
    assert cache.problem(target.parent) is None


def test_truncated_unet_is_named_and_retrained(trained_cache, smoke_synthetic, capsys):
    from dppmg.config import image_backbone_config
    from dppmg.generation.image_backbone import train_image_backbone

    target = _one(trained_cache, "image_backbone/*/unet_ema/diffusion_pytorch_model.safetensors")
    target.write_bytes(target.read_bytes()[:1000])
    backbone = train_image_backbone(smoke_synthetic, image_backbone_config("smoke", "synthetic"),
                                    torch.Generator().manual_seed(0), trained_cache, progress=False)
    err = capsys.readouterr().err
    assert "image backbone checkpoint" in err and "diffusion_pytorch_model.safetensors has 1,000 bytes" in err
    assert len(backbone.losses) == image_backbone_config("smoke", "synthetic").train_steps
    assert cache.problem(target.parents[1]) is None


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_stage1_tokens_name_the_command(trained_cache, capsys, damage):
    from dppmg.preference.checkpoint import checkpoint_dir
    from dppmg.registry import resolve_stage1

    # DPPMG's own checkpoint (the session cache also holds those of ablations that override Stage 1).
    target = checkpoint_dir(resolve_stage1("synthetic", "smoke", 0, "dppmg"), trained_cache) / "tokens.json"
    assert target.is_file()
    if damage == "truncate":
        target.write_text('{"modal')
    else:
        target.unlink()
    code = main(["tokens", "--dataset", "synthetic", "--preset", "smoke", "--user", "u00001",
                 "--cache-dir", str(trained_cache)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "tokens.json" in err[0] and ("is missing" in err[0] or "bytes" in err[0])
    assert "dppmg preference fit --dataset synthetic --method dppmg --preset smoke --seed 0" in err[0]
    if damage == "delete":
        return
    # A command that trains rebuilds it instead.
    from dppmg.methods import DPPMG
    from dppmg.train import train_dppmg

    train_dppmg(DPPMG().run_config("synthetic", "smoke", 0, with_reward=False), cache_dir=trained_cache, progress=False)
    assert "stage-1 checkpoint" in capsys.readouterr().err
    assert main(["tokens", "--dataset", "synthetic", "--preset", "smoke", "--user", "u00001",
                 "--cache-dir", str(trained_cache)]) == 0


def test_truncated_data_and_feature_files_are_reported_and_rebuilt(trained_cache, smoke_synthetic, capsys):
    from dppmg.data import load_dataset
    from dppmg.data.features import item_features

    load_dataset("synthetic", preset="smoke", cache_dir=trained_cache)  # its key holds the cache's path
    for pkl in trained_cache.glob("processed/synthetic-*.pkl"):
        pkl.write_bytes(pkl.read_bytes()[:50])
    data = load_dataset("synthetic", preset="smoke", cache_dir=trained_cache)
    assert "processed dataset" in capsys.readouterr().err
    assert len(data.interactions) == len(smoke_synthetic.interactions)
    before = item_features(data, "text", cache_dir=trained_cache, progress=False)
    npy = _one(trained_cache, "features/synthetic/text-*.npy")
    npy.write_bytes(npy.read_bytes()[:200])
    after = item_features(data, "text", cache_dir=trained_cache, progress=False)
    assert "features" in capsys.readouterr().err
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


def test_cache_verify_and_clear_commands(trained_cache, capsys):
    root = ["--cache-dir", str(trained_cache)]
    assert main(["cache", "verify", *root]) == 0
    target = _one(trained_cache, "stage2/*/text_tokens.pt")
    target.write_bytes(b"")
    assert main(["cache", "verify", "--stage", "stage2", *root]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED: text_tokens.pt has 0 bytes" in out and "1 damaged" in out
    assert main(["cache", "clear", "--damaged", *root]) == 0
    assert not target.parent.exists()
    assert main(["cache", "verify", *root]) == 0
    assert main(["cache", "clear", "--stage", "stage1", "--dataset", "synthetic", *root]) == 0
    assert not list((trained_cache / "stage1" / "synthetic").iterdir())
    with pytest.raises(SystemExit):
        main(["cache", "clear", "--stage", "nonsense", *root])
    assert main(["cache", "clear", *root]) == 2  # everything only with --all
    assert "name --stage" in capsys.readouterr().err and any((trained_cache / "image_backbone").iterdir())
