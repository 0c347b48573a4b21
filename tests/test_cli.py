"""The ``dppmg`` command line."""

from __future__ import annotations

import json
import socket

import pytest

from dppmg.cli import main


def test_stats_json_synthetic(capsys):
    assert main(["data", "stats", "--dataset", "synthetic", "--preset", "smoke", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["dataset"] == "synthetic" and stats["users"] == 120
    assert sum(stats["split_interactions"].values()) == stats["interactions"]


def test_stats_table_movielens(data_root, capsys):
    assert main(["data", "stats", "--dataset", "movielens", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "| joined (items with image and text) |     943 |    1666 |          99822 |" in out
    assert "no poster image" in out


def test_stats_hm_reports_raw_and_kcore(data_root, capsys):
    assert main(["data", "stats", "--dataset", "hm", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["stages"][0]["users"] == 1364 and stats["stages"][0]["items"] == 17033
    assert (stats["users"], stats["items"], stats["interactions"]) == (705, 4965, 14223)


def test_missing_data_root_is_named(tmp_path, capsys):
    assert main(["data", "stats", "--dataset", "hm", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_dataset_missing_under_root(tmp_path, capsys):
    assert main(["data", "stats", "--dataset", "movielens", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "movielens-100k does not exist" in err and "dppmg data download" in err


def test_unknown_dataset_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["data", "stats", "--dataset", "imdb"])
    assert "invalid choice: 'imdb'" in capsys.readouterr().err


def test_download_offline_fails_fast(tmp_path, monkeypatch, capsys):
    def unreachable(*a, **k):
        raise OSError("Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    assert main(["data", "download", "--dataset", "movielens", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach files.grouplens.org" in err and "offline" in err
    assert not any(tmp_path.rglob("*.data"))


def test_download_hm_prints_kaggle_steps(capsys):
    assert main(["data", "download", "--dataset", "hm"]) == 0
    assert "kaggle competitions download -c h-and-m-personalized-fashion-recommendations" in capsys.readouterr().out


def test_features_command(capsys, monkeypatch):
    assert main(["data", "features", "--dataset", "synthetic", "--preset", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "synthetic text: 240 items x 384 dims" in out and "synthetic image: 240 items x 1280 dims" in out
