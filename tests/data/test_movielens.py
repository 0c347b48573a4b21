"""MovieLens loaders: the real ML-100K join against the data README's numbers, the ML-1M format
on a fixture written here, and the bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dppmg.data import dataset_statistics, load_dataset
from dppmg.data.movielens import build_poster_map, clean_title, load_movielens_1m, load_movielens_100k, plot_is_usable
from dppmg.errors import DatasetError


def test_real_ml100k_matches_data_readme(movielens_root):
    raw = load_movielens_100k(movielens_root)
    assert raw.stages[0].users == 943 and raw.stages[0].items == 1682 and raw.stages[0].interactions == 100_000
    assert raw.interactions["user_id"].nunique() == 943
    assert len(raw.items) == 1666
    assert len(raw.interactions) == 99_822
    (poster_drop,) = [d for d in raw.drops if d.step == "join_posters"]
    assert (poster_drop.items, poster_drop.interactions) == (16, 178)
    with_plot = raw.items["description"].notna()
    assert int(with_plot.sum()) == 1454
    assert int(raw.interactions["item_id"].isin(raw.items.loc[with_plot, "item_id"]).sum()) == 90_073


def test_real_ml100k_texts_and_posters(movielens_root):
    raw = load_movielens_100k(movielens_root)
    toy = raw.items.set_index("item_id").loc["1"]
    assert toy["text"].startswith("Toy Story (1995). Genres: Animation, Children's, Comedy.")
    assert "cowboy doll" in toy["text"]  # the IMDb plot
    assert Path(toy["image_path"]).name == "1.jpg"
    assert not raw.items["description"].fillna("").str.contains("looks like we don't have").any()


def test_processed_movielens_is_positive_and_split(movielens):
    stats = dataset_statistics(movielens)
    assert stats["stages"][1]["users"] == 943 and stats["stages"][1]["items"] == 1666
    assert (movielens.interactions["rating"] >= 4).all()
    assert set(movielens.interactions["split"].unique()) == {"train", "valid", "test"}
    assert movielens.interactions["user"].max() == movielens.num_users - 1
    assert movielens.interactions["item"].max() == movielens.num_items - 1


def test_plot_year_check():
    good = {"description": "A plot.", "year": 1995.0}
    assert plot_is_usable(good, "Toy Story (1995)")
    assert plot_is_usable({"description": "A plot.", "year": "1996"}, "Toy Story (1995)")
    assert not plot_is_usable({"description": "A plot.", "year": 2010.0}, "187 (1997)")
    assert not plot_is_usable({"description": "A plot.", "year": "Video Game"}, "Return of the Jedi (1983)")
    assert not plot_is_usable({"description": "A plot.", "year": None}, "Toy Story (1995)")
    placeholder = "It looks like we don't have any Plot Summaries for this title yet. Be the first to contribute."
    assert not plot_is_usable({"description": placeholder, "year": 1995.0}, "Toy Story (1995)")


def test_clean_title_moves_articles():
    assert clean_title("Shawshank Redemption, The (1994)") == "The Shawshank Redemption (1994)"
    assert clean_title("Toy Story (1995)") == "Toy Story (1995)"


def _jpeg(path: Path, colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 60), colour).save(path, format="JPEG")


@pytest.fixture
def ml1m_root(tmp_path) -> Path:
    root = tmp_path / "movielens-1m"
    ml = root / "ml-1m"
    ml.mkdir(parents=True)
    (ml / "movies.dat").write_bytes(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
        "3::Cité des enfants perdus, La (1995)::Adventure|Sci-Fi\n".encode("latin-1"))
    rows = []
    for u in range(1, 7):
        for j, item in enumerate((1, 2, 3)):
            rows.append(f"{u}::{item}::{3 + (u + j) % 3}::{978300000 + 100 * u + j}")
    (ml / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    for item in (1, 3):
        _jpeg(root / "posters" / f"{item}.jpg")
    return root


def test_ml1m_format_fixture(ml1m_root):
    raw = load_movielens_1m(ml1m_root)
    assert set(raw.items["item_id"]) == {"1", "3"}  # item 2 has no poster
    (drop,) = raw.drops
    assert drop.items == 1 and drop.interactions == 6
    assert "La Cité des enfants perdus (1995)" in raw.items["text"].tolist()[1]
    data = load_dataset("movielens-1m", data_root=ml1m_root.parent, positive_threshold=None,
                        min_user_interactions=1)
    assert data.num_users == 6 and data.num_items == 2 and len(data.interactions) == 12


def test_ml1m_bad_row_names_file_and_line(ml1m_root):
    ratings = ml1m_root / "ml-1m" / "ratings.dat"
    lines = ratings.read_text(encoding="latin-1").splitlines()
    lines[4] = "5::2::five::978300000"
    ratings.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DatasetError, match=r"ratings\.dat: 1 bad line.*\n  line 5: column 'rating' is not one of 1, 2, 3, 4, 5: 'five'"):
        load_movielens_1m(ml1m_root)
    lines[4] = "5::2::4"
    ratings.write_text("\n".join(lines) + "\n", encoding="latin-1")
    with pytest.raises(DatasetError, match=r"ratings\.dat: 1 bad line.*\n  line 5: expected 4 fields"):
        load_movielens_1m(ml1m_root)


@pytest.fixture
def small_ml100k(tmp_path, movielens_root) -> Path:
    """A copy of the real ML-100K files (posters linked, not copied) that a test may damage."""
    root = tmp_path / "movielens-100k"
    (root / "ml-100k").mkdir(parents=True)
    for name in ("u.data", "u.item"):
        shutil.copy(movielens_root / "ml-100k" / name, root / "ml-100k" / name)
    (root / "posters").symlink_to(movielens_root / "posters")
    (root / "imdb").symlink_to(movielens_root / "imdb")
    return root


def test_bad_rating_row(small_ml100k):
    path = small_ml100k / "ml-100k" / "u.data"
    lines = path.read_text().splitlines()
    lines[9] = "196\t242\tthree\t881250949"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"u\.data: 1 bad line.*\n  line 10: column 'rating'"):
        load_movielens_100k(small_ml100k)


def test_rating_for_unknown_item_is_an_error(small_ml100k):
    path = small_ml100k / "ml-100k" / "u.data"
    with open(path, "a") as fh:
        fh.write("1\t99999\t5\t881250949\n")
    # An id missing from u.item must not vanish silently with the items that lack a poster.
    with pytest.raises(DatasetError, match=r"source row 100001\) names item_id '99999' that is not in the items"):
        load_dataset("movielens", data_root=small_ml100k.parent, use_cache=False)


def test_corrupt_poster_is_named(tmp_path, ml1m_root):
    (ml1m_root / "posters" / "3.jpg").write_bytes(b"not a jpeg at all")
    data = load_dataset("movielens-1m", data_root=ml1m_root.parent, positive_threshold=None,
                        min_user_interactions=1, use_cache=False)
    from dppmg.data import load_image_array

    with pytest.raises(DatasetError, match=r"cannot decode image .*3\.jpg \(item 3\)"):
        load_image_array(data, use_cache=False)


def test_build_poster_map_agrees_with_shipped_map(movielens_root):
    import pandas as pd

    rebuilt = build_poster_map(movielens_root / "ml-100k" / "u.item", movielens_root / "posters" / "movies.dat")
    shipped = pd.read_csv(movielens_root / "posters" / "ml100k_to_ml1m.csv", dtype=str)
    merged = shipped.merge(rebuilt, on="ml100k_id", suffixes=("_shipped", "_rebuilt"))
    agreement = float(np.mean(merged["ml1m_id_shipped"] == merged["ml1m_id_rebuilt"]))
    assert len(rebuilt) >= 0.97 * len(shipped)
    assert agreement >= 0.99


def test_poster_map_naming_an_unknown_item(tmp_path, movielens_root):
    root = tmp_path / "movielens-100k"
    (root / "ml-100k").mkdir(parents=True)
    for name in ("u.data", "u.item"):
        (root / "ml-100k" / name).symlink_to(movielens_root / "ml-100k" / name)
    (root / "posters").mkdir()
    mapping = (movielens_root / "posters" / "ml100k_to_ml1m.csv").read_text()
    (root / "posters" / "ml100k_to_ml1m.csv").write_text(mapping + "99999,1,Nothing (1999),Nothing (1999)\n")
    with pytest.raises(DatasetError, match=r"ml100k_to_ml1m\.csv, line 1668: ml100k_id '99999' is not in"):
        load_movielens_100k(root)


def test_missing_posters_folder_is_an_error_in_every_command(ml1m_root, capsys):
    """No poster folder: every command stops at processing, naming the missing folder (no table of
    zeros, no IndexError later)."""
    import shutil

    from dppmg.cli import main

    shutil.rmtree(ml1m_root / "posters")
    root = ["--dataset", "movielens-1m", "--data-root", str(ml1m_root.parent), "--preset", "smoke"]
    for command in (["data", "stats"], ["data", "features"], ["preference", "fit", "--method", "popularity"]):
        assert main([*command, *root]) == 2, command
        err = capsys.readouterr().err
        assert "the poster folder" in err and "posters does not exist" in err, command


def test_a_step_that_leaves_nothing_is_named(ml1m_root):
    from dppmg.errors import DatasetError

    with pytest.raises(DatasetError, match="no users or items are left after the processing step .*k-core"):
        load_dataset("movielens-1m", data_root=ml1m_root.parent, positive_threshold=None, min_user_interactions=50)


def test_id_hint_sorts_numerically(ml1m_root, capsys):
    from dppmg.cli import main

    # Users 2000, 635 and 1000: a string sort would show '1000' first.
    rows = [f"{u}::{i}::5::{978300000 + k}" for k, (u, i) in enumerate((u, i) for u in (2000, 635, 1000) for i in (1, 3))]
    (ml1m_root / "ml-1m" / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    assert main(["generate", "--dataset", "movielens-1m", "--data-root", str(ml1m_root.parent), "--users", "7",
                 "--out", str(ml1m_root.parent / "o")]) == 2
    assert "ids look like '635', '1000', '2000'" in capsys.readouterr().err
