"""Tables built from result JSON files (never typed by hand).

Each builder takes the validated results of one stage and returns named DataFrames; the harness
writes each as Markdown and CSV under ``results/<preset>/``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from dppmg.methods import DPPMG, DPPMGNoReward


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


def table_order(method: str) -> tuple[int, str]:
    """Sort key of a method in every table: its registered order, then its name (methods whose
    results exist but that are not registered here come last)."""
    from dppmg.registry import methods

    orders = {s.name: s.order for s in methods()}
    return orders.get(method, 10**6), method


def _ranking_baselines() -> set[str]:
    from dppmg.registry import method_names

    return set(method_names(kind="ranking", suite="preference"))


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
        ranking_baselines = _ranking_baselines()
        baselines = [m for m in by_method if m in ranking_baselines]
        strongest = max(baselines, key=lambda m: np.mean([r["metrics"]["test"]["recall@20"] for r in by_method[m]]),
                        default=None)
        rows = []
        for method, rs in by_method.items():
            row = {"method": method, "seeds": len(rs)}
            for split, metric in RANKING_COLUMNS:
                row[f"{split} {metric}"] = mean_std([r["metrics"][split][metric] for r in rs])
            row["vs strongest baseline (Wilcoxon p, test recall@20)"] = ""
            if strongest and method not in ranking_baselines:
                row["vs strongest baseline (Wilcoxon p, test recall@20)"] = _paired_p(rs, by_method[strongest], strongest)
            rows.append(row)
        frame = pd.DataFrame(sorted(rows, key=lambda r: table_order(r["method"])))
        tables[f"ranking_{dataset}"] = frame
        all_rows += [{"dataset": dataset, **r} for r in frame.to_dict("records")]
        for r in by_method.get(DPPMG.name, []):
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


def generation_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """Stage 2 personalization per dataset and modality (own-history vs other-user similarity of
    the generations, paired over test users, one sign test per seed) and, on the synthetic world,
    true-attribute accuracy against the shuffled-token control."""
    rows, truth_rows = [], []
    for r in sorted(results, key=lambda r: (r["dataset"], r["seed"])):
        m = r["metrics"]
        for modality, feature in (("image", "EfficientNet-Lite0"), ("text", "MiniLM")):
            p = m[modality]
            rows.append({"dataset": r["dataset"], "modality": modality, "features": feature, "seed": r["seed"],
                         "users": p["users"], "mean cos to own history": p["mean_own"],
                         "mean cos to other user's history": p["mean_other"],
                         "mean paired difference": p["mean_paired_difference"],
                         "users own > other": p["users_own_closer"], "sign test p": p["sign_test_p"]})
        gt = m.get("ground_truth")
        if gt:
            for variant, acc in gt.items():
                truth_rows.append({"dataset": r["dataset"], "seed": r["seed"], "tokens": variant,
                                   "image colour = true colour": acc["image_colour"]["mean"],
                                   "text style = true style": acc["text_style"]["mean"],
                                   "chance (colour)": acc["chance_colour"]})
    tables = {}
    if rows:
        frame = pd.DataFrame(rows)
        agg = frame.groupby(["dataset", "modality", "features"], sort=False).agg(
            {"seed": "count", "users": "first", "mean cos to own history": _fmt3,
             "mean cos to other user's history": _fmt3, "mean paired difference": lambda v: mean_std(list(v), 4),
             "users own > other": lambda v: " / ".join(str(int(x)) for x in v),
             "sign test p": lambda v: " / ".join(f"{x:.2g}" for x in v)})
        tables["personalization"] = agg.rename(columns={"seed": "seeds", "users": "users per seed"}).reset_index()
    if truth_rows:
        t = pd.DataFrame(truth_rows)
        tables["synthetic_attributes"] = t.groupby(["dataset", "tokens"], sort=False).agg(
            {"seed": "count", "image colour = true colour": _fmt3, "text style = true style": _fmt3,
             "chance (colour)": "first"}).rename(columns={"seed": "seeds"}).reset_index()
    return tables


EVALUATION_COLUMNS = (
    ("consistency (evaluator)", ("consistency", "evaluator")),
    ("consistency (reward model)", ("consistency", "reward_model")),
    ("retrieval acc. (evaluator)", ("consistency", "retrieval", "accuracy")),
    ("image cos test", ("image", "cos_test")), ("image cos history", ("image", "cos_history")),
    ("SSIM test", ("image", "ssim_test")),
    ("ROUGE-L test", ("text", "rouge_l_test")), ("BLEU test", ("text", "bleu_test")),
    ("text cos test", ("text", "cos_test")), ("text cos history", ("text", "cos_history")),
    ("FD (EffNet)", ("quality", "frechet_distance")), ("distinct-2", ("diversity", "distinct_2")),
    ("image own-other", ("personalization", "image", "mean_paired_difference")),
    ("text own-other", ("personalization", "text", "mean_paired_difference")),
    ("true colour acc.", ("ground_truth", "image_colour")), ("true style acc.", ("ground_truth", "text_style")),
)
# Per-user metrics compared between DPPMG and its Stage 2 model, user by user.
PAIRED_METRICS = (("consistency (evaluator)", ("consistency", "evaluator")),
                  ("consistency (reward model)", ("consistency", "reward_model")),
                  ("image cos history", ("image", "cos_history")), ("image cos test", ("image", "cos_test")),
                  ("text cos history", ("text", "cos_history")), ("text cos test", ("text", "cos_test")))


def _lookup(metrics: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics["mean"] if isinstance(metrics, dict) and "mean" in metrics else metrics


def _per_user_frame(runs: list[dict[str, Any]], path: tuple[str, ...]) -> pd.Series:
    """Per-user values of every run, indexed by (seed, user): each seed draws its own test users,
    so a user is paired with itself under the same seed only."""
    frames = []
    for r in runs:
        node = r["metrics"]
        for key in path:
            node = node[key]
        index = pd.MultiIndex.from_tuples([(r["seed"], u) for u in r["metrics"]["users"]], names=["seed", "user"])
        frames.append(pd.Series(node["per_user"], index=index, dtype=float))
    return pd.concat(frames).dropna()


def evaluation_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """The generation table (method x metric, mean ± std over seeds), the paired comparison of
    DPPMG with its Stage 2 model and the alignment models' held-out retrieval."""
    rows, paired, align, personal = [], [], [], []
    for dataset in sorted({r["dataset"] for r in results}):
        by_method: dict[str, list[dict[str, Any]]] = {}
        for r in results:
            if r["dataset"] == dataset:
                by_method.setdefault(r["method"], []).append(r)
        for method in sorted(by_method, key=table_order):
            rs = by_method[method]
            row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(rs),
                                   "users": len(rs[0]["metrics"]["users"])}
            for label, path in EVALUATION_COLUMNS:
                values = [_lookup(r["metrics"], path) for r in rs]
                row[label] = "" if any(v is None for v in values) else mean_std(values, 4)
            rows.append(row)
            personal += _personalization_rows(dataset, method, rs)
        if DPPMG.name in by_method and DPPMGNoReward.name in by_method:
            for label, path in PAIRED_METRICS:
                tuned = _per_user_frame(by_method[DPPMG.name], path)
                base = _per_user_frame(by_method[DPPMGNoReward.name], path)
                common = tuned.index.intersection(base.index)
                diff = tuned[common] - base[common]
                p = wilcoxon(tuned[common], base[common]).pvalue if (diff != 0).any() else 1.0
                per_seed = diff.groupby(level="seed").mean()
                paired.append({"dataset": dataset, "metric": label,
                               "seeds": len(per_seed), "pairs": len(common),
                               "stage 2": round(float(base[common].mean()), 4),
                               "with reward": round(float(tuned[common].mean()), 4),
                               "difference": round(float(per_seed.mean()), 4),
                               "per-seed difference": " ".join(f"{d:+.4f}" for d in per_seed),
                               "relative change": f"{100 * per_seed.mean() / abs(base[common].mean()):+.1f}%",
                               "Wilcoxon p": f"{p:.2g}"})
        for role in ("reward", "evaluator"):
            first = next(iter(by_method.values()))[0]["metrics"]["alignment"][role]
            align.append({"dataset": dataset, "model": role, "held-out items": first["items"],
                          "R@1": round(first["R@1"], 4), "chance R@1": round(first["chance R@1"], 4),
                          "R@10": round(first["R@10"], 4), "chance R@10": round(first["chance R@10"], 4),
                          "median rank": first["median rank"]})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.loc[:, [c for c in frame.columns if (frame[c] != "").any()]]
    return {"generation": frame, "reward_vs_stage2": pd.DataFrame(paired), "alignment_models": pd.DataFrame(align),
            "personalization_by_method": pd.DataFrame(personal)}


