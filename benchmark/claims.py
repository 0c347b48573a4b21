"""The claims table: each testable claim of the DPPMG paper, its comparison and a verdict.

Every comparison pairs each user with itself within a seed and combines the seeds
(:mod:`benchmark.analysis`); the effect is reported as mean ± std over seeds with a t-interval
over seeds, and the verdict is

* ``reproduced`` — combined one-sided p < 0.05 in the claimed direction and the same sign in
  every seed;
* ``contradicted`` — the same in the opposite direction;
* ``inconclusive`` — neither;
* ``not measurable`` — the cell's reference (the users' real next items) fails the same test
  (:func:`benchmark.analysis.measurability`).

A comparison over fewer seeds than the preset runs (a run still being accumulated) is
``inconclusive`` whatever its p, and its note says how many seeds it has: the seed is the unit of
replication, and a verdict stands on all of them.

Once the baselines have runs, two more families of rows: "DPPMG's images / texts are more
personalized than the best unimodal baseline" (per dataset and modality, an intersection-union
test against every unimodal baseline of that modality, so no comparator is picked by its test
numbers: :func:`_best_unimodal_rows`) and "DPPMG is more consistent than two separate models"
(against each registered :class:`~dppmg.interface.ModalityPair`).

One row family per component of DPPMG, from its ablation (:data:`dppmg.methods.ABLATIONS`):
"the graph helps" and "modality-specific preferences help" (DPPMG more personalized than
``dppmg-no-graph`` / ``dppmg-shared``, per modality), "quantization does not cost
personalization" (non-inferiority of DPPMG against ``dppmg-continuous``), and "the consistency
term raises consistency" (DPPMG more consistent than ``dppmg-reward-no-consistency``). They read
``missing`` where a dataset has DPPMG runs but not the ablation's.

Claims of the form "X does not cost Y" are non-inferiority claims: ``reproduced`` when the lower
end of the 95% interval over seeds lies above ``-margin``, ``contradicted`` when its upper end
lies below it; the margins are :data:`QUANTIZATION_MARGIN` (of the unquantized Recall@20) and
:data:`PERSONALIZATION_MARGIN` (of Stage 2's own personalization effect).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from baselines.nonpersonalized import NonPersonalized
from benchmark.analysis import (
    by_dataset_method,
    comparison_verdict,
    measurability,
    own_effect,
    paired_comparison,
    per_user_metric,
    personalization_per_user,
)
from benchmark.formatting import effect, interval
from benchmark.tables import ranking_per_user
from dppmg.evaluation.statistics import verdict
from dppmg.interface import ModalityPair, UnimodalMethod
from dppmg.methods import (
    DPPMG,
    DPPMGContinuous,
    DPPMGNoGraph,
    DPPMGNoReward,
    DPPMGRewardNoConsistency,
    DPPMGSharedPreference,
    DPPMGShuffledTokens,
    SharedPreference,
)
from dppmg.registry import methods as registered

QUANTIZATION_MARGIN = 0.10
PERSONALIZATION_MARGIN = 0.5
COLUMNS = ("claim", "dataset", "modality", "metric", "comparison", "effect (mean ± std over seeds)",
           "95% CI over seeds", "per-seed effect", "combined p", "verdict", "note")


def _row(claim: str, dataset: str, modality: str, metric: str, comparison: str, c: dict[str, Any] | None,
         verdict_: str, note: str = "", p_key: str = "p_positive", seeds_required: int = 1) -> dict[str, Any]:
    if c is not None and c["seeds"] < seeds_required and verdict_ in ("reproduced", "contradicted"):
        verdict_ = "inconclusive"
    if c is not None and c["seeds"] < seeds_required:
        note = f"{c['seeds']} of {seeds_required} seeds so far" + (f"; {note}" if note else "")
    if c is None:
        return dict(zip(COLUMNS, (claim, dataset, modality, metric, comparison, "", "", "", "", "missing",
                                  note or "no runs to compare")))
    return dict(zip(COLUMNS, (claim, dataset, modality, metric, comparison, effect(c), interval(c),
                              " ".join(f"{e:+.4f}" for e in c["per_seed"]), f"{c[p_key]:.2g}", verdict_, note)))


def non_inferiority(c: dict[str, Any] | None, margin: float) -> str:
    if c is None:
        return "missing"
    if c["seeds"] < 2:
        return "inconclusive"
    lo, hi = c["ci"]
    if lo > -margin:
        return "reproduced"
    if hi < -margin:
        return "contradicted"
    return "inconclusive"


def _quantization(runs: dict[int, dict[str, Any]]) -> tuple[dict[str, Any] | None, float]:
    """Quantized minus unquantized per-user test Recall@20 of DPPMG's Stage 1, per seed, combined."""
    test = paired_comparison(runs, runs, lambda r: ranking_per_user(r, "quantized_test_per_user"), ranking_per_user)
    if test is None:
        return None, float("nan")
    test.pop("users")
    return test, float(np.mean([runs[s]["metrics"]["test"]["recall@20"] for s in sorted(runs)]))


