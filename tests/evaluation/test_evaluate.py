"""`dppmg evaluate` at smoke: the results file, its schema, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dppmg.cli import main
from dppmg.config import reward_config
from dppmg.errors import ConfigError, DPPMGError
from dppmg.evaluation.evaluate import evaluate, ground_truth_accuracy
from dppmg.infra.results import read_result


@pytest.fixture(scope="module")
def evaluated(session_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation") / "synthetic__dppmg__seed0.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPPMG_CACHE_DIR", str(session_cache))
        evaluate("synthetic", "dppmg", "smoke", 0, out, cache_dir=session_cache, users=5, progress=False)
    return out


def test_result_validates_and_carries_every_metric(evaluated):
    result = read_result(evaluated, stage="evaluation", dataset="synthetic")
    m = result["metrics"]
    n = len(m["users"])
    assert n == 5 and m["split"] == "test"
    for group, keys in (("image", ("cos_targets", "cos_history", "ssim_targets")),
                        ("text", ("rouge_l_targets", "bleu_targets", "cos_targets", "cos_history")),
                        ("consistency", ("evaluator", "reward_model")),
                        ("ground_truth", ("image_colour", "text_style"))):
        for key in keys:
            assert len(m[group][key]["per_user"]) == n, (group, key)
            assert np.isfinite(m[group][key]["mean"])
    config = prov_config(result)["evaluation"]
    retrieval = m["consistency"]["retrieval"]
    assert retrieval["batch_size"] == config["retrieval_batch"]
    assert retrieval["chance"] == pytest.approx(1 / min(retrieval["batch_size"], n))
    for modality in ("image", "text"):
        for view in ("targets", "history", "evaluator"):
            test = m["personalization"][modality][view]
            assert test["users"] + test["dropped_users"] == n and test["permutations"] == config["permutations"]
            assert len(test["per_user"]["auc"]) == test["users"]
            assert test["statistic"] == pytest.approx(np.mean(test["per_user"]["centred_own"]), abs=1e-5)
            # A permutation p is (1 + #{permuted >= observed}) / (1 + B): a whole multiple of 1/(1+B).
            hits = test["p"] * (1 + config["permutations"])
            assert 1 <= round(hits) <= 1 + config["permutations"] and hits == pytest.approx(round(hits), abs=1e-6)
    kid = m["quality"]["kid"]
    assert kid["generated"] == n and kid["subsets"] == config["kid_subsets"] and kid["subset_size"] <= n
    assert m["quality"]["frechet_distance"]["generated"] == n
    assert set(m["alignment"]) == {"reward", "evaluator"}
    assert {"valid", "test"} <= set(m["preference_evaluator"])
    assert len(m["reward_curves"]["reward"]) == reward_config("smoke").steps
    assert m["throughput"]["users"] == n
    prov = result["provenance"]
    assert {"stage2", "generate", "metrics"} <= {t["stage"] for t in prov["timings"]}
    assert prov["config"]["evaluator"]["role"] == "evaluator" and prov["seed"] == 0
    assert prov["config"]["evaluation"]["users"] == 5 == prov["config"]["users"]


def test_a_validation_run_reads_no_test_item(session_cache, tmp_path, monkeypatch):
    from dppmg.data.schema import InteractionData

    real = InteractionData.split_frame

    def no_test(self, split):
        if split == "test":
            raise AssertionError("a validation run read the test split")
        return real(self, split)

    # The first run trains (Stage 1 reports its test ranking, as the final evaluation of Stage 1);
    # the second reads every model from the caches and must not touch the test split at all.
    evaluate("synthetic", "dppmg-no-reward", "smoke", 0, tmp_path / "first.json", cache_dir=session_cache,
             users=5, split="valid", progress=False)
    monkeypatch.setattr(InteractionData, "split_frame", no_test)
    result = evaluate("synthetic", "dppmg-no-reward", "smoke", 0, tmp_path / "valid.json", cache_dir=session_cache,
                      users=5, split="valid", progress=False)
    assert result["metrics"]["split"] == "valid" and "test" not in result["metrics"]["preference_evaluator"]


def test_generations_of_the_wrong_shape_are_named():
    from PIL import Image

    from dppmg.evaluation.evaluate import check_generations

    good = {"user_id": "u1", "text": "a red star", "image": Image.new("RGB", (32, 48))}
    check_generations([good], ["u1"], "m", (32, 48))
    with pytest.raises(DPPMGError, match="method 'm', user 'u1': the image must be an RGB PIL image of 32x48, got L"):
        check_generations([{**good, "image": Image.new("L", (32, 48))}], ["u1"], "m", (32, 48))
    with pytest.raises(DPPMGError, match="got RGB \\(64, 48\\)"):
        check_generations([{**good, "image": Image.new("RGB", (64, 48))}], ["u1"], "m", (32, 48))
    with pytest.raises(DPPMGError, match="returned generations for users \\['u2'\\]"):
        check_generations([{**good, "user_id": "u2"}], ["u1"], "m", (32, 48))


def prov_config(result):
    return result["provenance"]["config"]


def test_results_from_elsewhere_are_rejected(evaluated, tmp_path):
    with pytest.raises(DPPMGError, match="expected 'hm'"):
        read_result(evaluated, stage="evaluation", dataset="hm")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({**json.loads(evaluated.read_text()), "schema": "dppmg.result/v1"}))
    with pytest.raises(DPPMGError, match="old.json: schema 'dppmg.result/v1' is not 'dppmg.result/v2'"):
        read_result(old)


def test_unknown_method_is_named(tmp_path):
    import re

    from dppmg.registry import method_names

    registered = ", ".join(method_names(suite="evaluation"))
    with pytest.raises(ConfigError, match=re.escape(f"unknown method 'gpt-magic' in suite 'evaluation'; "
                                                    f"registered: {registered}")):
        evaluate("synthetic", "gpt-magic", "smoke", 0, tmp_path / "x.json")


def test_ground_truth_needs_the_synthetic_world(movielens):
    with pytest.raises(DPPMGError, match="'movielens' has no ground-truth preferences"):
        ground_truth_accuracy([], movielens)


def test_cli_evaluate_rejects_bad_input(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["evaluate", "--dataset", "synthetic", "--preset", "smoke", "--method", "nope",
              "--out", str(tmp_path / "r.json")])
    assert "invalid choice: 'nope' (choose from" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--dataset", "synthetic", "--preset", "smoke", "--seed", "one"])


def test_real_test_item_reference_returns_each_users_next_item(session_cache, tmp_path, monkeypatch):
    from dppmg.evaluation.personalization import sample_users
    from dppmg.registry import get_method

    method = get_method("real-test-item")
    data = method.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    users = sample_users(data, 3, 0)
    out = method.generate(users, 0)
    firsts = [t[0] for t in data.items_by_user(users, "test")]
    assert [o["text"] for o in out] == [data.items["text"].iloc[i] for i in firsts]
    assert [o["item"] for o in out] == firsts and out[0]["image"].size == (32, 48)
    with monkeypatch.context() as patch:  # every smoke user has a test item: pretend one has none
        patch.setattr(method.data, "items_by_user", lambda ids, split: [np.zeros(0, dtype=int) for _ in ids])
        with pytest.raises(DPPMGError, match=f"user\\(s\\) \\['{users[0]}'\\] have no test interaction"):
            method.generate(users[:1], 0)
    result = evaluate("synthetic", "real-test-item", "smoke", 0, tmp_path / "ref.json", cache_dir=session_cache,
                      users=4, progress=False)
    assert read_result(tmp_path / "ref.json", stage="evaluation")["method"] == "real-test-item"
    m = result["metrics"]
    assert m["text"]["cos_targets"]["mean"] > 0.5  # the text is one of the test items' own
    # Leave one out: each returned item leaves its own user's targets (users with one test item drop out).
    assert m["personalization"]["leave_one_out"]["returned_items_removed"] == 4
    single = sum(len(t) == 1 for t in data.items_by_user(m["users"], "test"))
    assert m["personalization"]["image"]["targets"]["dropped_users"] == single
