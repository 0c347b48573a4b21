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
from dppmg.data.strict import BadLines, parse_pattern, split_lines
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


# The competition's formats: a customer is a 64-character hex hash, an article 10 digits.
CUSTOMER_ID = r"[0-9a-f]{64}"
ARTICLE_ID = r"[0-9]{10}"
DATE = r"\d{4}-\d{2}-\d{2}"
TRANSACTION_COLUMNS = ("t_dat", "customer_id", "article_id")


def read_transactions(path: Path, lenient: bool = False) -> tuple[pd.DataFrame, int]:
    """``transactions_train.csv`` parsed strictly (:mod:`dppmg.data.strict`): customer and article ids
    in the competition's formats, ``t_dat`` a real YYYY-MM-DD date; every bad line reported at once,
    or skipped and counted with ``lenient``. Returns the rows (with ``date``) and the lines skipped."""
    with open(path, encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n").split(",")
    missing = [c for c in TRANSACTION_COLUMNS if c not in header]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing} in its header {header}")
    bad = BadLines(path)
    rows = split_lines(path, ",", header, header=True, bad=bad)
    parse_pattern(rows, "customer_id", bad, CUSTOMER_ID, "a customer id (64 hex digits)")
    parse_pattern(rows, "article_id", bad, ARTICLE_ID, "an article id (10 digits)")
    shaped = parse_pattern(rows, "t_dat", bad, DATE, "a YYYY-MM-DD date")
    dates = pd.to_datetime(shaped.where(shaped.str.fullmatch(DATE), None), format="%Y-%m-%d", errors="coerce")
    for line, value in zip(rows.loc[dates.isna(), "line"], rows.loc[dates.isna(), "t_dat"]):
        bad.reasons.setdefault(int(line), f"column 't_dat' is not a YYYY-MM-DD date: {value!r}")
    rows = rows.assign(date=dates)
    return bad.raise_or_drop(rows, lenient)


def load_hm(root: Path, lenient: bool = False) -> InteractionData:
    """Load the H&M sample from ``root`` (the ``hm-sample`` folder); with ``lenient``, malformed
    transaction lines are skipped and counted instead of reported."""
    root = Path(root)
    trans_path = require_file(root / "transactions_train.csv", "H&M transactions")
    articles_path = require_file(root / "articles.csv", "H&M articles")

    trans, skipped = read_transactions(trans_path, lenient)
    interactions = pd.DataFrame({
        "user_id": trans["customer_id"], "item_id": trans["article_id"],
        "timestamp": (trans["date"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1),
        "rating": float("nan"), "source_row": trans["line"],
    })

    articles = read_table(articles_path, ",", None, header=True)
    if "article_id" not in articles.columns:
        raise DatasetError(f"{articles_path}: missing column 'article_id'")
    bad = BadLines(articles_path)
    parse_pattern(articles, "article_id", bad, ARTICLE_ID, "an article id (10 digits)")
    bad.raise_or_drop(articles, lenient=False)
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
    if skipped:
        drops.append(DropRecord("parse", f"malformed line in {trans_path.name} (--lenient)", interactions=skipped))
    empty = items["text"].str.strip() == ""
    if empty.any():
        gone = set(items.loc[empty, "item_id"])
        drops.append(DropRecord("article_text", "empty product text", items=int(empty.sum()),
                                interactions=int(interactions["item_id"].isin(gone).sum())))
        items = items[~empty]
        interactions = interactions[~interactions["item_id"].isin(gone)]
    if not (root / "images").is_dir():
        raise DatasetError(f"the photo folder {root / 'images'} does not exist "
                           f"(expected images/<first 3 digits>/<article_id>.jpg)")
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
