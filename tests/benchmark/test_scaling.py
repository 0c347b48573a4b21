"""The Stage 1 scaling benchmark and its self-built ML-1M-format fixture (timings are never asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.fixtures import choose_items, draw_histories, real_movies, write_movielens_1m_format
from benchmark.scaling import linear_fit, run_scaling, subsample_train
from dppmg.data import load_dataset
from dppmg.errors import ConfigError, DPPMGError

TINY = {"num_users": 40, "num_items": 60, "median_history": 10, "min_history": 8, "max_history": 12}


def test_fixture_is_read_by_the_movielens_1m_loader(tmp_path, movielens_root):
    root = write_movielens_1m_format(tmp_path / "root", source_root=movielens_root.parent, progress=False, **TINY)
    data = load_dataset("movielens-1m", preset="small", data_root=root, use_cache=False)
    assert data.num_users == 40 and 50 <= data.num_items <= 60  # an item nobody drew is dropped
    assert 40 * 8 <= len(data.interactions) <= 40 * 12  # every rating is >= 4: nothing is dropped
    real = real_movies(movielens_root.parent).set_index("ml1m_id")
    ids = data.items["item_id"].astype(int)
    assert real.loc[ids, "poster"].notna().all()  # enough movies with their own poster for 60 items
    assert (data.items["genres"].to_numpy() == real.loc[ids, "genres"].to_numpy()).all()
    ratings = (root / "movielens-1m" / "ml-1m" / "ratings.dat").stat().st_mtime_ns
    write_movielens_1m_format(tmp_path / "root", source_root=movielens_root.parent, progress=False, **TINY)
    assert (root / "movielens-1m" / "ml-1m" / "ratings.dat").stat().st_mtime_ns == ratings  # written once


def test_fixture_has_a_long_tail_and_genre_preferences(movielens_root):
    """What makes Stage 1 train on it as on real data: popular items dominate, and a user's
    history concentrates on a few genres (more than the catalogue's own genre mix)."""
    rng = np.random.default_rng(0)
    items = choose_items(real_movies(movielens_root.parent), 600, rng)
    histories = draw_histories(items, 300, 30, 10, 200, rng)
    counts = np.bincount(np.concatenate(histories), minlength=len(items))
    top = np.sort(counts)[::-1]
    assert top[:60].sum() > 0.25 * counts.sum()  # the top 10% of items hold far more than 10%
    first = items["genres"].str.split("|").str[0].to_numpy()
    catalogue = max(np.mean(first == g) for g in set(first))
    favourite = np.mean([max(np.mean(first[h] == g) for g in set(first[h])) for h in histories])
    assert favourite > catalogue + 0.1


def test_fixture_without_the_real_movies_is_named(tmp_path):
    with pytest.raises(DPPMGError, match="draws its items from .*movies.dat"):
        write_movielens_1m_format(tmp_path / "root", source_root=tmp_path, progress=False, **TINY)


def test_subsample_keeps_a_fraction_of_training_only(tmp_path, movielens_root):
    root = write_movielens_1m_format(tmp_path / "root", source_root=movielens_root.parent, progress=False, **TINY)
    data = load_dataset("movielens-1m", preset="small", data_root=root, use_cache=False)
    half = subsample_train(data, 0.5)
    n = {s: len(data.split_frame(s)) for s in ("train", "valid", "test")}
    assert len(half.split_frame("train")) == round(n["train"] * 0.5)
    assert len(half.split_frame("valid")) == n["valid"] and len(half.split_frame("test")) == n["test"]


def test_linear_fit_tells_linear_from_quadratic():
    x = np.array([1e4, 4e4, 1e5, 2e5, 4e5])
    linear, quadratic = linear_fit(x, 0.2 + 1e-5 * x), linear_fit(x, 1e-10 * x ** 2)
    assert linear["R2"] == pytest.approx(1.0) and linear["seconds per 100k interactions"] == pytest.approx(1.0)
    assert linear["log-log slope"] < 1.0 and quadratic["log-log slope"] == pytest.approx(2.0)


def test_scaling_writes_its_table_figure_and_result_files(tmp_path, movielens_root):
    empty = tmp_path / "no-real-data"
    empty.mkdir()
    written = run_scaling("smoke", methods=("mf-bpr",), epochs=1, data_root=empty, fixture_root=tmp_path / "fx",
                          results_dir=tmp_path / "results", progress=False, fixture_size=TINY,
                          fixture_source=movielens_root.parent)
    table = (tmp_path / "results" / "smoke" / "scaling_stage1.csv").read_text().splitlines()
    assert table[0].startswith("data,method,train interactions")
    assert [row.split(",")[0] for row in table[1:]] == ["synthetic", "ml-1m-size fixture (25%)",
                                                        "ml-1m-size fixture (50%)", "ml-1m-size fixture (100%)"]
    assert written["figure"].is_file() and written["scaling_stage1_fit"].is_file()
    runs = sorted((tmp_path / "results" / "runs" / "smoke" / "scaling").glob("*.json"))
    assert len(runs) == 4
    record = json.loads(runs[0].read_text())
    assert {"config", "seed", "git_sha", "git_dirty", "packages", "device", "wall_time_s", "peak_rss_mb"} <= set(
        record["provenance"])
    m = record["metrics"]
    assert m["steps per epoch"] * m["batch size"] >= m["train interactions"] > (m["steps per epoch"] - 1) * m["batch size"]
    with pytest.raises(ConfigError, match="popularity is not a trained Stage 1 method"):
        run_scaling("smoke", methods=("popularity",), results_dir=tmp_path / "results", progress=False)


def test_full_fits_train_every_method_to_the_end_and_say_the_threads_and_load(tmp_path, movielens_root):
    from benchmark.scaling import run_full_fits

    written = run_full_fits("smoke", methods=("popularity", "mf-bpr"), data_root=movielens_root.parent,
                            fixture_root=tmp_path / "fx", results_dir=tmp_path / "results", progress=False,
                            fixture_size=TINY)
    table = written["scaling_stage1_full"].with_suffix(".csv").read_text().splitlines()
    assert table[0] == ("method,seconds,epochs run,best epoch,valid recall@20,threads,load average before,"
                        "within target")
    assert [row.split(",")[0] for row in table[1:]] == ["popularity", "mf-bpr"]
    record = json.loads((tmp_path / "results" / "runs" / "smoke" / "scaling" / "full_fit__mf-bpr.json").read_text())
    assert record["dataset"] == "movielens-1m" and record["metrics"]["history"]
