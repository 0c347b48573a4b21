"""H&M loader: the real sample against the data README's numbers, and bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dppmg.data import dataset_statistics, load_dataset
from dppmg.data.hm import article_text, load_hm
from dppmg.errors import DatasetError


def test_real_hm_raw_and_default_kcore(hm_root, data_root, session_cache):
    raw = load_hm(hm_root)
    assert raw.stages[0].users == 1364 and raw.stages[0].items == 17_033
    assert len(raw.interactions) == 31_662
    assert raw.items["item_id"].str.fullmatch(r"0\d{9}").all()  # leading zero kept
    data = load_dataset("hm", data_root=data_root, cache_dir=session_cache)
    stats = dataset_statistics(data)
    dedup = [s for s in stats["stages"] if s["step"] == "deduplicated"][0]
    assert dedup["interactions"] == 27_443
    assert (data.num_users, data.num_items, len(data.interactions)) == (705, 4965, 14_223)
    assert stats["items_with_description"] == 1604
    assert not data.has_ratings


def test_article_text_uses_product_fields():
    row = {"prod_name": "Strap top", "product_type_name": "Vest top", "colour_group_name": "Black",
           "graphical_appearance_name": "Solid", "detail_desc": "Jersey top with narrow straps."}
    assert article_text(row) == "Strap top. Vest top, Black, Solid. Jersey top with narrow straps."
    assert article_text({**row, "detail_desc": ""}) == "Strap top. Vest top, Black, Solid."


@pytest.fixture
def hm_copy(tmp_path, hm_root) -> Path:
    """The real sample with its tables copied (images linked) so a test may damage them."""
    root = tmp_path / "hm-sample"
    root.mkdir()
    for name in ("transactions_train.csv", "articles.csv"):
        shutil.copy(hm_root / name, root / name)
    (root / "images").symlink_to(hm_root / "images")
    return root


def test_unknown_article_in_transactions(hm_copy):
    with open(hm_copy / "transactions_train.csv", "a") as fh:
        fh.write("2020-09-22,abc,0999999999,0.01,2\n")
    with pytest.raises(DatasetError, match=r"source row 31664\) names item_id '0999999999'"):
        load_dataset("hm", data_root=hm_copy.parent, use_cache=False)


def test_bad_date_names_line(hm_copy):
    path = hm_copy / "transactions_train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("2018-09-20", "20/09/2018", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"transactions_train\.csv, line 4: t_dat '20/09/2018'"):
        load_hm(hm_copy)


def test_missing_photo_is_skipped_and_counted(hm_copy, tmp_path):
    images = tmp_path / "images_partial"
    shutil.copytree(hm_copy / "images" / "010", images / "010")
    (hm_copy / "images").unlink()
    (hm_copy / "images").symlink_to(images)
    raw = load_hm(hm_copy)
    (drop,) = [d for d in raw.drops if d.step == "join_images"]
    assert drop.items == 17_033 - len(list(images.rglob("*.jpg")))
    assert raw.items["image_path"].str.contains("/010/").all()
