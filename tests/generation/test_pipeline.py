"""Stage 2 at the smoke preset: token injection, gradients only where they belong, the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dppmg.config import stage2_config
from dppmg.errors import DPPMGError
from dppmg.generation.injection import PreferenceTokenEmbedding, init_from_texts, register_tokens
from dppmg.generation.pipeline import DPPMGPipeline
from dppmg.generation.train import build_pipeline
from dppmg.preference.checkpoint import load_stage1
from dppmg.preference.train import fit_and_save
from dppmg.registry import resolve_stage1


@pytest.fixture(scope="module")
def stage1(session_cache, smoke_synthetic):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPPMG_CACHE_DIR", str(session_cache))
        _, folder = fit_and_save(resolve_stage1("synthetic", "smoke", 0, "dppmg"), cache_dir=session_cache, progress=False)
    return load_stage1(folder, smoke_synthetic)


@pytest.fixture(scope="module")
def untrained(stage1, smoke_synthetic, session_cache):
    """The smoke pipeline with its token embeddings at their initial values."""
    return build_pipeline(smoke_synthetic, stage1, stage2_config("smoke"), torch.Generator().manual_seed(0),
                          cache_dir=session_cache, train=False, progress=False)


@pytest.fixture(scope="module")
def pipeline(stage1, smoke_synthetic, session_cache):
    history: dict = {}
    pipe = build_pipeline(smoke_synthetic, stage1, stage2_config("smoke"), torch.Generator().manual_seed(0),
                          cache_dir=session_cache, progress=False, history=history)
    return pipe, history


def test_tokens_round_trip_through_both_tokenizers(pipeline):
    pipe, _ = pipeline
    for tokenizer, module in ((pipe.text_tokenizer, pipe.text_tokens),
                              (pipe.image_backbone.conditioner.tokenizer, pipe.image_tokens)):
        for i, token in enumerate(module.tokens[:5]):
            ids = tokenizer(token, add_special_tokens=False)["input_ids"]
            assert ids == [module.first_id + i]
            assert tokenizer.decode(ids).strip() == token


def test_only_token_parameters_get_gradients(pipeline, smoke_synthetic):
    pipe, _ = pipeline
    prompt = pipe.text_prompt(smoke_synthetic.users["user_id"].iloc[0])
    ids = pipe.text_tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    pipe.text_tokens.weight.grad = None
    pipe.text_model(inputs_embeds=pipe.text_embeds(ids)).logits.sum().backward()
    assert pipe.text_tokens.weight.grad is not None and pipe.text_tokens.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in pipe.text_model.parameters())
    cond = pipe.image_condition([pipe.image_prompt(smoke_synthetic.users["user_id"].iloc[0])])
    (cond.hidden.sum() + cond.pooled.sum()).backward()
    assert pipe.image_tokens.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in pipe.image_backbone.conditioner.model.parameters())
    assert all(p.grad is None for p in pipe.image_backbone.unet.parameters())


def test_training_moved_the_token_embeddings(pipeline, untrained):
    pipe, history = pipeline
    assert len(history["text"]) == pipe.config.text_steps and len(history["image"]) == pipe.config.image_steps
    for trained, initial in ((pipe.text_tokens, untrained.text_tokens), (pipe.image_tokens, untrained.image_tokens)):
        assert trained.tokens == initial.tokens
        moved = (trained.weight.detach() - initial.weight.detach()).abs().sum(dim=1) > 0
        # Every step updates the rows of the tokens in its batch (Adam moves them all a little).
        assert moved.any(), "no token embedding changed: the optimiser never stepped"
    backbone = untrained.text_model.get_input_embeddings().weight
    assert torch.equal(pipe.text_model.get_input_embeddings().weight, backbone)  # the backbone stays frozen


def test_text_tokens_are_reused_when_only_the_image_side_changes(pipeline, stage1, smoke_synthetic, session_cache,
                                                                 monkeypatch):
    import dppmg.generation.train as stage2

    pipe, history = pipeline
    monkeypatch.setattr(stage2, "train_text_tokens", lambda *a, **k: pytest.fail("text tokens trained again"))
    again: dict = {}
    other = build_pipeline(smoke_synthetic, stage1, stage2_config("smoke", image_steps=3),
                           torch.Generator().manual_seed(0), cache_dir=session_cache, progress=False, history=again)
    assert torch.equal(other.text_tokens.weight, pipe.text_tokens.weight)
    assert again["text"] == pytest.approx(history["text"]) and len(again["image"]) == 3


def test_pipeline_call_and_save_load_roundtrip(pipeline, stage1, smoke_synthetic, session_cache, tmp_path):
    pipe, _ = pipeline
    users = smoke_synthetic.users["user_id"].tolist()[:2]
    out = pipe(users, seed=3, num_inference_steps=3, max_new_tokens=8)
    assert [o["user_id"] for o in out] == users
    assert out[0]["image"].size == (32, 48) and isinstance(out[0]["text"], str)
    assert out[0]["tokens"]["image"][0].startswith("<img_1_")
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = DPPMGPipeline.from_pretrained(tmp_path / "pipe", smoke_synthetic, stage1, cache_dir=session_cache)
    again = loaded(users, seed=3, num_inference_steps=3, max_new_tokens=8)
    assert [o["text"] for o in again] == [o["text"] for o in out]
    for a, b in zip(again, out):
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
    assert loaded.meta["token_losses"] == pipe.meta["token_losses"]


def test_a_loaded_pipeline_samples_with_the_current_image_settings(pipeline, stage1, smoke_synthetic, session_cache,
                                                                    tmp_path, monkeypatch):
    # Sampling settings are not in Stage 2's cache key: a pipeline saved at one guidance scale,
    # loaded under a config with another, must sample with the new one.
    import dataclasses

    import dppmg.generation.train as stage2

    pipe, _ = pipeline
    users = smoke_synthetic.users["user_id"].tolist()[:2]
    scale = pipe.image_backbone.config.guidance_scale + 2.0
    expected = pipe.generate_images(users, seed=1, num_inference_steps=3, guidance_scale=scale)
    saved_config = pipe.config
    monkeypatch.setattr(stage2, "pipeline_dir", lambda *a, **k: tmp_path / "pipe")
    pipe.save_pretrained(tmp_path / "pipe")
    configured = stage2_config("smoke", "synthetic")
    loaded, _, _ = stage2.load_or_train_pipeline(
        resolve_stage1("synthetic", "smoke", 0, "dppmg"),
        dataclasses.replace(configured, image=dataclasses.replace(configured.image, guidance_scale=scale)),
        cache_dir=session_cache, progress=False)
    assert loaded.config.image.guidance_scale == loaded.image_backbone.config.guidance_scale == scale
    got = loaded.generate_images(users, seed=1, num_inference_steps=3)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(got, expected))
    assert pipe.config is saved_config and pipe.image_backbone.config.guidance_scale == scale - 2.0


def test_image_sees_generated_text(stage1, smoke_synthetic, session_cache, tmp_path):
    config = stage2_config("smoke", image_sees_generated_text=3, image_steps=2)
    pipe = build_pipeline(smoke_synthetic, stage1, config, torch.Generator().manual_seed(0), cache_dir=session_cache,
                          progress=False)
    users = smoke_synthetic.users["user_id"].tolist()[:2]
    with pytest.raises(DPPMGError, match="needs its text"):
        pipe.image_prompt(users[0])
    prompt = pipe.image_prompt(users[0], "a red star with stripes")
    assert prompt == " ".join(pipe.token_table[users[0]]["image"]) + " a red star"
    texts = ["a red striped star", "a calm blue circle"]
    kwargs = {"num_inference_steps": 3}
    red_blue = pipe.generate_images(users, 1, texts=texts, **kwargs)
    blue_red = pipe.generate_images(users, 1, texts=texts[::-1], **kwargs)
    assert not np.array_equal(np.asarray(red_blue[0]), np.asarray(blue_red[0]))  # the image reads the text
    out = pipe(users, seed=1, max_new_tokens=8, **kwargs)
    from_generated = pipe.generate_images(users, 1, texts=[o["text"] for o in out], **kwargs)
    for a, b in zip(out, from_generated):
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b))
    pipe.save_pretrained(tmp_path / "pipe")
    loaded = DPPMGPipeline.from_pretrained(tmp_path / "pipe", smoke_synthetic, stage1, cache_dir=session_cache)
    assert loaded.config.image_sees_generated_text == 3


@pytest.mark.parametrize("option", ["text_sees_image_tokens", "image_sees_text_tokens"])
def test_cross_modal_tokens_are_words_of_the_reading_generator(option, stage1, smoke_synthetic, session_cache):
    pipe = build_pipeline(smoke_synthetic, stage1, stage2_config("smoke", **{option: True}),
                          torch.Generator().manual_seed(0), cache_dir=session_cache, train=False, progress=False)
    user = smoke_synthetic.users["user_id"].iloc[0]
    if option == "text_sees_image_tokens":
        tokenizer, module, prompt = pipe.text_tokenizer, pipe.text_tokens, pipe.text_prompt(user)
        other = pipe.token_table[user]["image"]
        embeds = pipe.text_embeds
    else:
        conditioner = pipe.image_backbone.conditioner
        tokenizer, module, prompt = conditioner.tokenizer, pipe.image_tokens, pipe.image_prompt(user)
        other = pipe.token_table[user]["text"]
        embeds = lambda ids: pipe.image_tokens(ids, conditioner.model.get_input_embeddings())  # noqa: E731
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    # Each of the other modality's tokens is one new id with its own learned row.
    other_ids = [module.first_id + module.tokens.index(t) for t in other]
    assert set(other_ids) <= set(ids[0].tolist())
    module.weight.grad = None
    embeds(ids).sum().backward()
    assert all(module.weight.grad[i - module.first_id].abs().sum() > 0 for i in other_ids)


def test_image_sees_generated_text_presets_and_bad_values():
    from dppmg.errors import ConfigError

    assert stage2_config("small", "hm").image_sees_generated_text == 12
    assert stage2_config("small", "movielens").image_sees_generated_text == 12
    assert stage2_config("small", "synthetic").image_sees_generated_text == 0
    for bad in (-1, True, 2.5):
        with pytest.raises(ConfigError, match="image_sees_generated_text"):
            stage2_config("smoke", image_sees_generated_text=bad)


def test_bad_inputs(pipeline):
    pipe, _ = pipeline
    with pytest.raises(DPPMGError, match="unknown user id 'ghost'"):
        pipe(["ghost"], seed=0)
    from dppmg.errors import ConfigError

    with pytest.raises(ConfigError, match="seed must be an int"):
        pipe([next(iter(pipe.token_table))], seed="1")


def test_injection_unit():
    from transformers import AutoTokenizer

    from dppmg.data.features import default_text_model_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_text_model_path()))
    first = register_tokens(tokenizer, ["<img_1_0>", "<img_1_1>"])
    base = nn.Embedding(first, 4)
    init = init_from_texts(["<img_1_0>", "<img_1_1>"], {"<img_1_0>": ["red star"]}, tokenizer, base)
    assert torch.allclose(init[0], base.weight[tokenizer("red star", add_special_tokens=False)["input_ids"]].mean(0))
    module = PreferenceTokenEmbedding(["<img_1_0>", "<img_1_1>"], first, init)
    ids = torch.tensor([[5, first, first + 1]])
    out = module(ids, base)
    assert torch.equal(out[0, 0], base.weight[5]) and torch.equal(out[0, 2], module.weight[1])


def test_generate_cli_writes_files(stage1, tmp_path, capsys):
    from dppmg.cli import main

    out = tmp_path / "gen"
    assert main(["generate", "--dataset", "synthetic", "--preset", "smoke", "--users", "u00001", "u00002",
                 "--out", str(out), "--steps", "2"]) == 0
    for uid in ("u00001", "u00002"):
        assert (out / f"user_{uid}.png").stat().st_size > 0
        assert (out / f"user_{uid}.txt").is_file()
        assert (out / f"user_{uid}.json").read_text().count("<img_1_") == 1
    assert (out / "grid.png").is_file()


def test_generate_cli_bad_input(stage1, tmp_path, capsys):
    from dppmg.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["generate", "--dataset", "synthetic", "--preset", "smoke", "--users", "u00001",
                 "--out", str(blocker / "sub")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert main(["generate", "--dataset", "synthetic", "--preset", "smoke", "--users", "zz",
                 "--out", str(tmp_path / "o")]) == 2
    assert "unknown user id(s) ['zz']" in capsys.readouterr().err
    # Checked against the source files before anything is loaded or trained: the cache stays empty.
    empty = tmp_path / "empty-cache"
    assert main(["generate", "--dataset", "synthetic", "--preset", "small", "--users", "u99999",
                 "--out", str(tmp_path / "o"), "--cache-dir", str(empty)]) == 2
    assert "ids look like 'u00000', 'u00001', 'u00002'" in capsys.readouterr().err
    assert not empty.exists() or not any(empty.rglob("*"))
    with pytest.raises(SystemExit):
        main(["evaluate", "--dataset", "synthetic", "--users", "-3"])
    assert "argument --users: expected a positive integer, got -3" in capsys.readouterr().err


def test_continuous_tokens_start_at_the_least_squares_fit_and_train_the_map():
    import torch

    from dppmg.generation.injection import ProjectedTokenEmbedding

    g = torch.Generator().manual_seed(0)
    prefs = torch.randn(20, 6, generator=g)
    true_map = torch.randn(6, 2 * 4, generator=g)
    init = (prefs @ true_map + 1.5).reshape(40, 4)  # exactly linear in the preferences: the fit is exact
    module = ProjectedTokenEmbedding([f"<s{i}>" for i in range(40)], 100, [prefs], [2], init, ridge=0.0)
    assert torch.allclose(module.weight, init, atol=1e-3)
    base = torch.nn.Embedding(100, 4)
    out = module(torch.tensor([[3, 100, 139]]), base)
    assert torch.equal(out[0, 0], base.weight[3]) and torch.allclose(out[0, 2], init[39], atol=1e-3)
    out.sum().backward()
    assert all(p.grad is not None for p in module.parameters()) and {n for n, _ in module.named_parameters()} == {
        "maps.0.weight", "maps.0.bias"}
    state = module.state_dict()
    assert "pref_0" in state  # the standardised preferences travel with the saved map


def test_continuous_pipeline_round_trips(stage1, smoke_synthetic, session_cache, tmp_path):
    from dppmg.config import stage2_config
    from dppmg.generation.injection import ProjectedTokenEmbedding
    from dppmg.generation.pipeline import DPPMGPipeline

    config = stage2_config("smoke", "synthetic", token_input="continuous")
    pipe = DPPMGPipeline.assemble(smoke_synthetic, stage1, config, session_cache, progress=False)
    assert isinstance(pipe.text_tokens, ProjectedTokenEmbedding) and isinstance(pipe.image_tokens,
                                                                                 ProjectedTokenEmbedding)
    user = smoke_synthetic.users["user_id"].iloc[0]
    levels = len(stage1.tokens[user]["text"])
    assert pipe.tokens_for(user)["text"] == [f"<stxt_0_{j}>" for j in range(levels)]
    with torch.no_grad():
        pipe.image_tokens.maps[0].bias.add_(0.25)
    pipe.save_pretrained(tmp_path / "continuous")
    loaded = DPPMGPipeline.from_pretrained(tmp_path / "continuous", smoke_synthetic, stage1, session_cache)
    assert torch.allclose(loaded.image_tokens.weight, pipe.image_tokens.weight)
