"""Atomic writes: an interrupted write leaves the previous file (or nothing) behind."""

from __future__ import annotations

import numpy as np
import pytest

from dppmg.infra.io import atomic_path, atomic_save_npy, atomic_write_json, stable_hash


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "cache" / "features.npy"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of it")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_interrupted_write_keeps_previous_version(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2')
            raise RuntimeError("disk full")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'


def test_atomic_npy_roundtrip(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic_save_npy(tmp_path / "a.npy", arr)
    assert np.array_equal(np.load(tmp_path / "a.npy"), arr)


def test_stable_hash_is_order_sensitive_and_stable():
    assert stable_hash({"a": 1, "b": 2}) == stable_hash({"b": 2, "a": 1})
    assert stable_hash([1, 2]) != stable_hash([2, 1])
    assert len(stable_hash("x", length=10)) == 10


def test_atomic_dir_keeps_previous_folder_on_failure(tmp_path):
    from dppmg.infra.io import atomic_dir

    target = tmp_path / "checkpoint"
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed")
    assert (target / "weights").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    with atomic_dir(target) as tmp:
        (tmp / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2"
