"""What each baseline claims to do, at ``smoke`` on the synthetic world (the common method tests
in tests/test_methods.py check the shared schema and determinism)."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.registry import get_method, get_spec


@pytest.fixture(scope="module")
def users(smoke_synthetic):
    from dppmg.evaluation.personalization import sample_users

    return sample_users(smoke_synthetic, 4, seed=0)


def fitted(name, session_cache):
    method = get_method(name)
    method.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    return method


def test_retrieval_returns_the_validation_best_recommenders_top_item_outside_the_history(users, session_cache,
                                                                                         smoke_synthetic):
    method = fitted("retrieval", session_cache)
    config = method.config()
    assert config["recommender"] == max(config["valid_recall@20"], key=config["valid_recall@20"].get)
    out = method.generate(users, seed=0)
    texts = smoke_synthetic.items["text"].tolist()
    for r, history in zip(out, smoke_synthetic.items_by_user(users, "train")):
        assert r["item"] not in set(history.tolist())
        assert r["text"] == texts[r["item"]]


def test_lamp_prompt_holds_the_most_typical_history_texts():
    from baselines.lamp import most_typical

    features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.8, 0.2]])
    assert most_typical(np.array([0, 1, 2, 3]), features, 2).tolist() == [3, 1]
    assert most_typical(np.zeros(0, dtype=np.int64), features, 2).tolist() == []


def test_pmg_keywords_come_from_the_users_history():
    from baselines.pmg import history_keywords

    texts = ["red wool scarf", "red cotton shirt", "blue denim jacket", "green silk dress"]
    words = history_keywords([np.array([0, 1]), np.array([2])], texts, 3)
    assert words[0][0] == "red" and set(words[0]) <= {"red", "wool", "scarf", "cotton", "shirt"}
    assert set(words[1]) <= {"blue", "denim", "jacket"}


def test_unimodal_baselines_leave_the_other_modality_non_personalized(users, session_cache):
    nonpersonalized = fitted("nonpersonalized", session_cache).generate(users, seed=2)
    for name, other in (("lamp", "image"), ("textual-inversion", "text")):
        assert get_spec(name).cls.modalities == (("text",) if other == "image" else ("image",))
        out = fitted(name, session_cache).generate(users, seed=2)
        if other == "image":
            assert all(np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
                       for a, b in zip(out, nonpersonalized))
        else:
            assert [r["text"] for r in out] == [r["text"] for r in nonpersonalized]


def test_a_pair_joins_its_text_and_image_methods(users, session_cache):
    pair = fitted("pepler+textual-inversion", session_cache).generate(users, seed=3)
    texts = fitted("pepler", session_cache).generate(users, seed=3)
    images = fitted("textual-inversion", session_cache).generate(users, seed=3)
    assert [r["text"] for r in pair] == [r["text"] for r in texts]
    assert all(np.array_equal(np.asarray(a["image"]), np.asarray(b["image"])) for a, b in zip(pair, images))


def test_per_user_tokens_are_each_users_own(session_cache, smoke_synthetic):
    from dppmg.generation.backbones import load_backbones
    from dppmg.generation.user_tokens import UserTokens

    backbones = load_backbones("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    tokens = UserTokens(backbones, "text", 2, prefix="t")
    users = smoke_synthetic.users["user_id"].tolist()
    names = [t for u in users for t in tokens.token_of[u]]
    assert len(names) == len(set(names)) == 2 * len(users)
    assert tokens.text_prompt(users[0]) != tokens.text_prompt(users[1])


def test_history_image_conditions_on_the_users_history_and_guides_against_the_empty_text(users, session_cache,
                                                                                          smoke_synthetic):
    import torch

    from baselines.history_image import masked_padding

    method = fitted("history-image", session_cache)
    assert method.training["validation"]["chosen_step"] is not None  # the step is chosen on validation
    features = method.history_features(users)
    histories = smoke_synthetic.items_by_user(users, "train")
    expected = torch.nn.functional.normalize(method.features[torch.from_numpy(histories[0].astype(np.int64))].mean(0),
                                             dim=0)
    assert torch.allclose(features[0], expected)
    cond = method.condition(features)
    assert cond.hidden.shape[1] == method.empty.hidden.shape[1] + method.k
    assert not torch.allclose(cond.hidden[0, -method.k:], cond.hidden[1, -method.k:])  # each user's own tokens
    # The padded unconditional input is the empty text: its extra positions are masked out.
    unet, backbone = method.backbones.image.unet, method.backbones.image
    x, t = torch.randn(1, 3, backbone.config.height, backbone.config.width), torch.tensor([10])
    with torch.no_grad():
        padded = unet(x, t, **masked_padding(method.empty, method.k).unet_kwargs()).sample
        plain = unet(x, t, **method.empty.unet_kwargs()).sample
    assert torch.allclose(padded, plain, atol=1e-5)


def test_the_example_method_is_one_file_that_registers_and_runs(users, session_cache, smoke_synthetic, monkeypatch):
    from baselines.examples.last_item_prompt import LastItemPrompt
    from dppmg import registry
    from dppmg.registry import method_names, register_method

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # registered for this test only
    register_method(LastItemPrompt)
    assert LastItemPrompt.name in method_names(suite="evaluation")
    method = get_method(LastItemPrompt.name)
    method.fit("synthetic", "smoke", 0, cache_dir=session_cache, progress=False)
    texts = smoke_synthetic.items["text"].tolist()
    last = [texts[h[-1]].split()[0] for h in smoke_synthetic.items_by_user(users, "train")]
    assert [p.split()[0] for p in method.prompts(users)] == last
    out = method.generate(users, seed=0)
    assert [r["user_id"] for r in out] == list(users) and all(r["image"].size == (32, 48) for r in out)


class _NoHistory:
    """A dataset stand-in whose users have no training interactions (a plug-in dataset may have such)."""

    def __init__(self, data):
        self.items, self.users = data.items, data.users

    def items_by_user(self, user_ids, split):
        return [np.zeros(0, dtype=np.int64) for _ in user_ids]


def test_baselines_fall_back_for_a_user_without_training_history(users, session_cache, smoke_synthetic):
    import torch

    from baselines.lamp import lamp_prompts
    from baselines.pmg import history_keywords

    empty = _NoHistory(smoke_synthetic)
    features = np.eye(smoke_synthetic.num_items, 4)
    assert lamp_prompts(empty, features, users[:1], k=3, words_per_item=16) == ["Preferences: \nItem:"]
    assert history_keywords([np.zeros(0, dtype=np.int64)], smoke_synthetic.items["text"].tolist(), 8) == [[]]
    method = fitted("history-image", session_cache)
    method.backbones.data, real = empty, method.backbones.data
    try:
        method.info["users_without_history"] = 0
        rows = method.history_features(users[:2])
    finally:
        method.backbones.data = real
    assert method.info["users_without_history"] == 2
    assert torch.allclose(rows[0], torch.nn.functional.normalize(method.features.mean(0), dim=0))
