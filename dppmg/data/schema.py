"""One schema for every dataset.

An :class:`InteractionData` holds three tables:

``users``         one row per user; column ``user_id`` (str) plus optional side columns.
``items``         one row per item; ``item_id`` (str), ``title``, ``text`` (never empty),
                  ``description`` (free text or ``None``), ``image_path`` (str, absolute).
``interactions``  one row per (user, item) event; ``user_id``, ``item_id``, ``timestamp``
                  (int64 unix seconds), ``rating`` (float, NaN for implicit feedback) and, after
                  splitting, ``split`` in {"train", "valid", "test"}.

After :func:`dppmg.data.processing.finalize` the tables also carry contiguous integer indices
(``users.index``/``items.index`` are 0..n-1 and interactions get ``user``/``item`` columns) that
every model uses. ``drops`` lists what each processing step removed and why, so the statistics
table can show it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dppmg.errors import DatasetError
from dppmg.infra.io import stable_hash

USER_COLUMNS = ("user_id",)
ITEM_COLUMNS = ("item_id", "title", "text", "description", "image_path")
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp", "rating")
SPLITS = ("train", "valid", "test")


@dataclass
class DropRecord:
    """What one processing step removed, and why."""

    step: str
    reason: str
    users: int = 0
    items: int = 0
    interactions: int = 0


@dataclass
class StageCount:
    """Table sizes after one processing step (a row of the statistics table)."""

    step: str
    users: int
    items: int
    interactions: int

    @property
    def density(self) -> float:
        return self.interactions / max(1, self.users * self.items)


@dataclass
class InteractionData:
    """A dataset in the common schema (see module docstring)."""

    name: str
    users: pd.DataFrame
    items: pd.DataFrame
    interactions: pd.DataFrame
    drops: list[DropRecord] = field(default_factory=list)
    stages: list[StageCount] = field(default_factory=list)
    ground_truth: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table, cols in (("users", USER_COLUMNS), ("items", ITEM_COLUMNS), ("interactions", INTERACTION_COLUMNS)):
            missing = [c for c in cols if c not in getattr(self, table).columns]
            if missing:
                raise DatasetError(f"{self.name}: table {table} lacks columns {missing}")

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def has_ratings(self) -> bool:
        return bool(self.interactions["rating"].notna().any())

    @property
    def is_split(self) -> bool:
        return "split" in self.interactions.columns

    @property
    def is_indexed(self) -> bool:
        return "user" in self.interactions.columns and "item" in self.interactions.columns

    def record_stage(self, step: str) -> None:
        """Count users, items and interactions after ``step``; a step that leaves none is an error
        naming it and what the steps so far dropped (their likely cause)."""
        count = StageCount(step, self.interactions["user_id"].nunique(), self.interactions["item_id"].nunique(),
                           len(self.interactions))
        self.stages.append(count)
        if count.users == 0 or count.items == 0:
            dropped = "; ".join(f"{d.step} dropped {d.users:,} users, {d.items:,} items, {d.interactions:,} "
                                f"interactions ({d.reason})" for d in self.drops) or "nothing was dropped before it"
            raise DatasetError(f"{self.name}: no users or items are left after the processing step {step!r}: {dropped}")

    def split_frame(self, split: str) -> pd.DataFrame:
        if not self.is_split:
            raise DatasetError(f"{self.name}: interactions are not split yet")
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.interactions[self.interactions["split"] == split]

    def user_item_pairs(self, split: str) -> np.ndarray:
        """(n, 2) int64 array of (user index, item index) for one split, in time order."""
        if not self.is_indexed:
            raise DatasetError(f"{self.name}: call finalize() before asking for index pairs")
        return self.split_frame(split)[["user", "item"]].to_numpy(dtype=np.int64)

    def items_by_user(self, user_ids: Sequence[str], split: str) -> list[np.ndarray]:
        """Per user id, the item indices of its ``split`` interactions in time order (empty if none)."""
        index = {u: i for i, u in enumerate(self.users["user_id"])}
        by_user = self.split_frame(split).groupby("user")["item"].apply(lambda s: s.to_numpy())
        empty = np.zeros(0, dtype=np.int64)
        return [by_user.get(index[u], empty) for u in user_ids]

    def replace(self, **changes: Any) -> "InteractionData":
        """A shallow copy with some fields replaced (drops and stages lists are copied)."""
        base = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        base["drops"] = list(self.drops)
        base["stages"] = list(self.stages)
        base.update(changes)
        return InteractionData(**base)


def data_signature(data: InteractionData) -> dict[str, Any]:
    """What a model trained on ``data`` must match to be reused: the dataset, its users and items,
    and its training split (part of every cache key of a model trained on the interactions)."""
    return {"dataset": data.name, "num_users": data.num_users, "num_items": data.num_items,
            "users": stable_hash(data.users["user_id"].tolist()), "items": stable_hash(data.items["item_id"].tolist()),
            "train": stable_hash(data.user_item_pairs("train").tolist())}
