"""The sensitivity tables and their line plots, from the results of the ``sensitivity`` stage.

* ``sensitivity.md`` — per dataset and codebook (K, L): the ranking kept after quantization
  (quantized test Recall@20 and its ratio to the unquantized), the collision rate and the
  codebook utilisation, mean ± std over seeds (:mod:`dppmg.experiments.sensitivity_preference`);
* ``sensitivity_generation.md`` — per dataset and point of the one-at-a-time sweep (K at the
  preset's L, then L at the preset's K): the generated items' validation personalization per
  modality, the evaluator's consistency and, on the synthetic world, the true-attribute accuracy
  (:mod:`dppmg.experiments.sensitivity_generation`);
* ``figures/sensitivity_<dataset>.png`` — both as line plots with error bars (std over seeds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.formatting import mean_std

CODEBOOK_COLUMNS = ("quantized test recall@20", "recall kept (test)", "collision rate", "utilisation")
GENERATION_COLUMNS = ("image personalization (targets)", "text personalization (targets)",
                      "image identification AUC (targets)", "text identification AUC (targets)",
                      "consistency (evaluator)", "true colour acc.", "true style acc.")


def _points(results: list[dict[str, Any]], group: str) -> pd.DataFrame:
    rows = [{"dataset": r["dataset"], "seed": r["seed"], **{k: v for k, v in p.items() if k != "branches"}}
            for r in results if r["method"] == group for p in r["metrics"]["points"]]
    return pd.DataFrame(rows)


def _summary(points: pd.DataFrame, keys: list[str], columns: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for key, group in points.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        row["seeds"] = group["seed"].nunique()
        for c in columns:
            if c not in group or group[c].isna().all():
                continue
            v = group[c].dropna().to_numpy(dtype=float)
            row[c] = mean_std(v)
        rows.append(row)
    return pd.DataFrame(rows)


def sensitivity_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    codebook, generation = _points(results, "codebook"), _points(results, "generation")
    out = {}
    if len(codebook):
        codebook = codebook.sort_values(["dataset", "codebook_size", "levels", "seed"])
        out["sensitivity"] = _summary(codebook, ["dataset", "codebook_size", "levels"], CODEBOOK_COLUMNS)
    if len(generation):
        generation = generation.sort_values(["dataset", "varied", "codebook_size", "levels", "seed"], kind="stable")
        out["sensitivity_generation"] = _summary(generation, ["dataset", "varied", "codebook_size", "levels"],
                                                 GENERATION_COLUMNS)
    return out


def _line(ax, frame: pd.DataFrame, x: str, y: str, label: str) -> None:
    """Mean over seeds; error bars (std over seeds) only where at least two seeds have the point."""
    stats = frame.groupby(x)[y].agg(["mean", "std", "count"]).reset_index()
    bars = stats["std"].where(stats["count"] >= 2)
    ax.errorbar(stats[x], stats["mean"], yerr=None if bars.isna().all() else bars.fillna(0.0), marker="o",
                capsize=3, label=label)


def _not_yet_run(ax, what: str) -> None:
    import textwrap

    ax.text(0.5, 0.5, "not yet run:\n" + textwrap.fill(what, 34), ha="center", va="center", fontsize=7,
            color="#777777", transform=ax.transAxes, clip_on=True)
    ax.set_xticks([])
    ax.set_yticks([])


def sensitivity_figures(results: list[dict[str, Any]], figure_dir: str | Path, preset: str = "") -> list[Path]:
    """One figure per dataset: ranking kept and collision rate against K (a line per L), and the
    generation sweep's personalization and consistency against K and against L. A panel without
    runs says so and how to run them; error bars (std over seeds) only where two or more seeds
    have a point, and the title says so."""
    import matplotlib.pyplot as plt

    from dppmg.ui.plotting import save_figure

    codebook, generation = _points(results, "codebook"), _points(results, "generation")
    datasets = sorted(set(codebook.get("dataset", [])) | set(generation.get("dataset", [])))
    written = []
    for dataset in datasets:
        c = codebook[codebook["dataset"] == dataset] if len(codebook) else codebook
        g = generation[generation["dataset"] == dataset] if len(generation) else generation
        fig, axes = plt.subplots(1, 4, figsize=(18, 4))
        for depth, part in (c.groupby("levels") if len(c) else ()):
            _line(axes[0], part, "codebook_size", "recall kept (test)", f"L={depth}")
            _line(axes[1], part, "codebook_size", "collision rate", f"L={depth}")
        run = f"python -m benchmark run --suite sensitivity --preset {preset or 'P'} --datasets {dataset} --methods"
        for ax, title in zip(axes[:2], ("ranking kept after quantization (test R@20 ratio)", "collision rate")):
            ax.set_title(title, fontsize=9)
            if not ax.has_data():
                _not_yet_run(ax, f"{run} codebook")
                continue
            ax.set_xscale("log", base=2)
            ax.set_xlabel("codebook size K")
            ax.legend(fontsize=7)
        for ax, factor, xlabel in ((axes[2], "codebook_size", "codebook size K (preset L)"),
                                   (axes[3], "levels", "depth L (preset K)")):
            part = g[g["varied"] == factor] if len(g) else g
            for column in ("image personalization (targets)", "text personalization (targets)",
                           "consistency (evaluator)"):
                if len(part) and column in part and part[column].notna().any():
                    _line(ax, part.dropna(subset=[column]), factor, column, column)
            ax.set_title("generated items (validation users)", fontsize=9)
            if not ax.has_data():
                _not_yet_run(ax, f"{run} generation")
                continue
            if factor == "codebook_size":
                ax.set_xscale("log", base=2)
            ax.set_xlabel(xlabel)
            ax.legend(fontsize=7)
        seeds = sorted(set(c.get("seed", [])) | set(g.get("seed", [])))
        bars = "; bars: std over seeds" if len(seeds) >= 2 else "; one seed: no error bars"
        fig.suptitle(f"Sensitivity to the codebook: {dataset}" + (f" ({preset})" if preset else "")
                     + f" (seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}{bars})")
        fig.tight_layout()
        written.append(save_figure(fig, Path(figure_dir) / f"sensitivity_{dataset}.png"))
        plt.close(fig)
    return written
