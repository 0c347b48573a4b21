"""Data fixtures the benchmarks build themselves, so they need no download.

:func:`write_movielens_1m_format` samples a MovieLens-1M-size world (users, items with posters and
titles, ratings with timestamps) from the synthetic world's generator and writes it in the ML-1M
layout that ``dppmg`` reads (``movielens-1m/ml-1m/{ratings.dat,movies.dat}`` and
``movielens-1m/posters/<movie id>.jpg``), so ``dppmg ... --dataset movielens-1m --data-root ROOT``
runs the real loader, processing, feature extraction and Stage 1 on ML-1M's sizes:

====================  ==========  ===================
                      ML-1M       this fixture (default)
====================  ==========  ===================
users (processed)     5,386       5,400
items with posters    3,518       3,520
train interactions    415,004     about 415,000
====================  ==========  ===================

The interactions are the synthetic world's (preference-driven, so early stopping behaves as on
real data rather than on noise); every written rating is 4 or 5 so ML-1M's positive threshold
keeps them all.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dppmg.data.config import SyntheticConfig
from dppmg.infra.io import atomic_path, atomic_write_bytes

ML1M_SIZE = {"num_users": 5400, "num_items": 3520, "min_history": 40, "max_history": 152}


def write_movielens_1m_format(root: str | os.PathLike, *, num_users: int = ML1M_SIZE["num_users"],
                              num_items: int = ML1M_SIZE["num_items"], min_history: int = ML1M_SIZE["min_history"],
                              max_history: int = ML1M_SIZE["max_history"], seed: int = 0,
                              progress: bool = True) -> Path:
    """Write an ML-1M-format data root under ``root`` (``root/movielens-1m/...``); return ``root``.

    Written once: a root whose ``ratings.dat`` exists is returned as it is.
    """
    from dppmg.data.synthetic import generate_synthetic

    root = Path(root)
    folder = root / "movielens-1m"
    ratings_file = folder / "ml-1m" / "ratings.dat"
    if ratings_file.is_file():
        return root
    config = SyntheticConfig(num_users=num_users, num_items=num_items, min_history=min_history,
                             max_history=max_history, render_width=96, render_height=144, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        world = generate_synthetic(config, Path(tmp))
        posters = folder / "posters"
        posters.mkdir(parents=True, exist_ok=True)
        item_ids = {item: str(k + 1) for k, item in enumerate(world.items["item_id"])}
        for row in tqdm(world.items.itertuples(), total=len(world.items), desc="fixture posters",
                        disable=not progress, leave=False):
            with atomic_path(posters / f"{item_ids[row.item_id]}.jpg", suffix=".jpg") as out:
                Image.open(row.image_path).convert("RGB").save(out, format="JPEG", quality=90)
    rng = np.random.default_rng([seed, 7])
    inter = world.interactions
    user_ids = {user: str(k + 1) for k, user in enumerate(sorted(inter["user_id"].unique()))}
    ratings = rng.integers(4, 6, size=len(inter))
    lines = [f"{user_ids[u]}::{item_ids[i]}::{r}::{t}"
             for u, i, r, t in zip(inter["user_id"], inter["item_id"], ratings, inter["timestamp"])]
    movies = [f"{item_ids[row.item_id]}::{row.text.rstrip('.')} ({1950 + k % 50})::{row.style.capitalize()}"
              for k, row in enumerate(world.items.itertuples())]
    atomic_write_bytes(folder / "ml-1m" / "movies.dat", ("\n".join(movies) + "\n").encode("latin-1"))
    # ratings.dat last: its presence marks a complete fixture.
    atomic_write_bytes(ratings_file, ("\n".join(lines) + "\n").encode("latin-1"))
    return root
