"""The user-identification views of personalization and the synthetic world's attribute detectors."""

from __future__ import annotations

import numpy as np
import pytest


def test_attribute_detectors():
    from PIL import Image as PILImage

    from dppmg.data.synthetic import render_item
    from dppmg.evaluation.ground_truth import dominant_colour, text_style

    img = render_item("blue", "star", "striped", np.random.default_rng(0))
    assert dominant_colour(img) == "blue"
    assert dominant_colour(PILImage.new("RGB", (8, 8), (214, 39, 40))) == "red"
    assert text_style("A retro, nostalgic piece in vintage style") == "vintage"
    assert text_style("nothing here") is None


@pytest.fixture(scope="module")
def echo_results(smoke_synthetic):
    """Each user "generates" the catalogue item of their last training interaction."""
    from PIL import Image

    from dppmg.data.images import load_image_array
    from dppmg.evaluation.personalization import sample_users

    data = smoke_synthetic
    images, texts = load_image_array(data), data.items["text"].tolist()
    users = sample_users(data, 30, seed=0)
    last = [int(h[-1]) for h in data.items_by_user(users, "train")]
    return [{"user_id": u, "text": texts[i], "image": Image.fromarray(images[i]), "item": i}
            for u, i in zip(users, last)]


def test_echoing_the_history_is_identified_in_the_history_view(echo_results, smoke_synthetic):
    from dppmg.evaluation.personalization import personalization_report

    report = personalization_report(echo_results, smoke_synthetic, seed=0)
    for m in ("image", "text"):
        history = report[m]["history"]
        assert history["users"] == 30 and history["p"] < 0.01 and history["auc"] > 0.6
    # The returned items are training items, not test items: nothing left the test targets.
    assert report["leave_one_out"]["returned_items_removed"] == 0


def test_leave_one_out_removes_the_returned_item_from_its_own_user_only(smoke_synthetic):
    from dppmg.evaluation.personalization import leave_one_out_targets

    users = smoke_synthetic.users["user_id"].tolist()[:3]
    tests = smoke_synthetic.items_by_user(users, "test")
    results = [{"user_id": users[0], "item": int(tests[0][0])}, {"user_id": users[1], "item": int(tests[0][0])},
               {"user_id": users[2]}]
    targets, removed = leave_one_out_targets(results, smoke_synthetic, "test")
    assert removed == (1 + int(tests[0][0] in tests[1]))
    assert list(targets[0]) == [i for i in tests[0] if i != tests[0][0]] and list(targets[2]) == list(tests[2])


def test_sample_users_is_seeded_and_sorted(smoke_synthetic):
    from dppmg.errors import DPPMGError
    from dppmg.evaluation.personalization import sample_users

    a, b = sample_users(smoke_synthetic, 5, 0), sample_users(smoke_synthetic, 5, 0)
    assert a == b and len(a) == 5 and a == sorted(a, key=lambda u: (len(u), u))
    assert sample_users(smoke_synthetic, 5, 1) != a
    with_test = set(smoke_synthetic.users["user_id"].to_numpy()[smoke_synthetic.split_frame("test")["user"].unique()])
    assert set(sample_users(smoke_synthetic, None, 0)) == with_test
    empty = smoke_synthetic.replace(interactions=smoke_synthetic.interactions.assign(
        split=smoke_synthetic.interactions["split"].replace("test", "train")))
    with pytest.raises(DPPMGError, match="has no test interactions to evaluate on"):
        sample_users(empty, 5, 0)


def test_a_view_with_every_target_left_out_is_skipped_not_an_error(echo_results, smoke_synthetic):
    """The real-test-item reference on a dataset whose users have one test item each (H&M at
    `smoke`): the targets view keeps no user and says so."""
    from dppmg.evaluation.personalization import generation_features, personalization_tests

    data = smoke_synthetic
    test = data.interactions["split"] == "test"
    last_test = data.interactions[test].groupby("user_id").tail(1).index
    one_each = data.replace(interactions=data.interactions.drop(data.interactions[test].index.difference(last_test)))
    users = [r["user_id"] for r in echo_results]
    returned = {u: int(s[0]) for u, s in zip(users, one_each.items_by_user(users, "test"))}
    results = [{**r, "item": returned[r["user_id"]]} for r in echo_results]
    report = personalization_tests(results, one_each, generation_features(results, one_each), "test", seed=0)
    assert report["image"]["targets"] == {"users": 0, "dropped_users": 30, "skipped": "fewer than 3 users"}
    assert report["leave_one_out"]["returned_items_removed"] == 30 and report["targets_dropped_users"] == 30
    assert report["text"]["history"]["users"] == 30


def test_divergent_users_ground_truth_says_which_preference_each_generator_follows(smoke_synthetic):
    from PIL import Image

    from dppmg.data.synthetic import COLOURS, STYLE_WORDS, STYLES
    from dppmg.evaluation.ground_truth import ground_truth_hits

    truth = smoke_synthetic.ground_truth["users"]
    divergent = truth[truth["divergent"]].iloc[0]
    plain = truth[~truth["divergent"]].iloc[0]
    tied_style = STYLES[list(COLOURS).index(divergent["pref_colour"])]
    # The divergent user's image shows their colour; their text shows the style tied to that
    # colour (the image's preference), not their own style.
    image = Image.new("RGB", (32, 48), tuple(COLOURS[divergent["pref_colour"]]))
    results = [{"user_id": divergent["user_id"], "image": image, "text": f"a {STYLE_WORDS[tied_style][0]} piece"},
               {"user_id": plain["user_id"], "image": image, "text": "a piece"}]
    hits = ground_truth_hits(results, smoke_synthetic)
    assert hits["divergent_image_colour"][0] == 1 and hits["divergent_text_style"][0] == 0
    assert hits["divergent_text_follows_image"][0] == 1
    assert np.isnan(hits["divergent_text_style"][1])  # not a divergent user



def test_validation_draws_have_their_own_stream(smoke_synthetic):
    """A selection at a test cell's seed must not score that cell's generations: the validation
    users and the validation generations' seed come from their own stream of the seed, and the
    test sample stays the one every committed test cell was drawn with."""
    from dppmg.evaluation.personalization import sample_users
    from dppmg.infra.seeding import split_seed

    data = smoke_synthetic
    ids = data.users["user_id"].to_numpy()[np.unique(data.split_frame("test")["user"].to_numpy())]
    n = len(ids) // 3
    assert sample_users(data, n, 0) == sorted(np.random.default_rng(0).choice(ids, size=n, replace=False).tolist(),
                                               key=lambda u: (len(u), u))
    valid_ids = data.users["user_id"].to_numpy()[np.unique(data.split_frame("valid")["user"].to_numpy())]
    for seed in (0, 1, 2):
        assert split_seed(seed, "test") == seed
        assert split_seed(seed, "valid") not in (0, 1, 2) and split_seed(seed, "valid") == split_seed(seed, "valid")
        own = np.random.default_rng(split_seed(seed, "valid")).choice(valid_ids, size=n, replace=False).tolist()
        assert sample_users(data, n, seed, "valid") == sorted(own, key=lambda u: (len(u), u))
        assert sample_users(data, n, seed, "valid") != sample_users(data, n, seed, "test")
    assert len({split_seed(s, "valid") for s in range(100)}) == 100
