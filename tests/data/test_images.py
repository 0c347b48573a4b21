"""The preprocessed-image cache and image errors."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.data import images as images_mod, load_image_array
from dppmg.errors import DatasetError


def test_image_array_shape_and_cache(smoke_synthetic, tmp_path, monkeypatch):
    arr = load_image_array(smoke_synthetic, cache_dir=tmp_path)
    assert arr.shape == (smoke_synthetic.num_items, 48, 32, 3) and arr.dtype == np.uint8
    assert list((tmp_path / "images").glob("*.npy"))

    def boom(*a, **k):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(images_mod, "decode_resized", boom)
    again = load_image_array(smoke_synthetic, cache_dir=tmp_path)
    assert np.array_equal(arr, again)


def test_other_size_is_another_cache_entry(smoke_synthetic, tmp_path):
    a = load_image_array(smoke_synthetic, 16, 24, cache_dir=tmp_path)
    assert a.shape[1:] == (24, 16, 3)
    assert len(list((tmp_path / "images").glob("*.npy"))) == 1


def test_missing_image_file_is_named(smoke_synthetic, tmp_path):
    items = smoke_synthetic.items.copy()
    items.loc[0, "image_path"] = str(tmp_path / "gone.png")
    with pytest.raises(DatasetError, match=r"gone\.png"):
        load_image_array(smoke_synthetic.replace(items=items), use_cache=False)


def test_corrupt_image_is_named(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DatasetError, match=r"cannot decode image .*bad\.jpg \(item x1\)"):
        images_mod.open_rgb(bad, "x1")
