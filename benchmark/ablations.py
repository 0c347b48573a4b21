"""The ablation table: DPPMG with one part taken away at a time, against full DPPMG.

``results/<preset>/ablation.md``: one row per (dataset, variant) — full ``dppmg`` first, then the
registered ablations (:data:`dppmg.methods.ABLATIONS`) that have runs — with the protocol's
headline metrics as mean ± std over seeds and, for a variant, its difference to full DPPMG and
the two-sided p of that difference: per user within each seed, combined over seeds
(:func:`benchmark.analysis.paired_comparison`) where the metric has per-user values; paired by
seed (t-test over the seeds) for KID and distinct-2. On the synthetic world the columns also hold
the true-attribute accuracies, overall and for the divergent users (whose text and image
preferences differ), and how often each generator follows the *other* modality's preference.

A personalization cell reads ``not measurable`` where the users' real next items fail the same
test (:func:`benchmark.analysis.measurability`), as in every table of the suite.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.analysis import (
    REFERENCE,
    by_dataset_method,
    measurability,
    paired_comparison,
    per_user_metric,
    personalization_per_user,
    seed_level_test,
    seed_values,
)
from benchmark.formatting import mean_std
from dppmg.methods import ABLATIONS, DPPMG

# (label, path of the per-seed value, per-user extractor or None, the measurability cell or None)
ABLATION_COLUMNS = (
    ("image personalization (targets)", ("personalization", "image", "targets", "statistic"),
     lambda r: personalization_per_user(r, "image"), "personalization/image/targets"),
    ("text personalization (targets)", ("personalization", "text", "targets", "statistic"),
     lambda r: personalization_per_user(r, "text"), "personalization/text/targets"),
    ("image identification AUC (pref. evaluator)", ("personalization", "image", "evaluator", "auc"),
     lambda r: personalization_per_user(r, "image", "evaluator", "auc"), "personalization/image/evaluator"),
    ("text identification AUC (pref. evaluator)", ("personalization", "text", "evaluator", "auc"),
     lambda r: personalization_per_user(r, "text", "evaluator", "auc"), "personalization/text/evaluator"),
    ("consistency (evaluator)", ("consistency", "evaluator", "mean"),
     per_user_metric(("consistency", "evaluator")), "consistency"),
    ("KID", ("quality", "kid", "mean"), None, None),
    ("distinct-2", ("diversity", "distinct_2"), None, None),
    ("true colour acc.", ("ground_truth", "image_colour", "mean"), per_user_metric(("ground_truth", "image_colour")),
     None),
    ("true style acc.", ("ground_truth", "text_style", "mean"), per_user_metric(("ground_truth", "text_style")), None),
    ("divergent users: true colour acc.", ("ground_truth", "divergent_image_colour", "mean"),
     per_user_metric(("ground_truth", "divergent_image_colour")), None),
    ("divergent users: true style acc.", ("ground_truth", "divergent_text_style", "mean"),
     per_user_metric(("ground_truth", "divergent_text_style")), None),
    ("divergent users: text follows the image preference", ("ground_truth", "divergent_text_follows_image", "mean"),
     per_user_metric(("ground_truth", "divergent_text_follows_image")), None),
    ("divergent users: image follows the text preference", ("ground_truth", "divergent_image_follows_text", "mean"),
     per_user_metric(("ground_truth", "divergent_image_follows_text")), None),
)


def two_sided(comparison: dict[str, Any]) -> float:
    """The two-sided p of a combined comparison (twice the smaller one-sided p, at most 1)."""
    return float(min(1.0, 2 * min(comparison["p_positive"], comparison["p_negative"])))


def variant_difference(variant: dict[int, dict[str, Any]], full: dict[int, dict[str, Any]], path: tuple[str, ...],
                       per_user) -> dict[str, Any] | None:
    """``variant - full DPPMG`` at one column: ``{"mean", "p" (two-sided), "seeds"}``."""
    if per_user is not None:
        c = paired_comparison(variant, full, per_user)
        return None if c is None else {"mean": c["mean"], "p": two_sided(c), "seeds": c["seeds"]}
    return seed_level_test(seed_values(variant, path), seed_values(full, path))


def ablation_table(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, variant) with the differences to full DPPMG (see the module docstring)."""
    results = [r for r in results if r["metrics"].get("split", "test") == "test"]
    variants = [(DPPMG.name, DPPMG)] + [(cls.name, cls) for cls in ABLATIONS]
    rows = []
    for dataset, methods in sorted(by_dataset_method(results).items()):
        if DPPMG.name not in methods or not any(name in methods for name, _ in variants[1:]):
            continue
        cells = measurability(methods, dataset)
        full = methods[DPPMG.name]
        for name, cls in variants:
            if name not in methods:
                continue
            runs = methods[name]
            row: dict[str, Any] = {"dataset": dataset, "variant": name,
                                   "taken away / changed": "nothing (full DPPMG)" if cls is DPPMG else cls.component,
                                   "override": _override(cls), "seeds": len(runs)}
            for label, path, per_user, check in ABLATION_COLUMNS:
                values = seed_values(runs, path)
                if not values:
                    row[label] = ""
                    continue
                if check and cells[check]["measurable"] is False and name != REFERENCE:
                    row[label] = "not measurable"
                    continue
                text = mean_std(list(values.values()))
                if cls is not DPPMG:
                    d = variant_difference(runs, full, path, per_user)
                    if d is not None:
                        text += f" (Δ {d['mean']:+.4f}" + (f", p={d['p']:.2g})" if d["p"] == d["p"] else ")")
                row[label] = text
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame = frame.loc[:, [c for c in frame.columns if (frame[c].astype(str) != "").any()]]
    return frame


def _override(cls: type) -> str:
    parts = [f"{stage}.{k}={v!r}" for stage, fields in cls.overrides.items() for k, v in fields.items()]
    if cls.use_reward != DPPMG.use_reward:
        parts.append(f"use_reward={cls.use_reward!r}")
    return "; ".join(parts) or "-"
