"""``dppmg judge report``: the human study's statistics, from real votes only.

Per question (taste, coherence) and method, over the cases:

* **mean rank** (1 = best) over every (judge, case) ranking, with a bootstrap 95% CI that resamples
  cases (a case's rankings stay together);
* the **Friedman test** over the (judge, case) rankings as blocks (``scipy.stats.friedmanchisquare``);
* **Kendall's W**, the agreement between judges: per case, W = 12 S / (m^2 (n^3 - n)) over the m
  judges who ranked its n candidates (S: the sum of squared deviations of the candidates' rank
  sums from their mean; rankings have no ties), averaged over the cases with at least two judges;
* **pairwise Wilcoxon signed-rank tests** on each case's mean rank (over its judges) with Holm's
  correction over the pairs;
* how many judges and cases, and the share of cases each method ranked first (by the case's mean
  rank; a tie splits the case).

An empty or too small database (fewer than 2 judges or 3 complete cases for a question) gets a
clear message, never a table of zeros.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dppmg.errors import DPPMGError
from dppmg.infra.io import atomic_write_text
from dppmg.study import QUESTIONS
from dppmg.study.export import load_cases, load_study
from dppmg.study.simulate import SIMULATED_PREFIX
from dppmg.study.store import VoteStore

MIN_JUDGES, MIN_CASES = 2, 3
BOOTSTRAP = 2000


def kendalls_w(ranks: np.ndarray) -> float:
    """Kendall's W of ``ranks`` (m raters x n items, ranks 1..n without ties)."""
    m, n = ranks.shape
    totals = ranks.sum(axis=0)
    s = float(((totals - totals.mean()) ** 2).sum())
    return 12.0 * s / (m ** 2 * (n ** 3 - n))


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone, at most 1), in the input order."""
    order = np.argsort(p_values)
    adjusted = np.empty(len(p_values))
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, (len(p_values) - k) * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted.tolist()


def rank_frame(votes: list[dict[str, Any]], key: dict[str, dict[str, str]], question: str) -> pd.DataFrame:
    """One row per (judge, case) ranking of ``question``; one column per method: its rank (1 = best)."""
    rows = []
    for v in votes:
        if v["question"] != question:
            continue
        labels = key[v["case_id"]]
        rows.append({"judge": v["judge"], "case_id": v["case_id"],
                     **{labels[label]: k + 1 for k, label in enumerate(v["ranking"])}})
    return pd.DataFrame(rows)


def analyse(votes: list[dict[str, Any]], key: dict[str, dict[str, str]], methods: list[str], seed: int = 0
            ) -> dict[str, Any]:
    """The statistics of the module docstring per question (raises on too few votes)."""
    from scipy import stats

    out: dict[str, Any] = {}
    for question in QUESTIONS:
        frame = rank_frame(votes, key, question)
        judges = frame["judge"].nunique() if len(frame) else 0
        cases = frame["case_id"].nunique() if len(frame) else 0
        if judges < MIN_JUDGES or cases < MIN_CASES:
            raise DPPMGError(f"too few votes for question {question!r}: {judges} judge(s) and {cases} case(s) "
                             f"(at least {MIN_JUDGES} judges and {MIN_CASES} cases are needed for the statistics)")
        ranks = frame[methods].to_numpy(dtype=float)
        per_case = frame.groupby("case_id")[methods].mean()
        rng = np.random.default_rng(seed)
        case_ids = per_case.index.to_numpy()
        by_case = {c: frame.loc[frame["case_id"] == c, methods].to_numpy(dtype=float) for c in case_ids}
        boot = np.array([np.concatenate([by_case[c] for c in rng.choice(case_ids, len(case_ids))]).mean(axis=0)
                         for _ in range(BOOTSTRAP)])
        friedman = stats.friedmanchisquare(*ranks.T)
        w = [kendalls_w(by_case[c]) for c in case_ids if len(by_case[c]) >= 2]
        best = per_case.to_numpy() == per_case.to_numpy().min(axis=1, keepdims=True)
        first = (best / best.sum(axis=1, keepdims=True)).mean(axis=0)
        rows = [{"question": question, "method": m, "mean rank": float(ranks[:, j].mean()),
                 "CI low": float(np.quantile(boot[:, j], 0.025)), "CI high": float(np.quantile(boot[:, j], 0.975)),
                 "share of cases ranked first": float(first[j])} for j, m in enumerate(methods)]
        pairs = list(itertools.combinations(methods, 2))
        raw = [float(stats.wilcoxon(per_case[a], per_case[b]).pvalue) if (per_case[a] != per_case[b]).any() else 1.0
               for a, b in pairs]
        pairwise = [{"question": question, "pair": f"{a} vs {b}", "mean rank difference":
                     float((per_case[a] - per_case[b]).mean()), "Wilcoxon p": p, "Holm p": h}
                    for (a, b), p, h in zip(pairs, raw, holm(raw))]
        out[question] = {"methods": rows, "pairwise": pairwise, "judges": int(judges), "cases": int(cases),
                         "rankings": int(len(frame)), "friedman": {"statistic": float(friedman.statistic),
                                                                   "p": float(friedman.pvalue)},
                         "kendalls_w": float(np.mean(w)) if w else float("nan"), "w_cases": len(w)}
    return out


def write_report(study: str | os.PathLike, db: str | os.PathLike | None = None,
                 results_dir: str | os.PathLike = "results") -> Path:
    """Analyse the votes of ``study`` and write ``results/<preset>/human_study.{md,csv}`` and its figure."""
    import json


    study = Path(study)
    meta = load_study(study)
    key = json.loads((study / "key.json").read_text(encoding="utf-8"))
    db = Path(db) if db else study / "votes.sqlite"
    if not db.is_file():
        raise DPPMGError(f"no vote database at {db}: judges vote with `dppmg judge serve {study}`")
    cases = load_cases(study, meta)
    store = VoteStore(db, meta["study_hash"], {c: [x["label"] for x in v["candidates"]] for c, v in cases.items()})
    stats = analyse(store.current_votes(), key, meta["methods"], meta["seed"])

    out = Path(results_dir) / meta["preset"]
    table = pd.DataFrame([r for q in stats.values() for r in q["methods"]])
    pairwise = pd.DataFrame([r for q in stats.values() for r in q["pairwise"]])
    atomic_write_text(out / "human_study.csv", table.to_csv(index=False))
    votes = store.current_votes()
    simulated = bool(votes) and all(v["judge"].startswith(SIMULATED_PREFIX) for v in votes)
    lines = ["# human_study\n\n" + ("**SIMULATED VOTES (dppmg.study.simulate): not a result.**\n\n" if simulated else "")
             + f"_Generated by `dppmg judge report` from {db.name} of the study {meta['study_hash']} "
             f"({meta['dataset']}, preset {meta['preset']}, seed {meta['seed']}, {len(cases)} cases). Do not edit._\n"]
    for question, s in stats.items():
        lines += [f"## {question}: {QUESTIONS[question]}\n",
                  f"{s['judges']} judges, {s['cases']} cases, {s['rankings']} rankings. Friedman chi2 = "
                  f"{s['friedman']['statistic']:.3f}, p = {s['friedman']['p']:.3g}; Kendall's W (mean over "
                  f"{s['w_cases']} cases with two or more judges) = {s['kendalls_w']:.3f}.\n",
                  table[table["question"] == question].drop(columns="question").to_markdown(index=False,
                                                                                           floatfmt=".3f"), "",
                  "Pairwise (Wilcoxon signed-rank on each case's mean rank, Holm-corrected):\n",
                  pairwise[pairwise["question"] == question].drop(columns="question").to_markdown(index=False,
                                                                                                 floatfmt=".3g"), ""]
    atomic_write_text(out / "human_study.md", "\n".join(lines) + "\n")
    _figure(table, out / "figures" / "human_study.png", meta, simulated)
    return out / "human_study.md"


def _figure(table: pd.DataFrame, path: Path, meta: dict[str, Any], simulated: bool) -> Path:
    from dppmg.ui.plotting import plt, save_figure

    fig, axes = plt.subplots(1, len(QUESTIONS), figsize=(4.2 * len(QUESTIONS), 0.45 * len(meta["methods"]) + 1.6),
                             sharey=True)
    for ax, question in zip(np.atleast_1d(axes), QUESTIONS):
        t = table[table["question"] == question]
        y = np.arange(len(t))
        ax.errorbar(t["mean rank"], y, xerr=[t["mean rank"] - t["CI low"], t["CI high"] - t["mean rank"]],
                    fmt="o", capsize=3)
        ax.set_yticks(y, t["method"])
        ax.set_xlabel("mean rank (1 = best); bars: bootstrap 95% CI over cases")
        ax.set_title(question, fontsize=10)
    np.atleast_1d(axes)[0].invert_yaxis()
    fig.suptitle(("SIMULATED VOTES, not a result. " if simulated else "")
                 + f"Human study: {meta['dataset']} ({meta['preset']})", fontsize=10)
    return save_figure(fig, path)
