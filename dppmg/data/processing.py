"""Processing steps shared by every dataset: integrity checks, de-duplication, the positive
threshold, the iterative k-core filter, the per-user chronological split and final indexing.

Each step returns a new :class:`InteractionData`, appends a :class:`DropRecord` for what it removed
and a :class:`StageCount` for what is left, so the statistics table can explain every number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dppmg.data.schema import SPLITS, DropRecord, InteractionData
from dppmg.errors import DatasetError


def check_integrity(data: InteractionData) -> None:
    """Raise if interactions name users or items that the tables do not have, or if ids repeat."""
    for table, col in (("users", "user_id"), ("items", "item_id")):
        frame = getattr(data, table)
        dup = frame[col][frame[col].duplicated()]
        if len(dup):
            raise DatasetError(f"{data.name}: {table} has duplicate {col} {dup.iloc[0]!r} ({len(dup)} duplicates)")
        unknown = ~data.interactions[col].isin(frame[col])
        if unknown.any():
            row = data.interactions[unknown].iloc[0]
            source = row.get("source_row", "?") if hasattr(row, "get") else "?"
            raise DatasetError(
                f"{data.name}: interaction (source row {source}) names {col} {row[col]!r} that is not in the {table} "
                f"table ({int(unknown.sum())} such interactions)"
            )
    empty = data.items["text"].fillna("").str.strip() == ""
    if empty.any():
        raise DatasetError(f"{data.name}: item {data.items.loc[empty, 'item_id'].iloc[0]!r} has an empty text")


def drop_duplicate_interactions(data: InteractionData) -> InteractionData:
    """Keep the first (earliest) event of each (user, item) pair; repeated purchases count as dropped."""
    inter = data.interactions.sort_values(["timestamp"], kind="stable")
    dup = inter.duplicated(["user_id", "item_id"], keep="first")
    out = data.replace(interactions=inter[~dup].sort_index())
    if dup.any():
        out.drops.append(DropRecord("deduplicate", "repeated (user, item) interaction; earliest kept",
                                    interactions=int(dup.sum())))
    out.record_stage("deduplicated")
    return out


def require_description(data: InteractionData) -> InteractionData:
    """Keep only items with a usable free-text description (plot / ``detail_desc``)."""
    keep = data.items["description"].notna()
    gone = set(data.items.loc[~keep, "item_id"])
    out = data.replace(items=data.items[keep],
                       interactions=data.interactions[~data.interactions["item_id"].isin(gone)])
    out.drops.append(DropRecord("require_description", "no usable description",
                                **_lost(data.interactions, out.interactions)))
    out.record_stage("items with description")
    return out


def apply_positive_threshold(data: InteractionData, threshold: float | None) -> InteractionData:
    """Keep interactions with ``rating >= threshold`` (implicit feedback passes unchanged)."""
    if threshold is None or not data.has_ratings:
        return data
    keep = data.interactions["rating"] >= threshold
    out = data.replace(interactions=data.interactions[keep])
    out.drops.append(DropRecord("positive_threshold", f"rating < {threshold:g}", **_lost(data.interactions, out.interactions)))
    out.record_stage(f"rating >= {threshold:g}")
    return out


def subsample(data: InteractionData, max_users: int | None, max_items: int | None, seed: int = 0) -> InteractionData:
    """Keep ``max_users`` users drawn with ``seed`` and then the ``max_items`` items they interacted
    with most (ties by item id): a small copy of a real dataset, for the ``smoke`` preset."""
    inter = data.interactions
    if max_users is not None and inter["user_id"].nunique() > max_users:
        users = np.sort(inter["user_id"].unique())
        keep = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
        inter = inter[inter["user_id"].isin(keep)]
    if max_items is not None and inter["item_id"].nunique() > max_items:
        counts = inter.groupby("item_id").size().reset_index(name="n").sort_values(["n", "item_id"],
                                                                                  ascending=[False, True])
        inter = inter[inter["item_id"].isin(counts["item_id"].iloc[:max_items])]
    if len(inter) == len(data.interactions):
        return data
    out = data.replace(interactions=inter)
    out.drops.append(DropRecord("subsample", f"kept {max_users} users and their {max_items} most frequent items",
                                **_lost(data.interactions, inter)))
    out.record_stage(f"subsample ({max_users} users, {max_items} items)")
    return out


def kcore(data: InteractionData, min_user: int, min_item: int) -> InteractionData:
    """Iteratively drop users with < ``min_user`` and items with < ``min_item`` interactions."""
    inter = data.interactions
    n_before = len(inter)
    while True:
        user_counts = inter["user_id"].map(inter["user_id"].value_counts())
        item_counts = inter["item_id"].map(inter["item_id"].value_counts())
        keep = (user_counts >= min_user) & (item_counts >= min_item)
        if keep.all():
            break
        inter = inter[keep]
    out = data.replace(interactions=inter)
    if len(inter) < n_before:
        out.drops.append(DropRecord("kcore", f"user < {min_user} or item < {min_item} interactions (iterative)",
                                    **_lost(data.interactions, inter)))
    out.record_stage(f"k-core (users >= {min_user}, items >= {min_item})")
    return out


def split_sizes(n: int, ratios: tuple[float, float, float]) -> tuple[int, int, int]:
    """Train/valid/test counts for a user with ``n`` interactions.

    Users with fewer than 3 interactions keep all of them in train. Otherwise valid and test get
    ``round(ratio * n)`` but at least one interaction each, and train keeps the rest.
    """
    if n < 3:
        return n, 0, 0
    n_valid = max(1, int(round(ratios[1] * n))) if ratios[1] > 0 else 0
    n_test = max(1, int(round(ratios[2] * n))) if ratios[2] > 0 else 0
    return n - n_valid - n_test, n_valid, n_test


def chronological_split(data: InteractionData, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> InteractionData:
    """Per user, sort interactions by time (file order breaks ties) and cut train/valid/test."""
    inter = data.interactions.copy()
    inter["_order"] = np.arange(len(inter))
    inter = inter.sort_values(["user_id", "timestamp", "_order"], kind="stable")
    rank = inter.groupby("user_id", sort=False).cumcount().to_numpy()
    counts = inter.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    sizes = np.array([split_sizes(int(n), ratios) for n in range(counts.max() + 1 if len(counts) else 1)])
    n_train = sizes[counts, 0]
    n_valid = sizes[counts, 1]
    split = np.where(rank < n_train, "train", np.where(rank < n_train + n_valid, "valid", "test"))
    inter["split"] = pd.Categorical(split, categories=list(SPLITS))
    inter = inter.drop(columns="_order")
    out = data.replace(interactions=inter)
    short = int((counts < 3).sum())
    if short:
        out.info["interactions_of_users_too_short_to_split"] = short
    return out


def _lost(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, int]:
    """Users, items and interactions present in ``before`` but gone from ``after``."""
    return {"users": before["user_id"].nunique() - after["user_id"].nunique(),
            "items": before["item_id"].nunique() - after["item_id"].nunique(),
            "interactions": len(before) - len(after)}


def drop_unused(data: InteractionData, *, record: bool = True) -> InteractionData:
    """Keep only users and items that have interactions.

    Called once right after loading (``record=True``: catalogue entries nobody interacted with are
    counted) and once after filtering (``record=False``: the filters already counted their losses).
    """
    users = data.users[data.users["user_id"].isin(data.interactions["user_id"].unique())]
    items = data.items[data.items["item_id"].isin(data.interactions["item_id"].unique())]
    out = data.replace(users=users, items=items)
    if record and (len(users) < len(data.users) or len(items) < len(data.items)):
        out.drops.append(DropRecord("drop_unused", "no interactions at all",
                                    users=len(data.users) - len(users), items=len(data.items) - len(items)))
    return out


def finalize(data: InteractionData) -> InteractionData:
    """Re-index users and items to 0..n-1 (sorted by id) and add ``user``/``item`` columns."""
    users = data.users.sort_values("user_id", kind="stable").reset_index(drop=True)
    items = data.items.sort_values("item_id", kind="stable").reset_index(drop=True)
    user_index = pd.Series(np.arange(len(users)), index=users["user_id"])
    item_index = pd.Series(np.arange(len(items)), index=items["item_id"])
    inter = data.interactions.copy()
    inter["user"] = inter["user_id"].map(user_index).astype(np.int64)
    inter["item"] = inter["item_id"].map(item_index).astype(np.int64)
    inter = inter.reset_index(drop=True)
    return data.replace(users=users, items=items, interactions=inter)
