"""The statistics table of a processed dataset (what ``dppmg data stats`` prints)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dppmg.data.schema import SPLITS, InteractionData


def dataset_statistics(data: InteractionData) -> dict[str, Any]:
    """Sizes after every processing step, modality coverage, split sizes and what was dropped."""
    items = data.items
    has_image = items["image_path"].notna()
    has_text = items["text"].fillna("").str.strip() != ""
    has_desc = items["description"].notna()
    inter = data.interactions
    splits = {s: int((inter["split"] == s).sum()) for s in SPLITS} if data.is_split else {}
    users_with_test = int(inter.loc[inter["split"] == "test", "user_id"].nunique()) if data.is_split else 0
    per_user = inter.groupby("user_id").size()
    return {
        "dataset": data.name,
        "users": data.num_users,
        "items": data.num_items,
        "interactions": len(inter),
        "density": len(inter) / max(1, data.num_users * data.num_items),
        "interactions_per_user_median": float(per_user.median()) if len(per_user) else 0.0,
        "items_with_image": int(has_image.sum()),
        "items_with_text": int(has_text.sum()),
        "items_with_description": int(has_desc.sum()),
        "items_with_image_and_description": int((has_image & has_desc).sum()),
        "has_ratings": data.has_ratings,
        "split_interactions": splits,
        "users_with_test_items": users_with_test,
        "stages": [{"step": s.step, "users": s.users, "items": s.items, "interactions": s.interactions,
                    "density": round(s.density, 6)} for s in data.stages],
        "dropped": [vars(d) for d in data.drops],
        "info": {k: v for k, v in data.info.items() if k != "config"},
        "config": data.info.get("config"),
    }


def stages_frame(stats: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(stats["stages"])


def format_statistics(stats: dict[str, Any]) -> str:
    """Human-readable statistics: the per-step table, coverage, splits and drops."""
    lines = [f"Dataset: {stats['dataset']}", "", "Sizes after each processing step:"]
    lines.append(stages_frame(stats).to_markdown(index=False, floatfmt=".5f"))
    lines += ["", "Final dataset:"]
    summary = pd.DataFrame([
        ("users", stats["users"]), ("items", stats["items"]), ("interactions", stats["interactions"]),
        ("density", f"{stats['density']:.5f}"), ("median interactions per user", stats["interactions_per_user_median"]),
        ("items with image", stats["items_with_image"]), ("items with text", stats["items_with_text"]),
        ("items with description (plot / detail_desc)", stats["items_with_description"]),
        ("items with image and description", stats["items_with_image_and_description"]),
        *[(f"{s} interactions", n) for s, n in stats["split_interactions"].items()],
        ("users with test items", stats["users_with_test_items"]),
    ], columns=["statistic", "value"])
    lines.append(summary.to_markdown(index=False))
    if stats["dropped"]:
        lines += ["", "Dropped:"]
        lines.append(pd.DataFrame(stats["dropped"]).to_markdown(index=False))
    notes = [f"- {k}: {v}" for k, v in stats["info"].items() if not isinstance(v, (dict, list))]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)