def _registered(test: Callable[[type], bool]) -> list[str]:
    """The registered generation baselines whose class passes ``test`` (runs or not: a claim
    whose comparison has no runs yet reads "missing")."""
    return [s.name for s in registered(kind="generation", suite="evaluation") if test(s.cls)]


def _best_unimodal_rows(methods: dict[str, Any], dataset: str, modality: str, cells: dict[str, Any],
                        row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """"DPPMG's <modality>s are more personalized than the best unimodal baseline", as an
    intersection-union test over every unimodal baseline of ``modality`` with runs (no baseline is
    picked by its test numbers): ``reproduced`` only where DPPMG beats each of them (each paired
    per user within seeds, seeds combined), shown with the weakest of those comparisons (largest
    p); ``contradicted`` where one of them beats DPPMG at a Bonferroni-corrected level (alpha / the
    number of baselines), shown with that comparison; else ``inconclusive``, with the weakest."""
    registered = _registered(lambda cls: issubclass(cls, UnimodalMethod) and cls.modalities == (modality,))
    if not registered:
        return []
    unimodal = [m for m in registered if m in methods]
    cell = cells[f"personalization/{modality}/targets"]
    claim = f"DPPMG's {modality}s are more personalized than the best unimodal baseline"
    metric = "personalization (targets): centred own-generation similarity"
    comparisons = {} if DPPMG.name not in methods else {
        m: paired_comparison(methods[DPPMG.name], methods[m], lambda r: personalization_per_user(r, modality))
        for m in unimodal}
    comparisons = {m: c for m, c in comparisons.items() if c is not None}
    if not comparisons:
        absent = [m for m in (DPPMG.name, *registered) if m not in methods]
        return [row(claim, dataset, modality, metric, f"{DPPMG.name} - each of {', '.join(registered)}", None,
                    "missing", f"no runs of {', '.join(absent)}")]
    n = len(comparisons)
    note = (f"intersection-union test over {', '.join(comparisons)}: reproduced only if DPPMG beats each; "
            f"contradicted if one beats DPPMG at p < 0.05/{n} (Bonferroni); {cell['reason']}")
    against = [m for m in comparisons if comparisons[m]["all_negative"] and comparisons[m]["p_negative"] < 0.05 / n]
    if cell["measurable"] is False:
        shown, v = max(comparisons, key=lambda m: comparisons[m]["p_positive"]), "not measurable"
    elif all(verdict(c) == "reproduced" for c in comparisons.values()):
        shown, v = max(comparisons, key=lambda m: comparisons[m]["p_positive"]), "reproduced"
    elif against:
        shown, v = min(against, key=lambda m: comparisons[m]["p_negative"]), "contradicted"
        return [row(claim, dataset, modality, metric, f"{DPPMG.name} - {shown}", comparisons[shown], v,
                    note + f"; combined p is for 'lower' (x{n} for Bonferroni)", p_key="p_negative")]
    else:
        shown, v = max(comparisons, key=lambda m: comparisons[m]["p_positive"]), "inconclusive"
    return [row(claim, dataset, modality, metric, f"{DPPMG.name} - {shown}", comparisons[shown], v, note)]


def claims_table(preference_results: list[dict[str, Any]], evaluation_results: list[dict[str, Any]],
                 seeds_required: int = 1) -> pd.DataFrame:
    """The claims of the module docstring over whatever runs exist (a missing one reads "missing").

    Args:
        seeds_required: the seeds the preset runs; a comparison over fewer is ``inconclusive``.
    """
    import functools

    row = functools.partial(_row, seeds_required=seeds_required)

    dppmg, no_reward, shuffled = DPPMG.name, DPPMGNoReward.name, DPPMGShuffledTokens.name
    nonpersonalized, shared = NonPersonalized.name, SharedPreference.name

    rows: list[dict[str, Any]] = []
    for dataset, methods in sorted(by_dataset_method(preference_results).items()):
        if dppmg in methods and shared in methods:
            c = paired_comparison(methods[dppmg], methods[shared], ranking_per_user)
            rows.append(row("modal-specific preferences beat one shared preference", dataset, "-",
                             "test Recall@20 (Stage 1)", f"{dppmg} - {shared}", c, comparison_verdict(c, True)))
        if dppmg in methods:
            c, full = _quantization(methods[dppmg])
            margin = QUANTIZATION_MARGIN * full
            rows.append(row("quantized tokens keep the ranking quality", dataset, "-", "test Recall@20 (Stage 1)",
                             "quantized - unquantized preferences", c, non_inferiority(c, margin),
                             f"non-inferiority margin {margin:.4f} ({QUANTIZATION_MARGIN:.0%} of the unquantized)",
                             p_key="p_negative"))
    evaluation_results = [r for r in evaluation_results if r["metrics"].get("split", "test") == "test"]
    for dataset, methods in sorted(by_dataset_method(evaluation_results).items()):
        cells = measurability(methods, dataset)
        for modality in ("image", "text"):
            measurable = cells[f"personalization/{modality}/targets"]["measurable"]
            extract: Callable = lambda r, m=modality: personalization_per_user(r, m)  # noqa: E731
            for other, label in ((nonpersonalized, "the non-personalized generators"), (shuffled, "shuffled tokens")):
                if dppmg in methods and other in methods:
                    c = paired_comparison(methods[dppmg], methods[other], extract)
                    rows.append(row(f"DPPMG's {modality}s are more personalized than {label}", dataset, modality,
                                     "personalization (targets): centred own-generation similarity",
                                     f"{dppmg} - {other}", c, comparison_verdict(c, measurable),
                                     cells[f"personalization/{modality}/targets"]["reason"]))
            if dppmg in methods and no_reward in methods:
                c = paired_comparison(methods[dppmg], methods[no_reward], extract)
                v, note = personalization_non_inferiority(
                    c, methods[no_reward], modality, cells[f"personalization/{modality}/targets"],
                    "Stage 2 alone shows no personalization the reward could cost", "Stage 2's effect")
                rows.append(row("the reward does not cost personalization", dataset, modality,
                                 "personalization (targets): centred own-generation similarity",
                                 f"{dppmg} - {no_reward}", c, v, note, p_key="p_negative"))
        for modality in ("image", "text"):
            rows += _best_unimodal_rows(methods, dataset, modality, cells, row)
        consistency = per_user_metric(("consistency", "evaluator"))
        for pair in _registered(lambda cls: issubclass(cls, ModalityPair)):
            have = dppmg in methods and pair in methods
            c = paired_comparison(methods[dppmg], methods[pair], consistency) if have else None
            note = cells["consistency"]["reason"] if have else \
                "no runs of " + ", ".join(m for m in (dppmg, pair) if m not in methods)
            rows.append(row("DPPMG is more consistent than two separate models", dataset, "-",
                             "evaluator consistency of the generated pair", f"{dppmg} - {pair}", c,
                             comparison_verdict(c, cells["consistency"]["measurable"]), note))
        if dppmg in methods and no_reward in methods:
            c = paired_comparison(methods[dppmg], methods[no_reward], per_user_metric(("consistency", "evaluator")))
            rows.append(row("the reward raises cross-modal consistency", dataset, "-",
                             "evaluator consistency of the generated pair", f"{dppmg} - {no_reward}", c,
                             comparison_verdict(c, cells["consistency"]["measurable"]), cells["consistency"]["reason"]))
        if dppmg in methods:
            rows += component_rows(methods, dataset, cells, row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def personalization_non_inferiority(c: dict[str, Any] | None, reference_runs: dict[int, dict[str, Any]],
                                    modality: str, cell: dict[str, Any], nothing_to_cost: str,
                                    reference_name: str) -> tuple[str, str]:
    """Verdict and note of "DPPMG does not cost the personalization of ``reference_runs``": a
    non-inferiority test with a margin of :data:`PERSONALIZATION_MARGIN` times the reference's own
    effect, ``inconclusive`` where the reference shows no personalization to lose."""
    base = own_effect(reference_runs, ("personalization", modality, "targets"))
    if cell["measurable"] is False:
        return "not measurable", cell["reason"]
    if base is None or verdict(base) != "reproduced":
        return "inconclusive", nothing_to_cost
    margin = PERSONALIZATION_MARGIN * base["mean"]
    return (non_inferiority(c, margin),
            f"non-inferiority margin {margin:.4f} ({PERSONALIZATION_MARGIN:.0%} of {reference_name})")


def component_rows(methods: dict[str, Any], dataset: str, cells: dict[str, Any],
                   row: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """The claims rows of DPPMG's components, each from its ablation (see the module docstring)."""
    dppmg, out = DPPMG.name, []
    personal = "personalization (targets): centred own-generation similarity"
    for cls, claim in ((DPPMGNoGraph, "the graph helps"), (DPPMGSharedPreference, "modality-specific preferences help"),
                       (DPPMGContinuous, "quantization does not cost personalization")):
        for modality in ("image", "text"):
            cell = cells[f"personalization/{modality}/targets"]
            comparison = f"{dppmg} - {cls.name}"
            if cls.name not in methods:
                out.append(row(claim, dataset, modality, personal, comparison, None, "missing", f"no runs of {cls.name}"))
                continue
            c = paired_comparison(methods[dppmg], methods[cls.name], lambda r, m=modality: personalization_per_user(r, m))
            if cls is not DPPMGContinuous:
                out.append(row(claim, dataset, modality, personal, comparison, c,
                               comparison_verdict(c, cell["measurable"]), cell["reason"]))
                continue
            v, note = personalization_non_inferiority(
                c, methods[cls.name], modality, cell,
                "the continuous tokens show no personalization that quantization could cost",
                "the continuous tokens' effect")
            out.append(row(claim, dataset, modality, personal, comparison, c, v, note, p_key="p_negative"))
    ablation = DPPMGRewardNoConsistency.name
    claim, metric = "the consistency term raises consistency", "evaluator consistency of the generated pair"
    if ablation not in methods:
        out.append(row(claim, dataset, "-", metric, f"{dppmg} - {ablation}", None, "missing", f"no runs of {ablation}"))
    else:
        c = paired_comparison(methods[dppmg], methods[ablation], per_user_metric(("consistency", "evaluator")))
        out.append(row(claim, dataset, "-", metric, f"{dppmg} - {ablation}", c,
                       comparison_verdict(c, cells["consistency"]["measurable"]), cells["consistency"]["reason"]))
    return out
