"""``dppmg data build --dataset hm --kaggle-dir DIR``: rebuild the H&M sample from the Kaggle download.

The sample this suite is developed and measured on holds 1,364 customers; their ids ship with the
package (``hm_sample_customers.txt``). From the competition's files the builder keeps

* ``transactions_train.csv``: every purchase of those customers, in the file's order;
* ``customers.csv``: their rows;
* ``articles.csv``: the articles they bought, in the file's order;
* ``images/<first 3 digits>/<article_id>.jpg``: those articles' photos, downscaled to 120x180
  RGB JPEG (a photo already 120x180 is copied byte for byte).

CSV rows are copied as text (read as strings, written back the way pandas writes them, which
reproduces the competition's formatting), so the sample as input gives identical files. The
output folder is written to a temporary folder and swapped in when complete.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from dppmg.data.hm import ARTICLE_ID, DATE
from dppmg.data.strict import BadLines, parse_pattern
from dppmg.errors import DatasetError
from dppmg.infra.io import atomic_dir

SAMPLE_IMAGE_SIZE = (120, 180)  # width, height
JPEG_QUALITY = 90


def _ids(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def sample_customer_ids() -> list[str]:
    """The 1,364 customer ids of the H&M sample (shipped with the package)."""
    return _ids(resources.files("dppmg.data").joinpath("hm_sample_customers.txt").read_text(encoding="utf-8"))


def read_customer_ids(path: Path) -> list[str]:
    """Customer ids from a text file, one per line (``#`` starts a comment line)."""
    if not path.is_file():
        raise DatasetError(f"--customers {path}: no such file")
    ids = _ids(path.read_text(encoding="utf-8"))
    if not ids:
        raise DatasetError(f"--customers {path}: no customer id in it")
    return ids


def _read_filtered(path: Path, column: str, keep: set[str], progress: bool = True,
                   chunksize: int = 1_000_000) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: expected the Kaggle competition's {path.name}")
    chunks = []
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunksize)
    for chunk in tqdm(reader, desc=f"reading {path.name}", unit="M rows", disable=not progress, leave=False):
        if column not in chunk.columns:
            raise DatasetError(f"{path}: no column {column!r} (columns: {list(chunk.columns)[:8]})")
        kept = chunk[chunk[column].isin(keep)]
        chunks.append(kept.assign(line=kept.index + 2))  # the reader's index runs on across chunks
    return pd.concat(chunks, ignore_index=True)


def _check_transactions(path: Path, transactions: pd.DataFrame) -> None:
    """The kept purchases by the loader's rules (:func:`dppmg.data.hm.read_transactions`): every bad
    line named at once, before anything is written."""
    bad = BadLines(path)
    for column, pattern, what in (("article_id", ARTICLE_ID, "an article id (10 digits)"),
                                  ("t_dat", DATE, "a YYYY-MM-DD date")):
        if column not in transactions.columns:
            raise DatasetError(f"{path}: no column {column!r}")
        parse_pattern(transactions, column, bad, pattern, what)
    bad.raise_or_drop(transactions, lenient=False)


def _copy_image(src: Path, dst: Path) -> None:
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        if im.size == SAMPLE_IMAGE_SIZE and im.format == "JPEG" and im.mode == "RGB":
            shutil.copyfile(src, dst)
            return
        im.convert("RGB").resize(SAMPLE_IMAGE_SIZE, Image.LANCZOS).save(dst, format="JPEG", quality=JPEG_QUALITY)


def build_hm_sample(kaggle_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    customer_ids: list[str] | None = None, progress: bool = True) -> dict[str, int]:
    """Write the H&M sample of ``customer_ids`` (default: :func:`sample_customer_ids`) from the
    Kaggle folder ``kaggle_dir`` into ``out_dir``; returns what it wrote (counts)."""
    kaggle_dir, out_dir = Path(kaggle_dir), Path(out_dir)
    if not kaggle_dir.is_dir():
        raise DatasetError(f"--kaggle-dir {kaggle_dir} does not exist or is not a folder")
    if kaggle_dir.resolve() == out_dir.resolve():
        raise DatasetError(f"the output folder {out_dir} is the Kaggle folder itself; choose another one")
    keep = set(customer_ids if customer_ids is not None else sample_customer_ids())
    transactions = _read_filtered(kaggle_dir / "transactions_train.csv", "customer_id", keep, progress)
    if transactions.empty:
        raise DatasetError(f"{kaggle_dir / 'transactions_train.csv'} has no purchase of the sample's "
                           f"{len(keep):,} customers: is it the H&M competition's file?")
    _check_transactions(kaggle_dir / "transactions_train.csv", transactions)
    transactions = transactions.drop(columns="line")
    customers = _read_filtered(kaggle_dir / "customers.csv", "customer_id", keep, progress).drop(columns="line")
    bought = set(transactions["article_id"])
    articles = _read_filtered(kaggle_dir / "articles.csv", "article_id", bought, progress).drop(columns="line")
    missing_images = 0
    with atomic_dir(out_dir) as tmp:
        transactions.to_csv(tmp / "transactions_train.csv", index=False)
        customers.to_csv(tmp / "customers.csv", index=False)
        articles.to_csv(tmp / "articles.csv", index=False)
        for article_id in tqdm(articles["article_id"], desc="images", disable=not progress, leave=False):
            src = kaggle_dir / "images" / article_id[:3] / f"{article_id}.jpg"
            if not src.is_file():
                missing_images += 1
                continue
            _copy_image(src, tmp / "images" / article_id[:3] / f"{article_id}.jpg")
    return {"customers": len(customers), "purchases": len(transactions), "articles": len(articles),
            "images": len(articles) - missing_images, "articles_without_image": missing_images}
