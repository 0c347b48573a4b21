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
from dppmg.infra.io import atomic_path  # noqa: E402

SMOKE_BANNER = ("preset smoke: this checks that the code runs; its numbers mean nothing "
                "(tiny models, noise images, dppmg = dppmg-no-reward)")
SMOKE_NOTE = f"**{SMOKE_BANNER[0].upper() + SMOKE_BANNER[1:]}.**"


def _mentions_smoke(fig: "plt.Figure") -> bool:
    import re

    texts = [fig._suptitle.get_text() if fig._suptitle else ""]
    texts += [t.get_text() for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)]
    return any(re.search(r"\bsmoke\b", t) for t in texts)


def save_figure(fig: "plt.Figure", path: str | os.PathLike) -> Path:
    """Save atomically. A figure whose title names the ``smoke`` preset (every figure of a run
    says its preset there) gets the :data:`SMOKE_BANNER` under it."""
    path = Path(path)
    if _mentions_smoke(fig):
        fig.text(0.5, 0.0, SMOKE_BANNER, ha="center", va="top", fontsize=8, color="#b22222")
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
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 4.2 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), idx):
        item = data.items.iloc[int(i)]
        ax.imshow(open_rgb(item["image_path"], item["item_id"]))
        caption = textwrap.shorten(str(item["text"]), text_chars, placeholder="...")
        ax.set_title("\n".join(textwrap.wrap(caption, 26)), fontsize=7, loc="left")
    fig.suptitle(f"{data.name}: {len(idx)} random items (image and text)", fontsize=10)
    return save_figure(fig, path)


def timing_profile(timing, path: str | os.PathLike, title: str) -> Path:
    """One readable figure of a suite's timing table (:func:`benchmark.tables.timing_table`): a
    stacked bar per (stage, dataset, method), each segment a timed block (mean over seeds). A block
    with parts (``within``) is drawn as its parts plus ``<block>: rest``, so no second is drawn twice
    and the bar's length is the cell's wall time."""
    timing = leaf_blocks(timing)
    per_seed = timing.groupby(["stage", "dataset", "method", "seed", "block"], sort=False)["wall time (s)"].sum()
    mean = per_seed.groupby(level=["stage", "dataset", "method", "block"], sort=False).mean().unstack("block").fillna(0.0)
    seeds = timing.groupby(["stage", "dataset", "method"], sort=False)["seed"].nunique()
    labels = [" / ".join(x for x in (s, d, m) if x != "-") + (f" ({seeds[(s, d, m)]} seeds)" if seeds[(s, d, m)] > 1 else "")
              for s, d, m in mean.index]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(labels) + 1.8))
    left = np.zeros(len(mean))
    colours = plt.get_cmap("tab20").colors
    for k, block in enumerate(mean.columns):
        values = mean[block].to_numpy()
        ax.barh(labels, values, left=left, color=colours[k % len(colours)], label=block)
        left += values
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:.1f} s", va="center", fontsize=7)
    ax.set_xlabel("wall time per seed (s)")
    ax.set_title(title, fontsize=10)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="timed block", title_fontsize=7)
    return save_figure(fig, path)


def leaf_blocks(timing):
    """The timing table with each block that has parts replaced by ``<block>: rest`` (its time not
    covered by its parts, never negative); without a ``within`` column the table is returned as is."""
    import pandas as pd

    if "within" not in timing.columns:
        return timing
    keys = ["stage", "dataset", "method", "seed"]
    within = timing["within"].fillna("")
    parts = timing[within != ""].groupby(keys + ["within"], sort=False)["wall time (s)"].sum()
    rows = []
    for row in timing.to_dict("records"):
        key = tuple(row[k] for k in keys) + (row["block"],)
        if (row.get("within") or "") == "" and key in parts.index:
            row = {**row, "block": f"{row['block']}: rest",
                   "wall time (s)": max(0.0, row["wall time (s)"] - float(parts[key]))}
        rows.append(row)
    return pd.DataFrame(rows, columns=timing.columns)


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


def scaling_figure(table, fits, path: str | os.PathLike, title: str) -> Path:
    """Epoch time against training interactions per method (points and the fitted line
    ``t = a + b n``; :mod:`benchmark.scaling`), linear axes so a straight line means linear cost."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for k, (method, group) in enumerate(table.groupby("method", sort=False)):
        colour = f"C{k}"
        x, y = group["train interactions"].to_numpy(float), group["epoch seconds"].to_numpy(float)
        ax.plot(x, y, "o", color=colour)
        fit = fits[fits["method"] == method].iloc[0]
        xs = np.linspace(0, x.max() * 1.05, 50)
        ax.plot(xs, fit["intercept s"] + fit["seconds per 100k interactions"] * xs / 1e5, "-", color=colour,
                label=f"{method}: {fit['seconds per 100k interactions']:.2f} s / 100k, R² {fit['R2']:.3f}, "
                      f"log-log slope {fit['log-log slope']:.2f}")
    ax.set_xlabel("training interactions")
    ax.set_ylabel("seconds per epoch (median)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def short_id(user_id: object, keep: int = 8) -> str:
    """An id short enough for a caption: H&M's 64-character hashes become their first ``keep``
    characters and an ellipsis (unique enough to find the user again)."""
    text = str(user_id)
    return text if len(text) <= keep + 2 else text[:keep] + "…"


def generation_grid(results: Sequence[dict], path: str | os.PathLike, title: str, columns: int = 6) -> Path:
    """Generated image per user with the start of the generated text and the user id."""
    rows = int(np.ceil(len(results) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 4.2 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), results):
        ax.imshow(r["image"])
        caption = textwrap.shorten(f"user {short_id(r['user_id'])}: {r['text']}", 90, placeholder="...")
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


def methods_grid(rows: dict[str, Sequence[dict]], path: str | os.PathLike, title: str,
                 history: Sequence[Sequence[np.ndarray]] | None = None, history_items: int = 3) -> Path:
    """The same users (columns) across methods (rows): the first row is each user's most recent
    ``history_items`` training images side by side (when ``history`` is given), then per method its
    generated image with the start of its text. ``rows`` maps a method to its samples
    (``{"user_id", "text", "image"}``, the same users in the same order)."""
    first = next(iter(rows.values()))
    n_users = len(first)
    n_rows = len(rows) + (history is not None)
    # The history row holds history_items images side by side: a row 1/history_items as tall as a
    # generated image's. Constrained layout gives the title and captions the room they need.
    heights = ([0.15 + 1 / history_items] if history is not None else []) + [1.0] * len(rows)
    fig, axes = plt.subplots(n_rows, n_users, figsize=(1.5 * n_users + 1.2, 2.3 * sum(heights)), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": heights})
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    offset = 0
    if history is not None:
        for j, hist in enumerate(history):
            recent = list(hist)[-history_items:]
            if recent:
                axes[0, j].imshow(np.concatenate(recent, axis=1))
            axes[0, j].set_title(f"user {short_id(first[j]['user_id'])}", fontsize=6)
        axes[0, 0].set_ylabel("history", fontsize=8, rotation=0, ha="right", va="center")
        offset = 1
    for i, (method, samples) in enumerate(rows.items()):
        for j, s in enumerate(samples):
            ax = axes[i + offset, j]
            ax.imshow(s["image"])
            ax.set_xlabel("\n".join(textwrap.wrap(textwrap.shorten(str(s["text"]), 60, placeholder="..."), 22)),
                          fontsize=5)
        axes[i + offset, 0].set_ylabel(method, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)
