"""Processing steps on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dppmg.data.processing import (
    apply_positive_threshold,
    check_integrity,
    chronological_split,
    drop_duplicate_interactions,
    finalize,
    kcore,
    split_sizes,
)
from dppmg.data.schema import InteractionData
from dppmg.errors import DatasetError


def make(pairs, ratings=None, timestamps=None) -> InteractionData:
    users = sorted({u for u, _ in pairs})
    items = sorted({i for _, i in pairs})
    inter = pd.DataFrame(pairs, columns=["user_id", "item_id"])
    inter["timestamp"] = timestamps if timestamps is not None else np.arange(len(pairs))
    inter["rating"] = ratings if ratings is not None else np.nan
    return InteractionData(
        "toy", pd.DataFrame({"user_id": users}),
        pd.DataFrame({"item_id": items, "title": items, "text": [f"item {i}" for i in items],
                      "description": None, "image_path": None}), inter)


def test_split_sizes():
    assert split_sizes(2, (0.8, 0.1, 0.1)) == (2, 0, 0)
    assert split_sizes(3, (0.8, 0.1, 0.1)) == (1, 1, 1)
    assert split_sizes(10, (0.8, 0.1, 0.1)) == (8, 1, 1)
    assert split_sizes(40, (0.8, 0.1, 0.1)) == (32, 4, 4)


def test_chronological_split_respects_time_per_user():
    rng = np.random.default_rng(0)
    pairs = [(f"u{u}", f"i{i}") for u in range(5) for i in range(20)]
    data = chronological_split(make(pairs, timestamps=rng.permutation(len(pairs))))
    for _, g in data.interactions.groupby("user_id"):
        t = {s: g.loc[g["split"] == s, "timestamp"] for s in ("train", "valid", "test")}
        assert len(t["train"]) == 16 and len(t["valid"]) == 2 and len(t["test"]) == 2
        assert t["train"].max() < t["valid"].min() and t["valid"].max() < t["test"].min()


def test_split_ties_keep_file_order():
    pairs = [("u", f"i{k}") for k in range(10)]
    data = chronological_split(make(pairs, timestamps=[7] * 10))
    assert data.interactions.sort_values("item_id", key=lambda s: s.str[1:].astype(int))["split"].tolist() == \
        ["train"] * 8 + ["valid", "test"]


def test_kcore_is_iterative():
    # i2 has 2 users; removing u3 (1 interaction) leaves i2 with 1 -> i2 goes -> u2 drops below 2.
    pairs = [("u1", "i1"), ("u1", "i2"), ("u2", "i1"), ("u2", "i2"), ("u3", "i3"), ("u1", "i3"), ("u2", "i3"),
             ("u4", "i4"), ("u4", "i1")]
    out = kcore(make(pairs), min_user=2, min_item=2)
    counts_u = out.interactions["user_id"].value_counts()
    counts_i = out.interactions["item_id"].value_counts()
    assert (counts_u >= 2).all() and (counts_i >= 2).all()
    assert set(out.interactions["user_id"]) == {"u1", "u2"}
    assert out.drops[-1].users == 2 and out.drops[-1].items == 1


def test_duplicates_keep_earliest():
    data = make([("u", "a"), ("u", "a"), ("u", "b")], timestamps=[5, 1, 3])
    out = drop_duplicate_interactions(data)
    assert len(out.interactions) == 2
    assert out.interactions.loc[out.interactions["item_id"] == "a", "timestamp"].item() == 1
    assert out.drops[-1].interactions == 1


def test_positive_threshold():
    data = make([("u", "a"), ("u", "b"), ("v", "a")], ratings=[5.0, 3.0, 4.0])
    out = apply_positive_threshold(data, 4.0)
    assert out.interactions["rating"].tolist() == [5.0, 4.0]
    implicit = make([("u", "a")])
    assert apply_positive_threshold(implicit, 4.0) is implicit


def test_integrity_errors():
    data = make([("u", "a")])
    bad = data.replace(items=data.items.assign(text=[" "]))
    with pytest.raises(DatasetError, match="empty text"):
        check_integrity(bad)
    dup = data.replace(users=pd.DataFrame({"user_id": ["u", "u"]}))
    with pytest.raises(DatasetError, match="duplicate user_id"):
        check_integrity(dup)


def test_finalize_indices_are_contiguous():
    out = finalize(chronological_split(make([("u2", "b"), ("u1", "a"), ("u1", "b")])))
    assert out.users["user_id"].tolist() == ["u1", "u2"]
    assert sorted(out.interactions["user"].unique()) == [0, 1]
    assert out.user_item_pairs("train").dtype == np.int64
