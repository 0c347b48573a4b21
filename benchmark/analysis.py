"""Comparisons of result files with the protocol's statistics: seeds are the unit of replication.

* A **method's own effect** (is it personalized? are its pairs consistent?) is one matching test
  per seed; the seeds' effects and p-values are combined by
  :func:`dppmg.evaluation.statistics.across_seeds`.
* A **comparison of two methods** pairs each user with itself under the same seed (every method
  of a seed is evaluated on the same users), one paired sign-flip test per seed, then the seeds
  are combined the same way.
* **Measurability**: a personalization cell (dataset, modality, view) is measurable where the
  users' real next items (the ``real-test-item`` reference) pass the same test with a combined
  p < 0.01; consistency is measurable where the real (image, text) pairs of items unseen by the
  alignment models match better than mismatched real pairs at p < 0.01.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from baselines.real_test_item import RealTestItem
from dppmg.errors import DPPMGError
from dppmg.evaluation.statistics import across_seeds, paired_difference_test, verdict

MEASURABLE_P = 0.01
# The reference every personalization cell is measured against: the users' real next items.
REFERENCE = RealTestItem.name


def by_dataset_method(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """``{dataset: {method: {seed: result}}}``."""
    out: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for r in results:
        out.setdefault(r["dataset"], {}).setdefault(r["method"], {})[r["seed"]] = r
    return out


def node(metrics: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def personalization_per_user(run: dict[str, Any], modality: str, view: str = "targets",
                             value: str = "centred_own") -> dict[str, float]:
    """A run's per-user contributions to one personalization view, by user id."""
    test = node(run["metrics"], ("personalization", modality, view))
    if not test or "per_user" not in test:
        return {}
    users = run["metrics"]["users"]
    return {users[i]: float(v) for i, v in zip(test["user_index"], test["per_user"][value])}


def per_user_metric(path: tuple[str, ...]) -> Callable[[dict[str, Any]], dict[str, float]]:
    """Extractor of a ``{"mean", "per_user"}`` metric of a run, by user id (NaN-free)."""
    def get(run: dict[str, Any]) -> dict[str, float]:
        values = node(run["metrics"], path)
        if not values:
            return {}
        return {u: float(v) for u, v in zip(run["metrics"]["users"], values["per_user"]) if v is not None}
    return get


def own_effect(runs: dict[int, dict[str, Any]], path: tuple[str, ...]) -> dict[str, Any] | None:
    """A method's matching test at ``path`` (e.g. personalization/image/targets) combined over seeds."""
    tests = [node(runs[s]["metrics"], path) for s in sorted(runs)]
    tests = [t for t in tests if t and "statistic" in t]
    if not tests:
        return None
    combined = across_seeds([t["statistic"] for t in tests], [t["p"] for t in tests], [t["p_less"] for t in tests])
    combined["auc"] = float(np.mean([t["auc"] for t in tests]))
    combined["users"] = [t["users"] for t in tests]
    return combined


def paired_comparison(a_runs: dict[int, dict[str, Any]], b_runs: dict[int, dict[str, Any]],
                      extract: Callable[[dict[str, Any]], dict[str, float]],
                      extract_b: Callable[[dict[str, Any]], dict[str, float]] | None = None) -> dict[str, Any] | None:
    """``a - b`` per user within each seed both have, tested per seed and combined over seeds;
    ``extract_b`` reads ``b`` differently (two metrics of the same runs), default ``extract``."""
    extract_b = extract_b or extract
    effects, p, p_less, users = [], [], [], []
    for seed in sorted(set(a_runs) & set(b_runs)):
        a, b = extract(a_runs[seed]), extract_b(b_runs[seed])
        common = sorted(set(a) & set(b))
        if len(common) < 3:
            continue
        test = paired_difference_test(np.array([a[u] for u in common]), np.array([b[u] for u in common]), seed)
        effects.append(test["difference"])
        p.append(test["p"])
        p_less.append(test["p_less"])
        users.append(test["users"])
    if not effects:
        return None
    return {**across_seeds(effects, p, p_less), "users": users}


def measurability(methods: dict[str, dict[int, dict[str, Any]]], dataset: str) -> dict[str, dict[str, Any]]:
    """Per cell (``personalization/<m>/<view>``, ``consistency``): the reference's combined p and
    whether the cell is measurable. Without reference runs every cell is unknown (None)."""
    reference = methods.get(REFERENCE)
    cells: dict[str, dict[str, Any]] = {}
    for m in ("image", "text"):
        for view in ("targets", "history", "evaluator"):
            cells[f"personalization/{m}/{view}"] = _cell(reference, ("personalization", m, view))
    cells["consistency"] = _cell(reference, ("consistency", "matching_unseen"))
    return cells


def _cell(reference: dict[int, dict[str, Any]] | None, path: tuple[str, ...]) -> dict[str, Any]:
    if reference is None:
        return {"measurable": None, "p": None, "reason": f"no {REFERENCE} runs"}
    combined = own_effect(reference, path)
    if combined is None:
        return {"measurable": False, "p": None, "reason": "the reference has no such test (too few users)"}
    ok = combined["p_positive"] < MEASURABLE_P and combined["all_positive"]
    return {"measurable": bool(ok), "p": combined["p_positive"], "effect": combined["mean"],
            "reason": f"{REFERENCE}: combined p = {combined['p_positive']:.2g}"
                      + ("" if combined["all_positive"] else ", not positive in every seed")}


def check_reference_runs(methods: dict[str, dict[int, dict[str, Any]]], dataset: str) -> None:
    reference = methods.get(REFERENCE, {})
    for seed, run in reference.items():
        if not run["metrics"].get("users"):
            raise DPPMGError(f"{dataset}: the {REFERENCE} run of seed {seed} evaluated no users "
                             "(a dataset with no test items cannot be checked for measurability)")


def comparison_verdict(comparison: dict[str, Any] | None, measurable: bool | None) -> str:
    if comparison is None:
        return "missing"
    return verdict(comparison, measurable is not False)


def seed_level_test(a: dict[int, float], b: dict[int, float], alternative: str = "two-sided") -> dict[str, Any] | None:
    """``a - b`` of one value per seed (a metric without per-user values, such as KID), paired by
    seed: the mean difference and the p of a paired t-test over the seeds (``alternative``:
    ``"two-sided"``, ``"greater"`` or ``"less"``); NaN with fewer than two seeds or no spread.
    A NaN value of either side makes the mean NaN: a failed run is shown, never dropped."""
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    diff = np.array([a[s] - b[s] for s in seeds], dtype=float)
    p = float("nan")
    if len(diff) >= 2 and diff.std() > 0:
        p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds], alternative=alternative).pvalue)
    return {"mean": float(diff.mean()), "p": p, "seeds": len(seeds)}


def seed_values(runs: dict[int, dict[str, Any]], path: tuple[str, ...]) -> dict[int, float]:
    """Per seed, the value at ``path`` of that seed's metrics (seeds without it are left out; a NaN
    value is kept, so a failed run shows as NaN in every table)."""
    out = {}
    for seed in sorted(runs):
        value = node(runs[seed]["metrics"], path)
        value = value["mean"] if isinstance(value, dict) and "mean" in value else value
        if value is not None:
            out[seed] = float(value)
    return out
