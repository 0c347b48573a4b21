"""Tables built from result JSON files (never typed by hand).

Each builder takes the validated results of one stage and returns named DataFrames; the harness
writes each as Markdown and CSV under ``results/<preset>/``.
"""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd


def dataset_stats_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    summary, steps, drops = [], [], []
    for r in sorted(results, key=lambda r: r["dataset"]):
        m = r["metrics"]
        first = m["stages"][0] if m["stages"] else {}
        summary.append({
            "dataset": r["dataset"], "raw users": first.get("users"), "raw items": first.get("items"),
            "raw interactions": first.get("interactions"), "users": m["users"], "items": m["items"],
            "interactions": m["interactions"], "density": round(m["density"], 5),
            "items with image": m["items_with_image"], "items with text": m["items_with_text"],
            "items with description": m["items_with_description"],
            **{f"{s} interactions": n for s, n in m["split_interactions"].items()},
        })
        steps += [{"dataset": r["dataset"], **s} for s in m["stages"]]
        drops += [{"dataset": r["dataset"], **d} for d in m["dropped"]]
    return {"dataset_stats": pd.DataFrame(summary), "dataset_steps": pd.DataFrame(steps),
            "dataset_drops": pd.DataFrame(drops)}


def features_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    rows = []
    for r in sorted(results, key=lambda r: r["dataset"]):
        m = r["metrics"]
        for modality in ("text", "image"):
            f = m[modality]
            rows.append({"dataset": r["dataset"], "modality": modality, "items": m["items"], "dim": f["dim"],
                         "from cache": f["from_cache"], "seconds": f["seconds"],
                         "items/s": f["items_per_second"], "mean L2 norm": round(f["mean_norm"], 3)})
    return {"features": pd.DataFrame(rows)}


def timing_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Wall time and peak memory of every timed block in every result (the timing profile)."""
    rows = []
    for r in results:
        for t in r["provenance"]["timings"]:
            rows.append({"stage": r["stage"], "dataset": r["dataset"], "method": r["method"], "seed": r["seed"],
                         "block": t["stage"], "wall time (s)": t["wall_time_s"], "peak RSS (MiB)": t["peak_rss_mb"]})
    return pd.DataFrame(rows)


TABLE_BUILDERS: dict[str, Callable[[list[dict[str, Any]]], dict[str, pd.DataFrame]]] = {
    "dataset_stats": dataset_stats_tables,
    "features": features_tables,
}
