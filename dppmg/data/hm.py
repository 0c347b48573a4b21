"""H&M Personalized Fashion Recommendations (Kaggle format): purchases, product photos and text.

Files under the ``hm-sample`` folder of the data root::

    transactions_train.csv   t_dat,customer_id,article_id,price,sales_channel_id
    articles.csv             the competition's 25 article columns
    images/<first 3 digits>/<10-digit article_id>.jpg

``article_id`` keeps its leading zero (read as a string). Purchases are implicit feedback (no
rating); a customer buying the same article again is a duplicate interaction and keeps its first
date. Item text = product name, type, colour, graphical appearance, and ``detail_desc`` where
present. Purchases on the same day keep their file order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dppmg.data.readers import read_table, require_file
from dppmg.data.schema import DropRecord, InteractionData, StageCount
from dppmg.errors import DatasetError

TEXT_COLUMNS = ("prod_name", "product_type_name", "colour_group_name", "graphical_appearance_name")


def article_text(row: dict) -> str:
    name, ptype, colour, pattern = (str(row.get(c) or "").strip() for c in TEXT_COLUMNS)
    parts = []
    if name:
        parts.append(f"{name}.")
    facets = ", ".join(p for p in (ptype, colour, pattern) if p)
    if facets:
        parts.append(f"{facets}.")
    desc = str(row.get("detail_desc") or "").strip()
    if desc:
        parts.append(desc)
    return " ".join(parts)


def image_path(root: Path, article_id: str) -> Path:
    return root / "images" / article_id[:3] / f"{article_id}.jpg"


def load_hm(root: Path) -> InteractionData:
    """Load the H&M sample from ``root`` (the ``hm-sample`` folder)."""
    root = Path(root)
    trans_path = require_file(root / "transactions_train.csv", "H&M transactions")
    articles_path = require_file(root / "articles.csv", "H&M articles")

    trans = read_table(trans_path, ",", None, header=True)
    for col in ("t_dat", "customer_id", "article_id"):
        if col not in trans.columns:
            raise DatasetError(f"{trans_path}: missing column {col!r}")
    dates = pd.to_datetime(trans["t_dat"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        row = trans[dates.isna()].iloc[0]
        raise DatasetError(f"{trans_path}, line {int(row['line'])}: t_dat {row['t_dat']!r} is not a YYYY-MM-DD date")
    bad_id = ~trans["article_id"].str.fullmatch(r"\d{10}")
    if bad_id.any():
        row = trans[bad_id].iloc[0]
        raise DatasetError(f"{trans_path}, line {int(row['line'])}: article_id {row['article_id']!r} is not 10 digits")
    interactions = pd.DataFrame({
        "user_id": trans["customer_id"], "item_id": trans["article_id"],
        "timestamp": (dates - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1),
        "rating": float("nan"), "source_row": trans["line"],
    })

    articles = read_table(articles_path, ",", None, header=True)
    if "article_id" not in articles.columns:
        raise DatasetError(f"{articles_path}: missing column 'article_id'")
    missing_cols = [c for c in TEXT_COLUMNS if c not in articles.columns]
    if missing_cols:
        raise DatasetError(f"{articles_path}: missing columns {missing_cols}")
    records = articles.to_dict("records")
    texts = [article_text(r) for r in records]
    desc = articles["detail_desc"].str.strip() if "detail_desc" in articles.columns else pd.Series([""] * len(articles))
    items = pd.DataFrame({
        "item_id": articles["article_id"], "title": articles["prod_name"].str.strip(),
        "description": desc.where(desc != "", None), "text": texts,
        "product_type": articles["product_type_name"], "colour": articles["colour_group_name"],
    })
    raw = StageCount("source files", interactions["user_id"].nunique(), len(items), len(interactions))
    drops: list[DropRecord] = []
    empty = items["text"].str.strip() == ""
    if empty.any():
        gone = set(items.loc[empty, "item_id"])
        drops.append(DropRecord("article_text", "empty product text", items=int(empty.sum()),
                                interactions=int(interactions["item_id"].isin(gone).sum())))
        items = items[~empty]
        interactions = interactions[~interactions["item_id"].isin(gone)]
    paths = [image_path(root, a) for a in items["item_id"]]
    exists = [p.is_file() for p in paths]
    items = items.assign(image_path=[str(p) if ok else None for p, ok in zip(paths, exists)])
    if exists and not any(exists):
        raise DatasetError(f"no product photo found for any of the {len(exists):,} articles under {root / 'images'} "
                           f"(expected images/<first 3 digits>/<article_id>.jpg)")
    if not all(exists):
        gone = set(items.loc[items["image_path"].isna(), "item_id"])
        drops.append(DropRecord("join_images", "no product photo", items=len(gone),
                                interactions=int(interactions["item_id"].isin(gone).sum())))
        items = items[items["image_path"].notna()]
        interactions = interactions[~interactions["item_id"].isin(gone)]
    users = pd.DataFrame({"user_id": sorted(interactions["user_id"].unique())})
    return InteractionData("hm", users, items.reset_index(drop=True), interactions.reset_index(drop=True),
                           drops=drops, stages=[raw])
