"""Tables built from result JSON files (never typed by hand).

Each builder takes the validated results of one stage and returns named DataFrames; the harness
writes each as Markdown and CSV under ``results/<preset>/``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from benchmark.ablations import ablation_table
from benchmark.analysis import (
    REFERENCE,
    by_dataset_method,
    check_reference_runs,
    measurability,
    own_effect,
    paired_comparison,
    per_user_metric,
    personalization_per_user,
    seed_level_test,
    seed_values,
)
from benchmark.formatting import effect, interval, mean_std
from benchmark.sensitivity import sensitivity_tables
from dppmg.evaluation.statistics import verdict
from dppmg.methods import DPPMG, DPPMGNoReward
from dppmg.registry import method_names, methods


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


RANKING_COLUMNS = (("valid", "recall@20"), ("test", "recall@10"), ("test", "recall@20"), ("test", "ndcg@10"),
                   ("test", "ndcg@20"))


def table_order(method: str) -> tuple[int, str]:
    """Sort key of a method in every table: its registered order, then its name (methods whose
    results exist but that are not registered here come last)."""
    orders = {s.name: s.order for s in methods()}
    return orders.get(method, 10**6), method


def _ranking_baselines() -> set[str]:
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
            row[VS_STRONGEST] = ""
            if strongest and method not in ranking_baselines:
                row[VS_STRONGEST] = _paired_p(rs, by_method[strongest], strongest)
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


def ranking_per_user(run: dict[str, Any], key: str = "test_per_user") -> dict[int, float]:
    """A Stage 1 run's per-user test Recall@20, by user index."""
    block = run["metrics"].get(key)
    return {} if not block else dict(zip(block["user_index"], block["recall@20"]))


# The test the column's p comes from: per-user differences paired within each seed, a sign-flip
# permutation test per seed, the seeds' one-sided p-values combined (benchmark.analysis).
VS_STRONGEST = "vs strongest baseline (paired sign-flip p, seeds combined; test recall@20)"


def _paired_p(method_runs: list[dict[str, Any]], baseline_runs: list[dict[str, Any]], baseline: str) -> str:
    """Per-user test Recall@20 of a method minus the baseline's, paired within each seed, the
    seeds combined (:func:`benchmark.analysis.paired_comparison`)."""
    c = paired_comparison({r["seed"]: r for r in method_runs}, {r["seed"]: r for r in baseline_runs}, ranking_per_user)
    if c is None:
        return f"{baseline}: no common seeds"
    return (f"{baseline}: Δ={c['mean']:+.4f}, p(higher)={c['p_positive']:.2g}, "
            f"p(lower)={c['p_negative']:.2g}")


def timing_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """Wall time and peak memory of every timed block in every result (the timing profile).

    ``within`` names the block a block was measured inside (an evaluation's Stage 1-3 inside its
    ``fit``), empty for a top-level block: the top-level rows add up to the cell's wall time, the
    nested ones say where their parent's time went (:func:`dppmg.infra.provenance.top_level_wall_time`).
    """
    rows = []
    for r in results:
        timings = r["provenance"]["timings"]
        for t, within in zip(timings, _parents(timings)):
            rows.append({"stage": r["stage"], "dataset": r["dataset"], "method": r["method"], "seed": r["seed"],
                         "block": t["stage"], "within": within, "wall time (s)": t["wall_time_s"],
                         "peak RSS (MiB)": t["peak_rss_mb"]})
    return pd.DataFrame(rows)


def _parents(timings: list[dict[str, Any]]) -> list[str]:
    """Each block's parent (``""`` at the top level), also for files written before blocks said so
    (there, an evaluation's blocks before ``fit`` ran inside it)."""
    if any("within" in t for t in timings):
        return [t.get("within", "") for t in timings]
    names = [t.get("stage") for t in timings]
    first_top = names.index("fit") if "fit" in names else 0
    return ["fit" if k < first_top else "" for k in range(len(timings))]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def _seed_values(runs: dict[int, dict[str, Any]], path: tuple[str, ...]) -> list[float]:
    return list(seed_values(runs, path).values())


def _mean_std_cell(runs: dict[int, dict[str, Any]], path: tuple[str, ...], digits: int = 4) -> str:
    values = _seed_values(runs, path)
    return mean_std(values, digits) if values else ""


