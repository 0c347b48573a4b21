"""Synthetic world only: do the learned per-modality preferences recover the known ones?

Two measures, computed from Stage 1's user vectors p_u^m and item vectors q_i^m:

* **Probes.** 5-fold cross-validated accuracy of a logistic regression that predicts each user's
  true preferred colour / shape (image attributes) and style (text attribute) from p_u^text or
  p_u^image. Modal-specific preferences should put image attributes in p^image and the style
  in p^text; chance (the majority class rate) is reported alongside.
* **Divergence.** For every user, the dominant style among the top-20 items of the text branch
  and the dominant colour among the top-20 items of the image branch. For users whose true
  preferences agree across modalities the style should be the one paired with the colour; for
  divergent users it should not. The agreement rate per group, and the Mann–Whitney test of the
  top-20 overlap (Jaccard) between the two branches, show whether the model keeps them apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError

PROBES = {"colour": "pref_colour", "shape": "pref_shape", "style": "pref_style"}


def probe_accuracy(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    folds = min(5, int(np.bincount(np.unique(labels, return_inverse=True)[1]).min()))
    if folds < 2:
        raise DPPMGError("too few users per class for a cross-validated probe")
    return float(cross_val_score(model, x, labels, cv=folds).mean())


def ground_truth_recovery(data: InteractionData, user_prefs: dict[str, np.ndarray],
                          item_prefs: dict[str, np.ndarray], top_k: int = 20, seed: int = 0) -> dict[str, Any]:
    """Probe accuracies and the divergence analysis of the module docstring."""
    if data.ground_truth is None:
        raise DPPMGError(f"dataset {data.name!r} has no ground truth; recovery needs the synthetic world")
    if not {"text", "image"} <= set(user_prefs):
        raise DPPMGError("ground-truth recovery needs separate text and image preferences")
    gt_users = data.users[["user_id"]].merge(data.ground_truth["users"], on="user_id", how="left")
    gt_items = data.items[["item_id"]].merge(data.ground_truth["items"], on="item_id", how="left")
    probes: dict[str, dict[str, float]] = {}
    for attr, column in PROBES.items():
        labels = gt_users[column].to_numpy()
        probes[attr] = {"chance": float(np.bincount(np.unique(labels, return_inverse=True)[1]).max() / len(labels))}
        for m in ("text", "image"):
            probes[attr][f"from_{m}"] = probe_accuracy(user_prefs[m], labels, seed)

    top = {m: np.argsort(-(user_prefs[m] @ item_prefs[m].T), axis=1)[:, :top_k] for m in ("text", "image")}
    styles, colours = gt_items["style"].to_numpy(), gt_items["colour"].to_numpy()
    dominant_style = np.array([_mode(styles[row]) for row in top["text"]])
    dominant_colour = np.array([_mode(colours[row]) for row in top["image"]])
    paired = data.ground_truth["style_paired_with_colour"]
    agree = np.array([paired[s] == c for s, c in zip(dominant_style, dominant_colour)])
    overlap = np.array([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(top["text"], top["image"])])
    divergent = gt_users["divergent"].to_numpy(dtype=bool)
    test = mannwhitneyu(overlap[divergent], overlap[~divergent], alternative="less")
    return {
        "probes": probes,
        "dominant_style_correct": float((dominant_style == gt_users["pref_style"].to_numpy()).mean()),
        "dominant_colour_correct": float((dominant_colour == gt_users["pref_colour"].to_numpy()).mean()),
        "cross_modal_agreement": {"consistent_users": float(agree[~divergent].mean()),
                                  "divergent_users": float(agree[divergent].mean())},
        "top_overlap_jaccard": {"consistent_users": float(overlap[~divergent].mean()),
                                "divergent_users": float(overlap[divergent].mean()),
                                "mannwhitney_p_divergent_less": float(test.pvalue)},
        "users": {"divergent": int(divergent.sum()), "consistent": int((~divergent).sum())},
    }


def _mode(values: np.ndarray) -> Any:
    uniq, counts = np.unique(values, return_counts=True)
    return uniq[np.argmax(counts)]
