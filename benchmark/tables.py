"""Tables built from result JSON files (never typed by hand).

Each builder takes the validated results of one stage and returns named DataFrames; the harness
writes each as Markdown and CSV under ``results/<preset>/``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon


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


def mean_std(values: list[float], digits: int = 4) -> str:
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1) if len(arr) > 1 else 0.0:.{digits}f}"


RANKING_COLUMNS = (("valid", "recall@20"), ("test", "recall@10"), ("test", "recall@20"), ("test", "ndcg@10"),
                   ("test", "ndcg@20"))
BASELINES = ("popularity", "mf-bpr", "lightgcn")


def preference_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Ranking table per dataset (mean ± std over seeds, paired test of DPPMG vs the strongest
    baseline on per-user test Recall@20), the quantizer table and the synthetic recovery table."""
    tables: dict[str, pd.DataFrame] = {}
    all_rows, quant_rows, probe_rows, divergence_rows = [], [], [], []
    for dataset in sorted({r["dataset"] for r in results}):
        runs = [r for r in results if r["dataset"] == dataset]
        by_method: dict[str, list[dict[str, Any]]] = {}
        for r in runs:
            by_method.setdefault(r["method"], []).append(r)
        baselines = [m for m in BASELINES if m in by_method]
        strongest = max(baselines, key=lambda m: np.mean([r["metrics"]["test"]["recall@20"] for r in by_method[m]]),
                        default=None)
        rows = []
        for method, rs in by_method.items():
            row = {"method": method, "seeds": len(rs)}
            for split, metric in RANKING_COLUMNS:
                row[f"{split} {metric}"] = mean_std([r["metrics"][split][metric] for r in rs])
            row["vs strongest baseline (Wilcoxon p, test recall@20)"] = ""
            if strongest and method not in BASELINES:
                row["vs strongest baseline (Wilcoxon p, test recall@20)"] = _paired_p(rs, by_method[strongest], strongest)
            rows.append(row)
        order = {m: i for i, m in enumerate(("popularity", "mf-bpr", "lightgcn", "shared", "dppmg"))}
        frame = pd.DataFrame(sorted(rows, key=lambda r: order.get(r["method"], 99)))
        tables[f"ranking_{dataset}"] = frame
        all_rows += [{"dataset": dataset, **r} for r in frame.to_dict("records")]
        for r in by_method.get("dppmg", []):
            for modality, q in r["metrics"].get("quantizer", {}).items():
                quant_rows.append({"dataset": dataset, "modality": modality, "seed": r["seed"],
                                   "recon MSE (standardised)": q["recon_mse"],
                                   "min utilisation": min(lv["utilisation"] for lv in q["levels"]),
                                   "perplexity per level": " / ".join(f"{lv['perplexity']:.1f}" for lv in q["levels"]),
                                   "collision rate": q["collision_rate"],
                                   "test recall@20 kept (all modalities quantized)": r["metrics"]["quantized_recall_kept"]})
            rec = r["metrics"].get("ground_truth_recovery")
            if rec:
                for attr, probe in rec["probes"].items():
                    probe_rows.append({"dataset": dataset, "seed": r["seed"], "true preference": attr,
                                       "probe from p^text": probe["from_text"],
                                       "probe from p^image": probe["from_image"], "chance": probe["chance"]})
                agree, overlap = rec["cross_modal_agreement"], rec["top_overlap_jaccard"]
                divergence_rows += [
                    {"dataset": dataset, "seed": r["seed"],
                     "measure": "top-20 style (text) paired with top-20 colour (image)",
                     "consistent users": agree["consistent_users"], "divergent users": agree["divergent_users"],
                     "p (divergent < consistent)": None},
                    {"dataset": dataset, "seed": r["seed"], "measure": "top-20 Jaccard, text vs image branch",
                     "consistent users": overlap["consistent_users"], "divergent users": overlap["divergent_users"],
                     "p (divergent < consistent)": overlap["mannwhitney_p_divergent_less"]}]
    tables["ranking"] = pd.DataFrame(all_rows)
    if quant_rows:
        q = pd.DataFrame(quant_rows)
        numeric = ["recon MSE (standardised)", "min utilisation", "collision rate",
                   "test recall@20 kept (all modalities quantized)"]
        agg = q.groupby(["dataset", "modality"]).agg({c: _fmt3 for c in numeric})
        agg["perplexity per level (seed 0)"] = q.groupby(["dataset", "modality"])["perplexity per level"].first()
        tables["quantizer"] = agg.reset_index()
    if probe_rows:
        probes = pd.DataFrame(probe_rows)
        tables["synthetic_probes"] = probes.groupby(["dataset", "true preference"], sort=False).agg(
            {"probe from p^text": _fmt3, "probe from p^image": _fmt3, "chance": "first"}).reset_index()
        div = pd.DataFrame(divergence_rows)
        tables["synthetic_divergence"] = div.groupby(["dataset", "measure"], sort=False).agg(
            {"consistent users": _fmt3, "divergent users": _fmt3,
             "p (divergent < consistent)": lambda v: "" if v.isna().all() else f"max {v.max():.2g}"}).reset_index()
    return tables


def _fmt3(values: pd.Series) -> str:
    return mean_std(list(values), 3)


def _paired_p(method_runs: list[dict[str, Any]], baseline_runs: list[dict[str, Any]], baseline: str) -> str:
    def per_user(runs):
        frames = [pd.Series(r["metrics"]["test_per_user"]["recall@20"], index=r["metrics"]["test_per_user"]["user_index"])
                  for r in runs]
        return pd.concat(frames, axis=1).mean(axis=1)

    a, b = per_user(method_runs), per_user(baseline_runs)
    common = a.index.intersection(b.index)
    diff = a[common] - b[common]
    if (diff == 0).all():
        return f"{baseline}: identical"
    p = wilcoxon(a[common], b[common]).pvalue
    return f"{baseline}: Δ={diff.mean():+.4f}, p={p:.2g}"


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
    "preference": preference_tables,
}
