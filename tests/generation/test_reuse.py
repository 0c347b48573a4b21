"""Generations reused between cells (dppmg.generation.reuse) equal fresh ones, bit for bit, and
are never reused under another key."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.registry import get_method


@pytest.fixture(scope="module")
def users(smoke_synthetic):
    from dppmg.evaluation.personalization import sample_users

    return [str(u) for u in sample_users(smoke_synthetic, 5, seed=0)]


def _generate(name, users, seed, cache):
    method = get_method(name)
    method.fit("synthetic", "smoke", 0, cache_dir=cache, progress=False)
    return method.generate(users, seed), method.info.get("generations", [])


def _same(a, b):
    assert [r["text"] for r in a] == [r["text"] for r in b]
    assert all(np.array_equal(np.asarray(x["image"]), np.asarray(y["image"])) for x, y in zip(a, b))


def test_reused_generations_equal_fresh_ones_bit_for_bit(users, session_cache, monkeypatch, tmp_path):
    cache = session_cache  # the trained backbones and tokens; the generations go under cache/generations
    monkeypatch.setenv("DPPMG_NO_GENERATION_REUSE", "1")
    fresh = {name: _generate(name, users, 7, cache)[0]
             for name in ("nonpersonalized", "pepler", "textual-inversion", "pepler+textual-inversion")}
    monkeypatch.delenv("DPPMG_NO_GENERATION_REUSE")
    # The parts first (each stores its own modality and the non-personalized other one) ...
    for name in ("pepler", "textual-inversion"):
        out, _ = _generate(name, users, 7, cache)
        _same(out, fresh[name])
    # ... then every output of the pair and of the non-personalized cell is loaded, not made.
    for name in ("pepler+textual-inversion", "nonpersonalized"):
        out, record = _generate(name, users, 7, cache)
        assert record and all(g["reused"] for g in record), record
        _same(out, fresh[name])


def test_a_generation_under_another_key_is_made_again_and_the_log_says_why(users, session_cache):
    from dppmg.generation.backbones import load_backbones
    from dppmg.generation.reuse import reuse_or_generate

    backbones = load_backbones("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    calls, log = [], []

    def make():
        calls.append(1)
        return [f"text {u}" for u in users]

    def run(config, seed=3):
        record = []
        out = reuse_or_generate(backbones, "probe", "text", seed, users, make, producer_config=config,
                                cache_dir=session_cache, log=log.append, record=record)
        return out, record[0]["reused"]

    assert run({"k": 1}) == ([f"text {u}" for u in users], False)
    assert run({"k": 1})[1] is True
    assert run({"k": 2})[1] is False
    assert len(calls) == 2
    assert any("differs in producer_config" in line for line in log), log
    assert run({"k": 1}, seed=4)[1] is False  # another seed is another entry
