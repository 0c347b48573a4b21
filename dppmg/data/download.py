"""``dppmg data download``: fetch the real datasets from their public origins into the data root.

MovieLens-100K and the ML-1M ``movies.dat`` come from GroupLens, posters from the public
poster pages of a statistics course (one JPEG per ML-1M id), plots from the movielens-details
project on GitHub. The ML-100K -> ML-1M id map is rebuilt here by title matching
(:func:`dppmg.data.movielens.build_poster_map`). H&M needs a Kaggle account: the command prints
the steps. Each file is written atomically and skipped when present, so an interrupted download
resumes where it stopped. Offline, the command fails within seconds with what to do instead.
"""

from __future__ import annotations

import io
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm

from dppmg.data.movielens import build_poster_map
from dppmg.data.readers import read_table
from dppmg.errors import ConfigError, DatasetError, OfflineError
from dppmg.infra.io import atomic_write_bytes

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
POSTER_URL = "https://liangfgithub.github.io/MovieImages/{ml1m_id}.jpg"
PLOTS_URL = "https://raw.githubusercontent.com/manfredmichael/movielens-details/HEAD/movielens100k_details.json"
HM_COMPETITION = "h-and-m-personalized-fashion-recommendations"

HM_STEPS = f"""H&M Personalized Fashion Recommendations is distributed by Kaggle under the competition's terms;
it cannot be downloaded anonymously. Steps:
  1. Create a Kaggle account, accept the rules at https://www.kaggle.com/competitions/{HM_COMPETITION}
     and put your API token in ~/.kaggle/kaggle.json.
  2. pip install kaggle
     kaggle competitions download -c {HM_COMPETITION} -p <download dir>
  3. Unzip into <data root>/hm-sample/ so that it holds transactions_train.csv, articles.csv,
     customers.csv and images/<first 3 digits>/<article_id>.jpg (the competition's own layout).
The full competition data loads with the same loader (31M purchases; expect several GB of RAM).
The sample used in development has 1,364 customers and 17,033 articles."""


def check_online(url: str, timeout: float = 5.0) -> None:
    """Raise :class:`OfflineError` quickly if the host of ``url`` cannot be reached."""
    host = urlparse(url).hostname or ""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as exc:
        raise OfflineError(
            f"cannot reach {host} ({exc}). This machine looks offline: download on a machine with internet "
            f"access (or by hand from {url}) and copy the files into the data root; see the README, section Data."
        ) from exc


def fetch(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (fixed https origins)
            return resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise OfflineError(f"download of {url} failed: {exc}") from exc


def _extract(zip_bytes: bytes, members: dict[str, Path]) -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        for name, dest in members.items():
            atomic_write_bytes(dest, zf.read(name))


def download_posters(ml1m_ids, folder: Path) -> None:
    """One JPEG per ML-1M id; a poster that fails is skipped (the loader counts items without one)."""
    check_online(POSTER_URL)
    for ml1m_id in tqdm(list(ml1m_ids), desc="posters"):
        target = folder / f"{ml1m_id}.jpg"
        if not target.is_file():
            try:
                atomic_write_bytes(target, fetch(POSTER_URL.format(ml1m_id=ml1m_id)))
            except OfflineError as exc:
                tqdm.write(f"skipped poster {ml1m_id}: {exc}")


def download_movielens(root: Path) -> Path:
    """ML-100K + ML-1M movies.dat + posters + IMDb plots into ``root/movielens-100k``."""
    check_online(ML100K_URL)
    dest = root / "movielens-100k"
    ml = dest / "ml-100k"
    wanted = ["u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info", "README"]
    if not all((ml / n).is_file() for n in wanted):
        _extract(fetch(ML100K_URL), {f"ml-100k/{n}": ml / n for n in wanted})
    posters = dest / "posters"
    if not (posters / "movies.dat").is_file():
        _extract(fetch(ML1M_URL), {"ml-1m/movies.dat": posters / "movies.dat"})
    map_file = posters / "ml100k_to_ml1m.csv"
    if not map_file.is_file():
        mapping = build_poster_map(ml / "u.item", posters / "movies.dat")
        atomic_write_bytes(map_file, mapping.to_csv(index=False).encode("utf-8"))
    import pandas as pd

    download_posters(pd.read_csv(map_file, dtype=str)["ml1m_id"].unique(), posters)
    plots = dest / "imdb" / "movielens100k_details.json"
    if not plots.is_file():
        check_online(PLOTS_URL)
        atomic_write_bytes(plots, fetch(PLOTS_URL))
    return dest


def download_movielens_1m(root: Path) -> Path:
    """ML-1M ratings/movies + posters into ``root/movielens-1m``."""
    check_online(ML1M_URL)
    dest = root / "movielens-1m"
    ml = dest / "ml-1m"
    wanted = ["ratings.dat", "movies.dat", "users.dat", "README"]
    if not all((ml / n).is_file() for n in wanted):
        _extract(fetch(ML1M_URL), {f"ml-1m/{n}": ml / n for n in wanted})

    download_posters(read_table(ml / "movies.dat", "::", ["id", "title", "genres"], encoding="latin-1")["id"],
                     dest / "posters")
    return dest


def download(dataset: str, root: Path | None) -> str:
    """Download ``dataset`` into ``root``; returns a message for the user."""
    if dataset == "synthetic":
        return "The synthetic world is built in: nothing to download."
    if dataset == "hm":
        return HM_STEPS
    if root is None:
        raise ConfigError("no data root: pass --data-root PATH or set DPPMG_DATA_DIR to where the data should go")
    root.mkdir(parents=True, exist_ok=True)
    if dataset == "movielens":
        return f"MovieLens-100K with posters and plots is in {download_movielens(root)}"
    if dataset == "movielens-1m":
        return f"MovieLens-1M with posters is in {download_movielens_1m(root)}"
    raise DatasetError(f"unknown dataset {dataset!r}")
