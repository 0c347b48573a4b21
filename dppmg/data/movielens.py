"""MovieLens with posters and IMDb plots.

Two source formats are read:

* **ML-100K** (GroupLens): ``ml-100k/u.data`` (``user \\t item \\t rating \\t ts``) and
  ``ml-100k/u.item`` (``|``-separated, latin-1, 19 genre flags). Posters are named by
  **ML-1M** movie id and reached through ``posters/ml100k_to_ml1m.csv``; plots come from
  ``imdb/movielens100k_details.json``.
* **ML-1M** (GroupLens): ``ml-1m/ratings.dat`` and ``ml-1m/movies.dat`` (``::``-separated,
  latin-1); posters by the same ids directly.

Known defects handled here (from the data README): items without a poster are dropped with their
ratings (counted); IMDb's placeholder "It looks like we don't have any Plot Summaries..." and
records whose IMDb ``year`` is not a number or differs from the title's year by more than one
(wrong matches) are treated as missing plots. Item text = title, genres and plot where present.

Expected directory layout under the data root::

    movielens-100k/ml-100k/{u.data,u.item}
    movielens-100k/posters/{<ml1m_id>.jpg, ml100k_to_ml1m.csv}
    movielens-100k/imdb/movielens100k_details.json
    movielens-1m/ml-1m/{ratings.dat,movies.dat}
    movielens-1m/posters/<ml1m_id>.jpg
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from dppmg.data.readers import read_table, require_file
from dppmg.data.schema import DropRecord, InteractionData, StageCount
from dppmg.data.strict import BadLines, parse_choice, parse_ids, parse_whole, split_lines
from dppmg.errors import DatasetError

GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western"]
PLACEHOLDER_PLOT = "It looks like we don't have any Plot Summaries for this title yet"
_TITLE_YEAR = re.compile(r"\((\d{4})\)\s*$")


def title_year(title: str) -> int | None:
    match = _TITLE_YEAR.search(title)
    return int(match.group(1)) if match else None


def clean_title(title: str) -> str:
    """'Shawshank Redemption, The (1994)' -> 'The Shawshank Redemption (1994)'."""
    match = re.match(r"^(.*), (The|A|An|Les|La|Le|Il|Das|Der|Die|El|L')( \(.*)?$", title.strip())
    if match:
        rest = match.group(3) or ""
        return f"{match.group(2)} {match.group(1)}{rest}".replace("L' ", "L'")
    return title.strip()


def plot_is_usable(record: dict, title: str) -> bool:
    """A plot counts only if it is real text and the IMDb record's year matches the title's year (±1)."""
    desc = (record.get("description") or "").strip()
    if not desc or desc.startswith(PLACEHOLDER_PLOT[:30]):
        return False
    year = record.get("year")
    try:
        year = float(year)
    except (TypeError, ValueError):
        return False
    expected = title_year(title)
    return expected is not None and not math.isnan(year) and abs(year - expected) <= 1


def item_text(title: str, genres: list[str], plot: str | None) -> str:
    text = f"{clean_title(title)}. Genres: {', '.join(genres) if genres else 'unknown'}."
    return f"{text} {plot.strip()}" if plot else text


def _join_posters(items: pd.DataFrame, poster_dir: Path, poster_ids: pd.Series, drops: list[DropRecord], interactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach ``image_path``; drop (and count) items whose poster is missing."""
    if not poster_dir.is_dir():
        raise DatasetError(f"the poster folder {poster_dir} does not exist (expected <ml1m id>.jpg files there; "
                           f"see `dppmg data download --help`)")
    paths = poster_ids.map(lambda pid: poster_dir / f"{pid}.jpg" if isinstance(pid, str) and pid else None)
    exists = paths.map(lambda p: p is not None and p.is_file())
    items = items.assign(image_path=[str(p) if ok else None for p, ok in zip(paths, exists)])
    missing = items["image_path"].isna()
    if len(items) and missing.all():
        raise DatasetError(f"no poster found for any of the {len(items):,} movies under {poster_dir} "
                           f"(expected <ml1m id>.jpg files there; see `dppmg data download --help`)")
    if missing.any():
        gone = set(items.loc[missing, "item_id"])
        n_inter = int(interactions["item_id"].isin(gone).sum())
        drops.append(DropRecord("join_posters", "no poster image", items=int(missing.sum()), interactions=n_inter))
        items = items[~missing]
        interactions = interactions[~interactions["item_id"].isin(gone)]
    return items, interactions