def _personalization_rows(dataset: str, method: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Own-history vs other-user similarity of one method, the (seed, user) pairs of all its runs
    pooled into one sign test (runs from before the metric existed are left out)."""
    from dppmg.evaluation.personalization import sign_test

    rows = []
    runs = [r for r in runs if "personalization" in r["metrics"]]
    for modality in ("image", "text") if runs else ():
        diffs = np.concatenate([np.asarray(r["metrics"]["personalization"][modality]["per_user_difference"], dtype=float)
                                for r in runs])
        diffs = diffs[np.isfinite(diffs)]
        wins, nonzero, p = sign_test(diffs)
        per_seed = [r["metrics"]["personalization"][modality]["mean_paired_difference"] for r in runs]
        rows.append({"dataset": dataset, "method": method, "modality": modality, "seeds": len(runs),
                     "pairs": len(diffs), "own - other": round(float(diffs.mean()), 4),
                     "per-seed own - other": " ".join(f"{d:+.4f}" for d in per_seed),
                     "own closer": f"{wins}/{nonzero}", "sign-test p": f"{p:.2g}"})
    return rows


TABLE_BUILDERS: dict[str, Callable[[list[dict[str, Any]]], dict[str, pd.DataFrame]]] = {
    "dataset_stats": dataset_stats_tables,
    "features": features_tables,
    "preference": preference_tables,
    "generation": generation_tables,
    "evaluation": evaluation_tables,
}
