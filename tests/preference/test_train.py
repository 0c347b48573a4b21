"""Stage 1 end to end at the smoke preset: training, tokens, checkpoints and the CLI."""

from __future__ import annotations

import json

import pytest

from dppmg.cli import main
from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.results import read_result
from dppmg.preference.checkpoint import load_stage1
from dppmg.preference.train import fit_and_save
from dppmg.registry import resolve_stage1


@pytest.fixture(scope="module")
def smoke_run(session_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPPMG_CACHE_DIR", str(session_cache))
        return fit_and_save(resolve_stage1("synthetic", "smoke", 0, "dppmg"), cache_dir=session_cache, progress=False)


def test_metrics_and_provenance(smoke_run):
    record, folder = smoke_run
    m = record["metrics"]
    assert m["test"]["recall@20"] > 0.2  # far above popularity on the synthetic world
    assert set(m["quantizer"]) == {"text", "image"}
    assert 0 < m["quantized_recall_kept"] <= 1.2
    assert read_result(folder / "metrics.json", stage="preference")["provenance"]["seed"] == 0


def test_ground_truth_is_recovered(smoke_run):
    rec = smoke_run[0]["metrics"]["ground_truth_recovery"]
    assert rec["probes"]["colour"]["from_image"] > rec["probes"]["colour"]["chance"] + 0.1
    assert rec["probes"]["style"]["from_text"] > rec["probes"]["style"]["chance"] + 0.1


def test_tokens_cover_every_user(smoke_run, smoke_synthetic):
    _, folder = smoke_run
    ckpt = load_stage1(folder, smoke_synthetic)
    assert set(ckpt.tokens) == set(smoke_synthetic.users["user_id"])
    tokens = ckpt.tokens["u00000"]
    assert [t.startswith("<txt_") for t in tokens["text"]] == [True, True]
    assert tokens["image"][0].startswith("<img_1_")


def test_checkpoint_from_another_dataset_is_refused(smoke_run, session_cache):
    from dppmg.data import load_dataset

    other = load_dataset("synthetic", preset="smoke", cache_dir=session_cache, min_user_interactions=30)
    with pytest.raises(DPPMGError, match="trained on a different dataset"):
        load_stage1(smoke_run[1], other)


def test_tokens_cli(smoke_run, capsys):
    assert main(["tokens", "--dataset", "synthetic", "--preset", "smoke", "--user", "u00003"]) == 0
    out = capsys.readouterr().out
    assert "user u00003 of synthetic" in out and "<img_1_" in out and "shared by" in out


def test_tokens_cli_bad_input(smoke_run, capsys):
    assert main(["tokens", "--dataset", "synthetic", "--preset", "smoke", "--user", "nobody"]) == 2
    assert "unknown user id(s) ['nobody']" in capsys.readouterr().err
    assert main(["tokens", "--dataset", "synthetic", "--preset", "smoke", "--user", "u00003", "--seed", "7"]) == 2
    assert "run `dppmg preference fit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preference", "fit", "--dataset", "synthetic", "--seed", "one"])
    assert "a seed is an integer in [0, 2**32), got 'one'" in capsys.readouterr().err


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_stage1("synthetic", "large", 0, "dppmg")
    with pytest.raises(ConfigError, match="seed must be an int"):
        resolve_stage1("synthetic", "smoke", "0", "dppmg")
    with pytest.raises(ConfigError, match="unknown method 'sasrec' in suite 'preference'; registered: popularity"):
        resolve_stage1("synthetic", "smoke", 0, "sasrec")
    with pytest.raises(ConfigError, match="unknown method 'dppmg-no-reward' in suite 'preference'"):
        resolve_stage1("synthetic", "smoke", 0, "dppmg-no-reward")


def test_popularity_baseline_runs(session_cache, tmp_path):
    record, _ = fit_and_save(resolve_stage1("synthetic", "smoke", 0, "popularity"), cache_dir=session_cache,
                             output_json=tmp_path / "pop.json", progress=False)
    assert json.loads((tmp_path / "pop.json").read_text())["method"] == "popularity"
    assert record["metrics"]["test"]["recall@20"] > 0


def test_ctrl_c_during_preference_fit_resumes_to_the_same_metrics(tmp_path, monkeypatch, capsys):
    """Ctrl-C mid-training: one line, exit 130; the rerun resumes from the last checkpoint (epoch 5)
    and ends with the metrics of a run that was never interrupted. One thread: with two, CPU sums
    differ in their last bits from run to run and the quantizer's k-means amplifies them."""
    import torch

    import dppmg.preference.model as model_module

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _interrupt_and_resume(tmp_path, monkeypatch, capsys, model_module)
    finally:
        torch.set_num_threads(threads)


def _interrupt_and_resume(tmp_path, monkeypatch, capsys, model_module):
    from dppmg.cli import main
    from dppmg.infra.results import read_result

    args = ["preference", "fit", "--dataset", "synthetic", "--preset", "smoke", "--seed", "0"]
    clean = tmp_path / "clean.json"
    # One cache for the three runs (features extracted once): a finished run leaves no checkpoint.
    assert main([*args, "--cache-dir", str(tmp_path / "c2"), "--out", str(clean)]) == 0

    real_sample, calls = model_module.sample_negatives, {"n": 0}
    batches_per_epoch = None

    def interrupted_at_epoch_7(*a, **k):
        calls["n"] += 1
        if calls["n"] > 6 * batches_per_epoch + 1:
            raise KeyboardInterrupt
        return real_sample(*a, **k)

    from dppmg.data import load_dataset

    data = load_dataset("synthetic", preset="smoke", cache_dir=tmp_path / "c2")
    batch = resolve_stage1("synthetic", "smoke", 0, "dppmg").preference.batch_size
    batches_per_epoch = -(-len(data.user_item_pairs("train")) // batch)
    monkeypatch.setattr(model_module, "sample_negatives", interrupted_at_epoch_7)
    capsys.readouterr()
    assert main([*args, "--cache-dir", str(tmp_path / "c2")]) == 130
    err = [line for line in capsys.readouterr().err.splitlines() if "dppmg:" in line]
    assert len(err) == 1 and "interrupted `dppmg preference fit" in err[0] and "resumes" in err[0]
    assert list((tmp_path / "c2" / "stage1" / "synthetic").glob("*.training"))

    monkeypatch.setattr(model_module, "sample_negatives", real_sample)
    resumed_calls = {"n": 0}

    def counting(*a, **k):
        resumed_calls["n"] += 1
        return real_sample(*a, **k)

    monkeypatch.setattr(model_module, "sample_negatives", counting)
    resumed = tmp_path / "resumed.json"
    assert main([*args, "--cache-dir", str(tmp_path / "c2"), "--out", str(resumed)]) == 0
    a, b = read_result(clean)["metrics"], read_result(resumed)["metrics"]
    assert a["best_epoch"] == b["best_epoch"]
    assert [h["valid_recall@20"] for h in a["history"]] == pytest.approx([h["valid_recall@20"] for h in b["history"]])
    assert a["test"] == b["test"] and a["quantized_test"] == b["quantized_test"]
    total_epochs = a["history"][-1]["epoch"]
    assert resumed_calls["n"] == (total_epochs - 5) * batches_per_epoch  # it did not start again
    assert not list((tmp_path / "c2" / "stage1" / "synthetic").glob("*.training"))
