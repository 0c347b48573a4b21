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
        fh.write("2020-09-22," + "ab" * 32 + ",0999999999,0.01,2\n")
    with pytest.raises(DatasetError, match=r"source row 31664\) names item_id '0999999999'"):
        load_dataset("hm", data_root=hm_copy.parent, use_cache=False)


def test_bad_date_names_line(hm_copy):
    path = hm_copy / "transactions_train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("2018-09-20", "20/09/2018", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"transactions_train\.csv: 1 bad line.*\n  line 4: column 't_dat' is not a "
                                           r"YYYY-MM-DD date: '20/09/2018'"):
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


def test_builder_round_trips_the_sample(hm_root, tmp_path):
    """The sample as a Kaggle-format input gives back identical files."""
    import filecmp

    from dppmg.data.build import build_hm_sample, sample_customer_ids

    assert len(sample_customer_ids()) == 1364
    out = tmp_path / "hm-sample"
    counts = build_hm_sample(hm_root, out, progress=False)
    assert counts == {"customers": 1364, "purchases": 31662, "articles": 17033, "images": 17033,
                      "articles_without_image": 0}
    for name in ("transactions_train.csv", "customers.csv", "articles.csv"):
        assert filecmp.cmp(hm_root / name, out / name, shallow=False), name
    built = sorted(p.relative_to(out) for p in (out / "images").rglob("*.jpg"))
    assert built == sorted(p.relative_to(hm_root) for p in (hm_root / "images").rglob("*.jpg"))
    for rel in built[::500]:
        assert filecmp.cmp(hm_root / rel, out / rel, shallow=False), rel


def test_builder_downscales_large_photos_and_names_bad_input(tmp_path):
    from PIL import Image

    from dppmg.data.build import build_hm_sample
    from dppmg.errors import DatasetError

    kaggle = tmp_path / "kaggle"
    (kaggle / "images" / "010").mkdir(parents=True)
    (kaggle / "transactions_train.csv").write_text(
        "t_dat,customer_id,article_id,price,sales_channel_id\n2019-01-01,a,0108775015,0.01,2\n2019-01-02,b,0108775044,0.02,1\n")
    (kaggle / "customers.csv").write_text("customer_id,age\na,30\nb,40\n")
    (kaggle / "articles.csv").write_text("article_id,prod_name\n0108775015,Strap top\n0108775044,Other\n")
    Image.new("RGB", (1166, 1750), (200, 10, 10)).save(kaggle / "images" / "010" / "0108775015.jpg")
    counts = build_hm_sample(kaggle, tmp_path / "out", customer_ids=["a"], progress=False)
    assert counts["purchases"] == 1 and counts["articles"] == 1 and counts["images"] == 1
    with Image.open(tmp_path / "out" / "images" / "010" / "0108775015.jpg") as im:
        assert im.size == (120, 180) and im.mode == "RGB"
    from dppmg.cli import main

    (tmp_path / "ids.txt").write_text("# one id\nb\n")
    assert main(["data", "build", "--dataset", "hm", "--kaggle-dir", str(kaggle), "--out", str(tmp_path / "cli"),
                 "--customers", str(tmp_path / "ids.txt")]) == 0
    assert (tmp_path / "cli" / "articles.csv").read_text() == "article_id,prod_name\n0108775044,Other\n"
    with pytest.raises(DatasetError, match="no purchase of the sample"):
        build_hm_sample(kaggle, tmp_path / "out2", customer_ids=["zzz"], progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        build_hm_sample(tmp_path / "nowhere", tmp_path / "out3", progress=False)
