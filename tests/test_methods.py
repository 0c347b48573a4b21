"""Common tests every registered method must pass (as diffusers' common scheduler tests do):
each generation method fits at ``smoke`` on the synthetic world and generates in the shared
schema, deterministically for a fixed seed; each ranking method's Stage 1 run produces its
ranking metrics, and tokens exactly when it quantizes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dppmg.registry import get_method, get_spec, method_names

GENERATION_METHODS = method_names(suite="evaluation")
RANKING_METHODS = method_names(suite="preference")


@pytest.fixture(scope="module")
def users(smoke_synthetic):
    from dppmg.evaluation.personalization import sample_users

    return sample_users(smoke_synthetic, 3, seed=0)


@pytest.mark.parametrize("name", GENERATION_METHODS)
def test_generation_method_fits_generates_and_is_deterministic(name, users, session_cache):
    method = get_method(name)
    data = method.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    assert data.name == "synthetic"
    first = method.generate(users, seed=1)
    assert [r["user_id"] for r in first] == users
    for r in first:
        assert isinstance(r["text"], str)
        assert r["image"].mode == "RGB" and r["image"].size == (32, 48)
    again = method.generate(users, seed=1)
    assert [r["text"] for r in again] == [r["text"] for r in first]
    assert all(np.array_equal(np.asarray(a["image"]), np.asarray(b["image"])) for a, b in zip(again, first))
    json.dumps(method.config())  # recorded in every result file as plain JSON


@pytest.mark.parametrize("name", RANKING_METHODS)
def test_ranking_method_stage1_run(name, session_cache, smoke_synthetic):
    from dppmg.preference.checkpoint import load_stage1
    from dppmg.preference.train import fit_and_save
    from dppmg.registry import resolve_stage1

    record, folder = fit_and_save(resolve_stage1("synthetic", "smoke", 0, name), cache_dir=session_cache, progress=False)
    m = record["metrics"]
    assert set(m["test"]) == {"recall@10", "recall@20", "ndcg@10", "ndcg@20"}
    assert len(m["test_per_user"]["recall@20"]) == len(m["test_per_user"]["user_index"])
    assert record["provenance"]["config"]["method"] == name
    if get_spec(name).cls.quantize:
        assert set(load_stage1(folder, smoke_synthetic).tokens) == set(smoke_synthetic.users["user_id"])
    else:
        assert not (folder / "tokens.json").exists() and "quantizer" not in m


def _flatten(config, prefix=""):
    if isinstance(config, dict):
        return {k: v for key, value in config.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): config}


ABLATION_NAMES = [cls.name for cls in __import__("dppmg.methods", fromlist=["ABLATIONS"]).ABLATIONS]


@pytest.mark.parametrize("name", ABLATION_NAMES)
@pytest.mark.parametrize("dataset,preset", [("synthetic", "smoke"), ("movielens", "small"), ("hm", "small")])
def test_each_ablation_differs_from_dppmg_only_in_its_documented_override(name, dataset, preset):
    from dppmg.methods import DPPMG

    cls = get_spec(name).cls
    assert get_spec(name).kind == "ablation" and issubclass(cls, DPPMG) and cls.component
    full = _flatten(DPPMG().resolved_config(dataset, preset, 0))
    ablated = _flatten(cls().resolved_config(dataset, preset, 0))
    absent = object()
    differ = {k for k in full.keys() | ablated.keys() if full.get(k, absent) != ablated.get(k, absent)}
    where = {"preference": "stage1.preference", "quantizer": "stage1.quantizer", "stage2": "stage2", "reward": "reward"}
    documented = {f"{where[stage]}.{field}" for stage, fields in cls.overrides.items() for field in fields}
    if not cls.use_reward:  # without the reward there is no Stage 3 config at all
        documented |= {k for k in full.keys() | ablated.keys() if k == "reward" or k.startswith("reward.")}
    assert documented and differ == documented
    for key in documented - {k for k in documented if k.startswith("reward")}:
        assert ablated[key] != full[key]


def test_ablations_run_only_on_the_synthetic_world_at_smoke():
    from benchmark.suites import EVALUATION_STAGE

    assert not EVALUATION_STAGE.runs_on("dppmg-shared", "movielens", "smoke")
    assert EVALUATION_STAGE.runs_on("dppmg-shared", "synthetic", "smoke")
    assert EVALUATION_STAGE.runs_on("dppmg-shared", "movielens", "small")
    assert EVALUATION_STAGE.runs_on("dppmg", "movielens", "smoke")
    assert EVALUATION_STAGE.runs_on("dppmg-no-reward", "movielens", "smoke")


def test_single_branch_tokens_are_read_by_both_generators():
    from dppmg.errors import DPPMGError
    from dppmg.generation.prompts import token_branches

    assert token_branches(["text", "image"], ["text"]) == ["text"]
    assert token_branches(["text", "image"], ["image", "text"]) == ["image", "text"]
    assert token_branches(["shared"], ["text"]) == token_branches(["shared"], ["image", "text"]) == ["shared"]
    with pytest.raises(DPPMGError, match="none for the image generator"):
        token_branches(["text", "id"], ["image"])


@pytest.mark.parametrize("stage,field,value", [("preference", "dim", 24), ("quantizer", "epochs", 7),
                                               ("stage2", "text_steps", 3), ("reward", "consistency_weight", 7.0)])
def test_a_runs_own_override_reaches_its_stage(stage, field, value):
    # The reward selection and the sensitivity sweeps hand their candidates down this way: an
    # override that got lost would evaluate the configured setting under the candidate's name.
    from dppmg.methods import DPPMG

    where = {"preference": ("stage1", "preference"), "quantizer": ("stage1", "quantizer"),
             "stage2": ("stage2",), "reward": ("reward",)}[stage]
    resolved = DPPMG().resolved_config("synthetic", "smoke", 0, **{stage: {field: value}})
    for key in where:
        resolved = resolved[key]
    assert resolved[field] == value
