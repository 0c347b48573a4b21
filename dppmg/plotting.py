"""Figures saved by the stages: item sample grids and timing bar charts (matplotlib, Agg)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dppmg.data.images import open_rgb  # noqa: E402
from dppmg.data.schema import InteractionData  # noqa: E402
from dppmg.io import atomic_path  # noqa: E402


def save_figure(fig: "plt.Figure", path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def item_grid(data: InteractionData, path: str | os.PathLike, n: int = 12, seed: int = 0,
              columns: int = 6, text_chars: int = 90) -> Path:
    """A grid of ``n`` random items: image with the start of its text underneath."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(data.num_items, size=min(n, data.num_items), replace=False))
    rows = int(np.ceil(len(idx) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), idx):
        item = data.items.iloc[int(i)]
        ax.imshow(open_rgb(item["image_path"], item["item_id"]))
        caption = textwrap.shorten(str(item["text"]), text_chars, placeholder="...")
        ax.set_title("\n".join(textwrap.wrap(caption, 26)), fontsize=7, loc="left")
    fig.suptitle(f"{data.name}: {len(idx)} random items (image and text)", fontsize=10)
    return save_figure(fig, path)


def timing_bars(labels: Sequence[str], seconds: Sequence[float], path: str | os.PathLike, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.2))
    ax.barh(list(labels), list(seconds), color="#4c72b0")
    ax.set_xlabel("wall time (s)")
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()
    for y, s in enumerate(seconds):
        ax.text(s, y, f" {s:.2f}", va="center", fontsize=8)
    return save_figure(fig, path)


def training_curves(history: list[dict], path: str | os.PathLike, title: str) -> Path:
    """Loss and validation Recall/NDCG@20 per evaluated epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_rank) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(epochs, [h["loss"] for h in history], color="#4c72b0")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    for key, colour in (("valid_recall@20", "#dd8452"), ("valid_ndcg@20", "#55a868")):
        ax_rank.plot(epochs, [h[key] for h in history], label=key.replace("valid_", ""), color=colour)
    ax_rank.set_xlabel("epoch")
    ax_rank.set_ylabel("validation")
    ax_rank.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def generation_grid(results: Sequence[dict], path: str | os.PathLike, title: str, columns: int = 6) -> Path:
    """Generated image per user with the start of the generated text and the user id."""
    rows = int(np.ceil(len(results) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), results):
        ax.imshow(r["image"])
        caption = textwrap.shorten(f"user {r['user_id']}: {r['text']}", 90, placeholder="...")
        ax.set_title("\n".join(textwrap.wrap(caption, 26)), fontsize=7, loc="left")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def generated_vs_real_grid(real: np.ndarray, generated: np.ndarray, texts: Sequence[str], path: str | os.PathLike,
                           title: str) -> Path:
    """Two rows per block: real catalogue images and images generated from the same item texts."""
    n = len(real)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 5.2), squeeze=False)
    for j in range(n):
        for row, imgs, label in ((0, real, "real"), (1, generated, "generated")):
            ax = axes[row, j]
            ax.imshow(imgs[j])
            ax.axis("off")
            if j == 0:
                ax.set_title(label, fontsize=8, loc="left")
        axes[0, j].text(0, -0.08, textwrap.shorten(str(texts[j]), 40, placeholder="..."), fontsize=5,
                        transform=axes[0, j].transAxes, va="top")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def history_vs_generated_grid(history_images: Sequence[np.ndarray], results: Sequence[dict], path: str | os.PathLike,
                              title: str) -> Path:
    """One row per user: some of their training-history images, then the generated image and text."""
    n_hist = max((len(h) for h in history_images), default=0)
    fig, axes = plt.subplots(len(results), n_hist + 2, figsize=(1.3 * (n_hist + 2) + 2.5, 2.0 * len(results)),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * (n_hist + 1) + [3]})
    for ax in axes.ravel():
        ax.axis("off")
    for row, (hist, r) in enumerate(zip(history_images, results)):
        for j, img in enumerate(hist):
            axes[row, j].imshow(img)
        axes[row, n_hist].imshow(r["image"])
        axes[row, n_hist].set_title("generated", fontsize=7)
        text = textwrap.shorten(f"user {r['user_id']}: {r['text']}", 220, placeholder="...")
        axes[row, n_hist + 1].text(0, 0.5, "\n".join(textwrap.wrap(text, 48)), fontsize=6, va="center")
        if row == 0:
            axes[row, 0].set_title("history", fontsize=7, loc="left")
    fig.suptitle(title, fontsize=10)
    # Without it the suptitle sits above a tall empty band (the figure is as tall as its rows).
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return save_figure(fig, path)


def loss_curves(series: dict[str, Sequence[float]], path: str | os.PathLike, title: str, smooth: int = 10) -> Path:
    """One panel per named loss (or reward) series, raw and as a running mean of ``smooth`` steps."""
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.0), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        values = np.asarray(values, dtype=float)
        ax.plot(values, color="#c0c0c0", linewidth=0.8)
        if len(values) >= smooth:
            ax.plot(np.arange(smooth - 1, len(values)), np.convolve(values, np.ones(smooth) / smooth, mode="valid"),
                    color="#4c72b0")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