HEADLINE_PERSONALIZATION = (("image", "targets"), ("text", "targets"), ("image", "evaluator"), ("text", "evaluator"))
METRIC_COLUMNS = (
    ("consistency (evaluator)", ("consistency", "evaluator")),
    ("consistency (reward model)", ("consistency", "reward_model")),
    ("KID", ("quality", "kid", "mean")),
    ("distinct-2", ("diversity", "distinct_2")),
    ("ROUGE-L", ("text", "rouge_l_targets")),
    ("true colour acc.", ("ground_truth", "image_colour")), ("true style acc.", ("ground_truth", "text_style")),
    ("users/s", ("throughput", "users_per_second")),
)


def evaluation_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """The protocol's tables (see the README, "Reading the tables"): the generation table, each
    method's personalization tests, measurability, the reward-vs-Stage-2 comparison, the alignment
    models and the preference evaluator. Validation-split runs are left out (they select settings)."""
    results = [r for r in results if r["metrics"].get("split", "test") == "test"]
    rows, personal, measure, paired, align, prefs = [], [], [], [], [], []
    for dataset, methods in sorted(by_dataset_method(results).items()):
        check_reference_runs(methods, dataset)
        cells = measurability(methods, dataset)
        for cell, m in cells.items():
            measure.append({"dataset": dataset, "cell": cell,
                            "measurable": {True: "yes", False: "no", None: "unknown"}[m["measurable"]],
                            "reference effect": _fmt(m.get("effect")), "reference combined p": _fmt(m["p"], 3),
                            "why": m["reason"]})
        for method in sorted(methods, key=table_order):
            rows.append(_generation_row(dataset, method, methods[method], cells))
            personal += _personalization_rows(dataset, method, methods[method], cells)
        paired += _reward_rows(dataset, methods)
        first = next(iter(next(iter(methods.values())).values()))["metrics"]
        align += _alignment_rows(dataset, first)
        prefs += _preference_evaluator_rows(dataset, first)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.loc[:, [c for c in frame.columns if (frame[c] != "").any()]]
    return {"generation": frame, "personalization": pd.DataFrame(personal), "measurability": pd.DataFrame(measure),
            "reward_vs_stage2": pd.DataFrame(paired), "alignment_models": pd.DataFrame(align),
            "preference_evaluator": pd.DataFrame(prefs), "main_table": main_table(results),
            "ablation": ablation_table(results)}


def _generation_row(dataset: str, method: str, runs: dict[int, dict[str, Any]],
                    cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One method's row of the generation table: its headline personalization and metric columns."""
    first = runs[min(runs)]
    row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(runs),
                           "users": len(first["metrics"]["users"])}
    for modality, view in HEADLINE_PERSONALIZATION:
        combined = own_effect(runs, ("personalization", modality, view))
        label = f"{modality} {'identification AUC (pref. evaluator)' if view == 'evaluator' else 'personalization (targets)'}"
        measurable = cells[f"personalization/{modality}/{view}"]["measurable"]
        if combined is None:
            row[label] = ""
        elif measurable is False and method != REFERENCE:
            row[label] = "not measurable"
        elif view == "evaluator":
            row[label] = f"{combined['auc']:.3f}"
        else:
            row[label] = effect(combined)
    for label, path in METRIC_COLUMNS:
        row[label] = _mean_std_cell(runs, path, 2 if label == "users/s" else 4)
    return row