# GroupLens writes ratings as whole stars.
RATINGS = ("1", "2", "3", "4", "5")
RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def _read_ratings(path: Path, sep: str, lenient: bool = False) -> tuple[pd.DataFrame, int]:
    """``user, item, rating, timestamp`` rows (both GroupLens formats) in the common schema, parsed
    strictly (:mod:`dppmg.data.strict`): every bad line is reported at once, or skipped and counted
    with ``lenient``. Returns the rows and the number of lines skipped."""
    bad = BadLines(path)
    rows = split_lines(path, sep, RATING_COLUMNS, encoding="latin-1", bad=bad)
    frame = pd.DataFrame({
        "user_id": parse_ids(rows, "user_id", bad), "item_id": parse_ids(rows, "item_id", bad),
        "timestamp": parse_whole(rows, "timestamp", bad, "a timestamp (whole seconds)"),
        "rating": parse_choice(rows, "rating", bad, RATINGS), "source_row": rows["line"], "line": rows["line"]})
    frame, skipped = bad.raise_or_drop(frame, lenient)
    return frame.drop(columns="line"), skipped


def _skipped_lines(drops: list[DropRecord], skipped: int, path: Path) -> None:
    if skipped:
        drops.append(DropRecord("parse", f"malformed line in {path.name} (--lenient)", interactions=skipped))


def _check_items(items: pd.DataFrame, path: Path) -> pd.Series:
    """The item id column of an items file, every malformed id reported at once (items files are
    never read leniently: a bad item row would silently move ratings to no item)."""
    bad = BadLines(path)
    ids = parse_ids(items, "item_id", bad)
    bad.raise_or_drop(items, lenient=False)
    return ids


