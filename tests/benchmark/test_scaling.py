"""The Stage 1 scaling benchmark and its self-built ML-1M-format fixture (timings are never asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.fixtures import write_movielens_1m_format
from benchmark.scaling import linear_fit, run_scaling, subsample_train
from dppmg.data import load_dataset
from dppmg.errors import ConfigError

TINY = {"num_users": 40, "num_items": 60, "min_history": 8, "max_history": 12}


def test_fixture_is_read_by_the_movielens_1m_loader(tmp_path):
    root = write_movielens_1m_format(tmp_path / "root", progress=False, **TINY)
    data = load_dataset("movielens-1m", preset="small", data_root=root, use_cache=False)
    assert data.num_users == 40 and data.num_items == 60
    assert 40 * 8 <= len(data.interactions) <= 40 * 12  # every rating is >= 4: nothing is dropped
    assert data.items["text"].str.contains("Vintage|Sporty|Elegant|Playful|Minimalist|Rugged").all()
    ratings = (root / "movielens-1m" / "ml-1m" / "ratings.dat").stat().st_mtime_ns
    write_movielens_1m_format(tmp_path / "root", progress=False, **TINY)  # written once
    assert (root / "movielens-1m" / "ml-1m" / "ratings.dat").stat().st_mtime_ns == ratings


def test_subsample_keeps_a_fraction_of_training_only(tmp_path):
    root = write_movielens_1m_format(tmp_path / "root", progress=False, **TINY)
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


def test_scaling_writes_its_table_figure_and_result_files(tmp_path):
    empty = tmp_path / "no-real-data"
    empty.mkdir()
    written = run_scaling("smoke", methods=("mf-bpr",), epochs=1, data_root=empty, fixture_root=tmp_path / "fx",
                          results_dir=tmp_path / "results", progress=False, fixture_size=TINY)
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