def _personalization_rows(dataset: str, method: str, runs: dict[int, dict[str, Any]],
                          cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One method's personalization tests over seeds, per modality and view, with their verdicts."""
    out = []
    for modality in ("image", "text"):
        for view in ("targets", "history", "evaluator"):
            combined = own_effect(runs, ("personalization", modality, view))
            if combined is None:
                continue
            measurable = cells[f"personalization/{modality}/{view}"]["measurable"]
            out.append({
                "dataset": dataset, "method": method, "modality": modality, "view": view,
                "seeds": combined["seeds"], "users per seed": "/".join(map(str, combined["users"])),
                "matching statistic": effect(combined), "95% CI over seeds": interval(combined),
                "AUC": f"{combined['auc']:.3f}", "per-seed p": " ".join(f"{p:.2g}" for p in combined["per_seed_p"]),
                "combined p": f"{combined['p_positive']:.2g}",
                "verdict": {"reproduced": "personalized", "contradicted": "anti-personalized",
                            "inconclusive": "not shown", "not measurable": "not measurable"}[
                    verdict(combined, measurable is not False or method == REFERENCE)]})
    return out


def _reward_rows(dataset: str, methods: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """DPPMG against its Stage 2 pipeline (no reward), paired over seeds, per metric."""
    if DPPMG.name not in methods or DPPMGNoReward.name not in methods:
        return []
    out = []
    for label, extract in REWARD_COMPARISONS:
        c = paired_comparison(methods[DPPMG.name], methods[DPPMGNoReward.name], extract)
        if c is None:
            continue
        out.append({"dataset": dataset, "metric": label, "seeds": c["seeds"],
                    "users per seed": "/".join(map(str, c["users"])),
                    "with reward - stage 2": effect(c), "95% CI over seeds": interval(c),
                    "per-seed p (higher)": " ".join(f"{p:.2g}" for p in c["per_seed_p"]),
                    "combined p (higher)": f"{c['p_positive']:.2g}",
                    "combined p (lower)": f"{c['p_negative']:.2g}"})
    return out


def _alignment_rows(dataset: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The reward model's and the evaluator's held-out retrieval, against chance."""
    out = []
    for role in ("reward", "evaluator"):
        r = metrics["alignment"][role]
        out.append({"dataset": dataset, "model": role, "held-out items": r["items"],
                    "R@1": round(r["R@1"], 4), "chance R@1": round(r["chance R@1"], 4),
                    "R@10": round(r["R@10"], 4), "chance R@10": round(r["chance R@10"], 4),
                    "median rank": r["median rank"]})
    return out


def _preference_evaluator_rows(dataset: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The preference evaluator against popularity, per split."""
    out = []
    report = metrics.get("preference_evaluator", {})
    for split in ("valid", "test"):
        if split in report:
            e, pop = report[split]["evaluator"], report[split]["popularity"]
            out.append({"dataset": dataset, "split": split, "evaluator AUC": round(e["auc"], 4),
                        "popularity AUC": round(pop["auc"], 4), "evaluator Recall@20": round(e["recall@20"], 4),
                        "popularity Recall@20": round(pop["recall@20"], 4),
                        "beats popularity (AUC)": "yes" if e["auc"] > pop["auc"] else "no"})
    return out


REWARD_COMPARISONS = (
    ("consistency (evaluator)", per_user_metric(("consistency", "evaluator"))),
    ("consistency (reward model)", per_user_metric(("consistency", "reward_model"))),
    ("image personalization (targets)", lambda r: personalization_per_user(r, "image")),
    ("text personalization (targets)", lambda r: personalization_per_user(r, "text")),
)


def selection_tables(results: list[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    """One table per selected setting: candidates, validation metric, the choice, the configured value."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(results, key=lambda r: r["dataset"]):
        for sel in r["metrics"]["selections"]:
            name = "selection_" + sel["setting"].replace(".", "_")
            for cand in sel["candidates"]:
                tables.setdefault(name, []).append({
                    "dataset": r["dataset"], "seed": sel["seed"], "candidate": cand["value"],
                    sel["metric"]: round(cand["metric"], 5),
                    **{k: (round(v, 5) if isinstance(v, float) else v) for k, v in cand.items()
                       if k not in ("value", "metric")},
                    "chosen": "yes" if cand["value"] == sel["choice"] else "",
                    "configured": "yes" if cand["value"] == sel["configured"] else ""})
    return {name: pd.DataFrame(rows) for name, rows in tables.items()}


TABLE_BUILDERS: dict[str, Callable[[list[dict[str, Any]]], dict[str, pd.DataFrame]]] = {
    "dataset_stats": dataset_stats_tables,
    "features": features_tables,
    "preference": preference_tables,
    "selection": selection_tables,
    "evaluation": evaluation_tables,
    "sensitivity": sensitivity_tables,
}


# ----- the main table ------------------------------------------------------------------------
# (label, modality the column is about or None, path of the per-seed value, per-user values for the
# paired test or None, higher is better)
MAIN_COLUMNS = (
    ("image personalization (targets)", "image", ("personalization", "image", "targets", "statistic"),
     lambda r: personalization_per_user(r, "image"), True),
    ("text personalization (targets)", "text", ("personalization", "text", "targets", "statistic"),
     lambda r: personalization_per_user(r, "text"), True),
    ("image identification AUC (pref. evaluator)", "image", ("personalization", "image", "evaluator", "auc"),
     lambda r: personalization_per_user(r, "image", "evaluator", "auc"), True),
    ("text identification AUC (pref. evaluator)", "text", ("personalization", "text", "evaluator", "auc"),
     lambda r: personalization_per_user(r, "text", "evaluator", "auc"), True),
    ("consistency (evaluator)", None, ("consistency", "evaluator", "mean"),
     per_user_metric(("consistency", "evaluator")), True),
    ("KID", "image", ("quality", "kid", "mean"), None, False),
    ("distinct-2", "text", ("diversity", "distinct_2"), None, True),
)
# The cell of the measurability check a column's values mean something only where it passes.
MAIN_MEASURABILITY = {
    "image personalization (targets)": "personalization/image/targets",
    "text personalization (targets)": "personalization/text/targets",
    "image identification AUC (pref. evaluator)": "personalization/image/evaluator",
    "text identification AUC (pref. evaluator)": "personalization/text/evaluator",
    "consistency (evaluator)": "consistency",
}
STRONGEST_BASELINE_ROW = "dppmg - strongest baseline"


def _registered() -> dict[str, Any]:
    return {s.name: s for s in methods(suite="evaluation")}


def _personalizes(spec: Any, modality: str | None) -> bool:
    return spec is None or modality is None or modality in spec.cls.modalities


def _seed_level_test(a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]], path: tuple[str, ...],
                     higher_is_better: bool) -> dict[str, Any] | None:
    """``a - b`` at ``path``, one value per seed, with the one-sided p in ``a``'s favour
    (:func:`benchmark.analysis.seed_level_test`)."""
    return seed_level_test(seed_values(a, path), seed_values(b, path), "greater" if higher_is_better else "less")


def main_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, method): the protocol's headline metrics, mean ± std over seeds.

    A cell reads ``not measurable`` where the users' real next items fail the same test
    (:func:`benchmark.analysis.measurability`), ``n/a`` for the modality a unimodal baseline does
    not personalize (its other modality is the non-personalized backbone's). The best value per
    column among the generators (kind ``generation``) is in bold. The last row of a dataset is
    DPPMG's difference to the strongest baseline of each column (the baseline with the best mean,
    so the comparison is the hardest one), paired per user within each seed and combined over
    seeds (one-sided p in DPPMG's favour); KID and distinct-2 have one value per seed and are paired
    by seed (t-test over the seeds).
    """
    results = [r for r in results if r["metrics"].get("split", "test") == "test"]
    specs = _registered()
    rows: list[dict[str, Any]] = []
    for dataset, methods in sorted(by_dataset_method(results).items()):
        cells = measurability(methods, dataset)
        # The ablations of DPPMG have their own table (benchmark.ablations).
        order = [m for m in sorted(methods, key=table_order) if m not in specs or specs[m].kind != "ablation"]
        means: dict[str, dict[str, float]] = {label: {} for label, *_ in MAIN_COLUMNS}
        frame_rows: dict[str, dict[str, Any]] = {}
        for method in order:
            runs = methods[method]
            row: dict[str, Any] = {"dataset": dataset, "method": method, "seeds": len(runs),
                                   "users": len(runs[min(runs)]["metrics"]["users"])}
            for label, modality, path, _, _ in MAIN_COLUMNS:
                check = MAIN_MEASURABILITY.get(label)
                values = _seed_values(runs, path)
                if not _personalizes(specs.get(method), modality):
                    row[label] = "n/a"
                elif not values:
                    row[label] = ""
                elif check and cells[check]["measurable"] is False and method != REFERENCE:
                    row[label] = "not measurable"
                else:
                    row[label] = mean_std(values, 4)
                    means[label][method] = float(np.mean(values))
            frame_rows[method] = row
        generators = [m for m in order if m in specs and specs[m].kind == "generation"]
        for label, modality, path, per_user, higher in MAIN_COLUMNS:
            scored = {m: v for m, v in means[label].items() if m in generators}
            if scored:
                best = (max if higher else min)(scored, key=scored.get)
                frame_rows[best][label] = f"**{frame_rows[best][label]}**"
        rows += frame_rows.values()
        if DPPMG.name in methods:
            diff: dict[str, Any] = {"dataset": dataset, "method": STRONGEST_BASELINE_ROW, "seeds": "", "users": ""}
            for label, modality, path, per_user, higher in MAIN_COLUMNS:
                baselines = {m: v for m, v in means[label].items() if m in generators and m != DPPMG.name}
                check = MAIN_MEASURABILITY.get(label)
                if check and cells[check]["measurable"] is False:
                    diff[label] = "not measurable"
                    continue
                if DPPMG.name not in means[label] or not baselines:
                    diff[label] = ""
                    continue
                strongest = (max if higher else min)(baselines, key=baselines.get)
                if per_user is not None:
                    c = paired_comparison(methods[DPPMG.name], methods[strongest], per_user)
                    p = None if c is None else (c["p_positive"] if higher else c["p_negative"])
                else:
                    c = _seed_level_test(methods[DPPMG.name], methods[strongest], path, higher)
                    p = None if c is None else c["p"]
                diff[label] = "" if c is None else (
                    f"{c['mean']:+.4f} vs {strongest} (p={p:.2g})" if p == p else f"{c['mean']:+.4f} vs {strongest}")
            rows.append(diff)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.loc[:, [c for c in frame.columns if (frame[c].astype(str) != "").any()]]
    return frame
