"""Image decoding and the preprocessed-image cache.

Every image goes through :func:`open_rgb`, so a missing or corrupt file fails with an error that
names the file and the item. :func:`load_image_array` returns all item images of a dataset at one
size as a ``uint8`` array ``(n_items, height, width, 3)``, cached on disk under a key of the images'
bytes and the preprocessing, so a second call only reads one ``.npy`` file.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from dppmg.data.schema import InteractionData
from dppmg.errors import DatasetError
from dppmg.infra.cache import report_rebuild
from dppmg.infra.io import atomic_save_npy, atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir

RESAMPLE = Image.Resampling.BICUBIC
IMAGE_CACHE_VERSION = 1


def open_rgb(path: str | os.PathLike, item_id: str | None = None) -> Image.Image:
    """Decode an image fully as RGB, or raise :class:`DatasetError` naming the file and item."""
    where = f"{path}" + (f" (item {item_id})" if item_id is not None else "")
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError as exc:
        raise DatasetError(f"image file missing: {where}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {where}: {exc}") from exc


def resize_rgb(img: Image.Image, width: int, height: int) -> np.ndarray:
    """Resize to exactly ``width`` x ``height`` (both real datasets are 2:3 portrait already)."""
    return np.asarray(img.resize((width, height), RESAMPLE), dtype=np.uint8)


def image_content_hash(paths: Sequence[str]) -> str:
    """Hash of the bytes of every image, in order: the cache key of anything computed from them."""
    h = hashlib.sha256()
    for p in paths:
        try:
            h.update(Path(p).read_bytes())
        except OSError as exc:
            raise DatasetError(f"image file unreadable: {p}: {exc}") from exc
        h.update(b"\x00")
    return h.hexdigest()[:16]


def decode_resized(paths: Sequence[str], item_ids: Sequence[str], width: int, height: int,
                   desc: str = "decoding images", num_threads: int = 2) -> np.ndarray:
    """Decode and resize images in a small thread pool (PIL releases the GIL while decoding)."""
    def work(pair: tuple[str, str]) -> np.ndarray:
        return resize_rgb(open_rgb(pair[0], pair[1]), width, height)

    out = np.empty((len(paths), height, width, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        for i, arr in enumerate(tqdm(pool.map(work, zip(paths, item_ids)), total=len(paths), desc=desc,
                                     leave=False, disable=len(paths) <= 256)):
            out[i] = arr
    return out


def load_image_array(data: InteractionData, width: int | None = None, height: int | None = None,
                     cache_dir: str | os.PathLike | None = None, use_cache: bool = True) -> np.ndarray:
    """All item images of ``data`` (in item index order) as ``uint8 (n, height, width, 3)``.

    Args:
        data: a processed dataset.
        width / height: target size; default the dataset config's (32 x 48).
        cache_dir: overrides ``DPPMG_CACHE_DIR``.
        use_cache: read/write the on-disk cache.
    """
    config = data.info.get("config") or {}
    width = width or config.get("image_width", 32)
    height = height or config.get("image_height", 48)
    paths = data.items["image_path"].tolist()
    if any(p is None for p in paths):
        missing = data.items.loc[data.items["image_path"].isna(), "item_id"].iloc[0]
        raise DatasetError(f"{data.name}: item {missing!r} has no image path")
    key = stable_hash(IMAGE_CACHE_VERSION, image_content_hash(paths), width, height, str(RESAMPLE))
    cache_file = resolve_cache_dir(cache_dir) / "images" / f"{data.name}-{width}x{height}-{key}.npy"
    if use_cache and cache_file.is_file():
        try:
            arr = np.load(cache_file, allow_pickle=False)
            if arr.shape == (len(paths), height, width, 3):
                return arr
            report_rebuild("image array", cache_file, f"shape {arr.shape} is not {(len(paths), height, width, 3)}")
        except (ValueError, OSError, EOFError) as exc:
            report_rebuild("image array", cache_file, f"unreadable ({type(exc).__name__})")
    arr = decode_resized(paths, data.items["item_id"].tolist(), width, height,
                         desc=f"{data.name}: images to {width}x{height}")
    if use_cache:
        atomic_save_npy(cache_file, arr)
    return arr


DECODE_CHECK_VERSION = 1


def undecodable_images(paths: Sequence[str | os.PathLike], cache_dir: str | os.PathLike | None = None
                       ) -> list[tuple[str, str]]:
    """Each of ``paths`` whose image cannot be decoded in full (a truncated or corrupt file), with
    the reason. Each file is decoded once per (size, modification time): the verdicts are cached
    (``images/decodable-v1.json``), so a second ``data stats`` costs a stat per file."""
    import json


    store = resolve_cache_dir(cache_dir) / "images" / f"decodable-v{DECODE_CHECK_VERSION}.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    except (OSError, ValueError):
        known = {}
    bad, changed = [], False
    for path in map(str, paths):
        try:
            stat = os.stat(path)
        except OSError as exc:
            bad.append((path, f"cannot be read ({exc.strerror})"))
            continue
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = known.get(path)
        if entry is None or entry[:2] != stamp:
            entry = stamp + [_decode_problem(path)]
            known[path], changed = entry, True
        if entry[2] is not None:
            bad.append((path, entry[2]))
    if changed:
        atomic_write_json(store, known)
    return bad


def _decode_problem(path: str) -> str | None:
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
