"""Strict source parsing (dppmg.data.strict): no corrupt row ever becomes another user's data,
every bad line is reported in one run, and --lenient skips and counts them."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from dppmg.cli import main
from dppmg.data.movielens import _read_ratings
from dppmg.errors import DatasetError


def _jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 60), (30, 90, 200)).save(path, format="JPEG")


@pytest.fixture
def ml1m(tmp_path) -> Path:
    """An ML-1M-format folder: 12 users x 3 movies, every movie with a poster."""
    root = tmp_path / "movielens-1m"
    (root / "ml-1m").mkdir(parents=True)
    (root / "ml-1m" / "movies.dat").write_text(
        "1::Toy Story (1995)::Animation\n2::Jumanji (1995)::Adventure\n3::Heat (1995)::Action\n", encoding="latin-1")
    rows = [f"{u}::{item}::{4 + (u + item) % 2}::{978300000 + 10 * u + item}" for u in range(1, 13) for item in (1, 2, 3)]
    (root / "ml-1m" / "ratings.dat").write_text("\n".join(rows) + "\n", encoding="latin-1")
    for item in (1, 2, 3):
        _jpeg(root / "posters" / f"{item}.jpg")
    return root


def _stats(root: Path, *extra: str) -> int:
    return main(["data", "stats", "--dataset", "movielens-1m", "--data-root", str(root.parent), "--min-user", "1",
                 "--cache-dir", str(root.parent / "cache"), *extra])


CORRUPTIONS = {  # the bad copies of a real ML-1M file: each must be named, none read as another id
    "1e3::1::5::978300000": "column 'user_id' is not an id (plain digits): '1e3'",
    " 7::1::5::978300000": "column 'user_id' is not an id (plain digits): ' 7'",
    "-1::2::4::978300000": "column 'user_id' is not an id (plain digits): '-1'",
    "3::1::4.5::978300000": "column 'rating' is not one of 1, 2, 3, 4, 5: '4.5'",
    "3::2::4::97830e3": "column 'timestamp' is not a timestamp (whole seconds): '97830e3'",
    "": "empty line",
}


def test_every_bad_line_is_named_in_one_run_and_lenient_skips_and_counts_them(ml1m, capsys):
    path = ml1m / "ml-1m" / "ratings.dat"
    good = path.read_text(encoding="latin-1").splitlines()
    lines = good[:4] + list(CORRUPTIONS) + good[4:] + [f"{u}::3::x::1" for u in range(20)]
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    assert _stats(ml1m) == 2
    err = capsys.readouterr().err
    assert "26 bad line(s)" in err and "... and 6 more bad line(s)" in err
    for k, reason in enumerate(CORRUPTIONS.values()):
        assert f"line {5 + k}: {reason}" in err
    assert not (ml1m.parent / "cache" / "processed").exists() or not list((ml1m.parent / "cache" / "processed").iterdir())

    assert _stats(ml1m, "--json", "--lenient") == 0
    import json

    stats = json.loads(capsys.readouterr().out)
    (parse,) = [d for d in stats["dropped"] if d["step"] == "parse"]
    assert parse["interactions"] == 26
    assert stats["stages"][0]["interactions"] == len(good)  # only the good rows were read
    assert stats["users"] == 12  # no '1000', no '7' from ' 7', no '-1'


@st.composite
def rating_files(draw):
    """Good rating rows with random corruptions on random lines: (text, {line: corrupted})."""
    n = draw(st.integers(3, 40))
    rows = [f"{draw(st.integers(1, 999))}\t{draw(st.integers(1, 99))}\t{draw(st.integers(1, 5))}\t"
            f"{draw(st.integers(0, 2_000_000_000))}" for _ in range(n)]
    bad = {}
    for index in draw(st.sets(st.integers(0, n - 1), max_size=n)):
        fields = rows[index].split("\t")
        column = draw(st.integers(0, 3))
        junk = draw(st.one_of(
            st.sampled_from(["", " ", "1e3", "-1", "+4", "4.5", "0x1F", "NaN", " 7", "7 ", "٣", "1,000", "五"]),
            st.text(alphabet=string.printable.replace("\t", "").replace("\n", "").replace("\r", "")
                    .replace("\x0b", "").replace("\x0c", ""), min_size=1, max_size=6)
            .filter(lambda t: not t.isascii() or not t.isdigit())))
        kind = draw(st.sampled_from(["field", "drop a field", "add a field", "blank"]))
        if kind == "field":
            fields[column] = junk
            if column == 2 and junk in ("1", "2", "3", "4", "5"):
                continue
        elif kind == "drop a field":
            fields = fields[:3]
        elif kind == "add a field":
            fields = fields + [junk]
        else:
            fields = []
        rows[index] = "\t".join(fields)
        bad[index + 1] = rows[index]
    return "\n".join(rows) + "\n", bad


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rating_files())
def test_no_corrupted_row_reaches_the_interactions_and_every_one_is_reported(tmp_path, generated):
    text, bad = generated
    path = tmp_path / "u.data"
    path.write_text(text, encoding="utf-8")  # read as latin-1: a non-ASCII digit is never a digit there
    good_lines = [k + 1 for k, row in enumerate(text.splitlines()) if k + 1 not in bad]
    if bad:
        with pytest.raises(DatasetError) as info:
            _read_ratings(path, "\t")
        message = str(info.value)
        assert f"{len(bad):,} bad line(s)" in message
        for line in sorted(bad)[:20]:
            assert f"line {line}:" in message
    frame, skipped = _read_ratings(path, "\t", lenient=True)
    assert skipped == len(bad)
    assert frame["source_row"].tolist() == good_lines
    rows = text.splitlines()
    for line, user, item, rating in zip(frame["source_row"], frame["user_id"], frame["item_id"], frame["rating"]):
        fields = rows[line - 1].split("\t")
        assert (user, item) == (str(int(fields[0])), str(int(fields[1]))) and rating == float(fields[2])


def test_an_undecodable_poster_is_listed_by_data_stats(ml1m, capsys):
    poster = ml1m / "posters" / "2.jpg"
    poster.write_bytes(poster.read_bytes()[:100])
    assert _stats(ml1m) == 2
    err = capsys.readouterr().err
    assert "1 of the counted images cannot be decoded" in err and "2.jpg" in err
    assert _stats(ml1m, "--lenient") == 0


def test_a_missing_photo_folder_is_named_as_missing(tmp_path):
    from dppmg.data.hm import load_hm

    root = tmp_path / "hm-sample"
    root.mkdir()
    (root / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id\n2018-09-20," + "a" * 64 + ",0108775015,0.01,2\n")
    (root / "articles.csv").write_text("article_id,prod_name,product_type_name,colour_group_name,"
                                       "graphical_appearance_name,detail_desc\n0108775015,Strap top,Vest top,Black,"
                                       "Solid,Jersey top\n")
    with pytest.raises(DatasetError, match=r"the photo folder .*images does not exist"):
        load_hm(root)


def test_hm_transactions_report_every_bad_id_and_date(tmp_path):
    from dppmg.data.hm import read_transactions

    rows = ["t_dat,customer_id,article_id,price,sales_channel_id",
            "2018-09-20," + "a" * 64 + ",0108775015,0.01,2",
            "2018-02-30," + "b" * 64 + ",0108775015,0.01,2",
            "2018-09-21," + "C" * 64 + ",0108775015,0.01,2",
            "2018-09-21," + "c" * 64 + ",108775015,0.01,2"]
    path = tmp_path / "transactions_train.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as info:
        read_transactions(path)
    message = str(info.value)
    assert "3 bad line(s)" in message
    assert "line 3: column 't_dat' is not a YYYY-MM-DD date: '2018-02-30'" in message
    assert "line 4: column 'customer_id'" in message and "line 5: column 'article_id'" in message
    frame, skipped = read_transactions(path, lenient=True)
    assert skipped == 3 and frame["line"].tolist() == [2]


def test_a_user_cut_by_the_smoke_copy_is_told_so(movielens_root, session_cache):
    from dppmg.data import load_dataset
    from dppmg.data.datasets import explain_unknown_users

    smoke = load_dataset("movielens", preset="smoke", data_root=movielens_root.parent, cache_dir=session_cache)
    full = load_dataset("movielens", preset="small", data_root=movielens_root.parent, cache_dir=session_cache)
    cut = sorted(set(full.users["user_id"]) - set(smoke.users["user_id"]), key=int)[0]
    why = explain_unknown_users([cut, "99999"], "movielens", "smoke", movielens_root.parent)
    assert why[cut].startswith("cut by the 'smoke' preset's small copy") and "'small'" in why[cut]
    assert why["99999"] == "not in the source files"


def test_generate_out_that_is_a_file_says_so(tmp_path, capsys):
    out = tmp_path / "file.txt"
    out.write_text("x")
    assert main(["generate", "--dataset", "synthetic", "--preset", "smoke", "--users", "u00000", "--out", str(out)]) == 2
    assert "is a file: generate writes a folder" in capsys.readouterr().err
