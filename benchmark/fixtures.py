"""Data fixtures the benchmarks build themselves, so they need no download.

:func:`write_movielens_1m_format` writes a MovieLens-1M-size world in the ML-1M layout that
``dppmg`` reads (``movielens-1m/ml-1m/{ratings.dat,movies.dat}`` and
``movielens-1m/posters/<movie id>.jpg``), so ``dppmg ... --dataset movielens-1m --data-root ROOT``
runs the real loader, processing, feature extraction and Stage 1 on ML-1M's sizes:

====================  ==========  ===================
                      ML-1M       this fixture (default)
====================  ==========  ===================
users (processed)     5,386       5,400
items with posters    3,518       3,520
train interactions    415,004     about 415,000
====================  ==========  ===================

It is built to behave like real data, so that Stage 1 needs as many epochs on it as on ML-1M:

* **Real items.** Every item is a real ML-1M movie (title, year and genres from the ML-1M
  ``movies.dat`` that ships with the MovieLens-100K posters) with a real poster: its own where
  the poster set has it (1,648 of them), else the poster of another real movie of the same first
  genre. The encoders therefore see the features of real items.
* **A long tail.** Item popularity follows a Zipf law over a random ranking (weight
  ``rank ** -popularity_exponent``), and history lengths a log-normal law clipped to
  [``min_history``, ``max_history``]: a few heavy users and many light ones, as in ML-1M.
* **Preferences tied to the features.** A user's utility for an item is the log popularity, plus
  the user's affinity for the item's genres (Dirichlet-distributed per user, so most users like a
  few genres), plus a low-rank collaborative term; a history is drawn without replacement with
  probability proportional to ``exp(utility)`` (Gumbel top-k), in a random time order. Every
  rating is 4 or 5, so ML-1M's positive threshold keeps them all.

Everything is a deterministic function of ``seed``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from dppmg.errors import DPPMGError
from dppmg.infra.io import atomic_path, atomic_write_bytes
from dppmg.infra.paths import resolve_data_root

ML1M_SIZE = {"num_users": 5400, "num_items": 3520, "median_history": 70, "min_history": 20, "max_history": 1200}
# The fixture's generative model; part of the folder name, so a change never reuses an old fixture.
FIXTURE_VERSION = 2


def real_movies(source_root: str | os.PathLike) -> pd.DataFrame:
    """The real ML-1M movies of the MovieLens-100K data root (``movielens-100k/posters/movies.dat``)
    with the path of their own poster, where there is one (``poster``, else None)."""
    posters = Path(source_root) / "movielens-100k" / "posters"
    movies_dat = posters / "movies.dat"
    if not movies_dat.is_file():
        raise DPPMGError(f"the real-like ML-1M fixture draws its items from {movies_dat}, which does not exist: "
                         "pass the data root that holds movielens-100k (DPPMG_DATA_DIR)")
    movies = pd.read_csv(movies_dat, sep="::", engine="python", names=["ml1m_id", "title", "genres"],
                         encoding="latin-1", dtype={"ml1m_id": int})
    movies["poster"] = [posters / f"{i}.jpg" if (posters / f"{i}.jpg").is_file() else None for i in movies["ml1m_id"]]
    return movies


def choose_items(movies: pd.DataFrame, num_items: int, rng: np.random.Generator) -> pd.DataFrame:
    """``num_items`` real movies, those with their own poster first; a movie without one borrows
    the poster of a random movie with a poster and the same first genre (any, if none has)."""
    if num_items > len(movies):
        raise DPPMGError(f"the fixture has {len(movies)} real movies to draw {num_items} items from")
    own = movies[movies["poster"].notna()]
    order = np.concatenate([rng.permutation(own.index.to_numpy()),
                            rng.permutation(movies.index[movies["poster"].isna()].to_numpy())])
    items = movies.loc[np.sort(order[:num_items])].reset_index(drop=True)
    first_genre = own["genres"].str.split("|").str[0]
    borrowed = []
    for genres, poster in zip(items["genres"], items["poster"]):
        if poster is not None:
            borrowed.append(poster)
            continue
        same = own["poster"][first_genre == genres.split("|")[0]]
        pool = same if len(same) else own["poster"]
        borrowed.append(pool.iloc[int(rng.integers(len(pool)))])
    return items.assign(poster=borrowed)


def draw_histories(items: pd.DataFrame, num_users: int, median_history: int, min_history: int, max_history: int,
                   rng: np.random.Generator, popularity_exponent: float = 1.0, factors: int = 16
                   ) -> list[np.ndarray]:
    """Per user, the item indices of their history (see the module docstring)."""
    genre_names = sorted({g for s in items["genres"] for g in s.split("|")})
    genres = np.array([[g in s.split("|") for g in genre_names] for s in items["genres"]], dtype=np.float32)
    genres /= genres.sum(1, keepdims=True)
    popularity = np.empty(len(items), dtype=np.float32)
    popularity[rng.permutation(len(items))] = np.arange(1, len(items) + 1, dtype=np.float32) ** -popularity_exponent
    affinity = rng.dirichlet(np.full(len(genre_names), 0.3), size=num_users).astype(np.float32)
    users_f = rng.normal(0, 1 / np.sqrt(factors), (num_users, factors)).astype(np.float32)
    items_f = rng.normal(0, 1, (len(items), factors)).astype(np.float32)
    lengths = np.clip(np.round(rng.lognormal(np.log(median_history), 0.8, num_users)), min_history,
                      min(max_history, len(items) - 1)).astype(int)
    histories = []
    for start in range(0, num_users, 512):
        rows = slice(start, min(start + 512, num_users))
        utility = (np.log(popularity)[None, :] + 3.0 * np.log(affinity[rows] @ genres.T + 1e-3)
                   + users_f[rows] @ items_f.T)
        keys = utility + rng.gumbel(size=utility.shape).astype(np.float32)
        order = np.argsort(-keys, axis=1)
        histories += [order[k, :n] for k, n in enumerate(lengths[rows])]
    return histories


def write_movielens_1m_format(root: str | os.PathLike, *, source_root: str | os.PathLike | None = None,
                              num_users: int = ML1M_SIZE["num_users"], num_items: int = ML1M_SIZE["num_items"],
                              median_history: int = ML1M_SIZE["median_history"],
                              min_history: int = ML1M_SIZE["min_history"], max_history: int = ML1M_SIZE["max_history"],
                              seed: int = 0, progress: bool = True) -> Path:
    """Write an ML-1M-format data root under ``root`` (``root/movielens-1m/...``) from the real
    movies under ``source_root`` (default ``$DPPMG_DATA_DIR``); return ``root``.

    Written once: a root whose ``ratings.dat`` exists is returned as it is.
    """
    root = Path(root)
    folder = root / "movielens-1m"
    ratings_file = folder / "ml-1m" / "ratings.dat"
    if ratings_file.is_file():
        return root
    rng = np.random.default_rng([seed, FIXTURE_VERSION])
    items = choose_items(real_movies(resolve_data_root(source_root, required=True)), num_items, rng)
    histories = draw_histories(items, num_users, median_history, min_history, max_history, rng)
    (folder / "posters").mkdir(parents=True, exist_ok=True)
    for row in tqdm(items.itertuples(), total=len(items), desc="fixture posters", disable=not progress, leave=False):
        with atomic_path(folder / "posters" / f"{row.ml1m_id}.jpg", suffix=".jpg") as out:
            Image.open(row.poster).convert("RGB").save(out, format="JPEG", quality=90)
    lines = []
    for user, history in enumerate(histories, start=1):
        times = 956_703_932 + np.cumsum(rng.integers(60, 86_400, size=len(history)))
        ratings = rng.integers(4, 6, size=len(history))
        lines += [f"{user}::{items['ml1m_id'].iat[i]}::{r}::{t}" for i, r, t in zip(history, ratings, times)]
    movies = [f"{i}::{t}::{g}" for i, t, g in zip(items["ml1m_id"], items["title"], items["genres"])]
    atomic_write_bytes(folder / "ml-1m" / "movies.dat", ("\n".join(movies) + "\n").encode("latin-1"))
    # ratings.dat last: its presence marks a complete fixture.
    atomic_write_bytes(ratings_file, ("\n".join(lines) + "\n").encode("latin-1"))
    return root