def load_movielens_100k(root: Path, lenient: bool = False) -> InteractionData:
    """Load ML-100K + posters + IMDb plots from ``root`` (the ``movielens-100k`` folder); with
    ``lenient``, malformed rating lines are skipped and counted instead of reported."""
    root = Path(root)
    ratings_path = require_file(root / "ml-100k" / "u.data", "MovieLens-100K ratings")
    items_path = require_file(root / "ml-100k" / "u.item", "MovieLens-100K items")
    map_path = require_file(root / "posters" / "ml100k_to_ml1m.csv", "ML-100K to ML-1M poster id map")
    plots_path = root / "imdb" / "movielens100k_details.json"

    interactions, skipped = _read_ratings(ratings_path, "\t", lenient)

    raw_items = read_table(items_path, "|", ["item_id", "title", "release", "video", "url", *GENRES_100K],
                           encoding="latin-1")
    raw_items["item_id"] = _check_items(raw_items, items_path)
    flags = raw_items[GENRES_100K].to_numpy() == "1"
    genres = [[g for g, f in zip(GENRES_100K, row) if f and g != "unknown"] for row in flags]

    plots: dict[str, dict] = {}
    if plots_path.is_file():
        try:
            records = json.loads(plots_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{plots_path}: not valid JSON ({exc})") from exc
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or "movie_id" not in rec:
                raise DatasetError(f"{plots_path}: record {i} has no 'movie_id'")
            plots[str(rec["movie_id"])] = rec
    raw = StageCount("source files", interactions["user_id"].nunique(), len(raw_items), len(interactions))
    drops: list[DropRecord] = []
    _skipped_lines(drops, skipped, ratings_path)
    descriptions = []
    for item_id, title in zip(raw_items["item_id"], raw_items["title"]):
        rec = plots.get(item_id)
        descriptions.append(rec["description"].strip() if rec is not None and plot_is_usable(rec, title) else None)
    items = pd.DataFrame({
        "item_id": raw_items["item_id"],
        "title": raw_items["title"].map(clean_title),
        "genres": ["|".join(g) for g in genres],
        "description": descriptions,
        "text": [item_text(t, g, d) for t, g, d in zip(raw_items["title"], genres, descriptions)],
    })
    n_with_record = int(items["item_id"].isin(list(plots)).sum())
    n_usable = int(items["description"].notna().sum())
    info = {"plots_in_json": len(plots), "items_with_imdb_record": n_with_record,
            "imdb_plots_rejected_placeholder_or_year_mismatch": n_with_record - n_usable}

    mapping = read_table(map_path, ",", None, header=True)
    for col in ("ml100k_id", "ml1m_id"):
        if col not in mapping.columns:
            raise DatasetError(f"{map_path}: missing column {col!r}")
    unknown = ~mapping["ml100k_id"].isin(items["item_id"])
    if unknown.any():
        row = mapping[unknown].iloc[0]
        raise DatasetError(f"{map_path}, line {int(row['line'])}: ml100k_id {row['ml100k_id']!r} is not in {items_path}")
    poster_ids = items["item_id"].map(dict(zip(mapping["ml100k_id"], mapping["ml1m_id"])))
    items, interactions = _join_posters(items, root / "posters", poster_ids, drops, interactions)

    users = pd.DataFrame({"user_id": sorted(interactions["user_id"].unique(), key=int)})
    return InteractionData("movielens", users, items.reset_index(drop=True), interactions.reset_index(drop=True),
                           drops=drops, stages=[raw], info=info)


def load_movielens_1m(root: Path, lenient: bool = False) -> InteractionData:
    """Load ML-1M (``ratings.dat``, ``movies.dat``) with posters by ML-1M id from ``root`` (``lenient``:
    as for ML-100K)."""
    root = Path(root)
    ratings_path = require_file(root / "ml-1m" / "ratings.dat", "MovieLens-1M ratings")
    movies_path = require_file(root / "ml-1m" / "movies.dat", "MovieLens-1M movies")
    interactions, skipped = _read_ratings(ratings_path, "::", lenient)
    movies = read_table(movies_path, "::", ["item_id", "title", "genres"], encoding="latin-1")
    movies["item_id"] = _check_items(movies, movies_path)
    genres = [[g for g in s.split("|") if g] for s in movies["genres"]]
    items = pd.DataFrame({
        "item_id": movies["item_id"], "title": movies["title"].map(clean_title),
        "genres": movies["genres"], "description": [None] * len(movies),
        "text": [item_text(t, g, None) for t, g in zip(movies["title"], genres)],
    })
    raw = StageCount("source files", interactions["user_id"].nunique(), len(items), len(interactions))
    drops: list[DropRecord] = []
    _skipped_lines(drops, skipped, ratings_path)
    items, interactions = _join_posters(items, root / "posters", items["item_id"], drops, interactions)
    users = pd.DataFrame({"user_id": sorted(interactions["user_id"].unique(), key=int)})
    return InteractionData("movielens-1m", users, items.reset_index(drop=True), interactions.reset_index(drop=True),
                           drops=drops, stages=[raw])


def build_poster_map(u_item: Path, movies_dat: Path) -> pd.DataFrame:
    """Match ML-100K items to ML-1M ids by title, for ``dppmg data download``.

    Exact "Title (Year)" first, then titles normalised (case, punctuation, leading articles,
    alternative titles in parentheses). Unmatched items get no poster, which the loader counts.
    """
    def norm(title: str) -> str:
        year = title_year(title)
        base = _TITLE_YEAR.sub("", clean_title(title)).lower()
        base = re.sub(r"\(.*?\)", "", base)
        base = re.sub(r"^(the|a|an) ", "", base)
        base = re.sub(r"[^a-z0-9]+", " ", base).strip()
        return f"{base}|{year}"

    items = read_table(u_item, "|", ["item_id", "title", "release", "video", "url", *GENRES_100K], encoding="latin-1")
    movies = read_table(movies_dat, "::", ["ml1m_id", "title", "genres"], encoding="latin-1")
    exact = dict(zip(movies["title"], movies["ml1m_id"]))
    normalised = dict(zip(movies["title"].map(norm), movies["ml1m_id"]))
    rows = []
    for item_id, title in zip(items["item_id"], items["title"]):
        ml1m = exact.get(title) or normalised.get(norm(title))
        if ml1m:
            rows.append({"ml100k_id": item_id, "ml1m_id": ml1m, "title_100k": title})
    return pd.DataFrame(rows, columns=["ml100k_id", "ml1m_id", "title_100k"])

