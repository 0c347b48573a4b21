"""Simulated votes, for the tutorial and for trying the report before a real study: NOT a result.

Each simulated judge ranks a case's candidates by a noisy score: a per-method preference
(``method_bias``, 0 for methods not named) plus Gaussian noise. Judges are named
``simulated-judge-<k>`` so the report marks every table built from them as simulated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from dppmg.study import QUESTIONS
from dppmg.study.export import load_cases, load_study
from dppmg.study.store import VoteStore

SIMULATED_PREFIX = "simulated-judge-"


def simulate_votes(study: str | os.PathLike, db: str | os.PathLike, judges: int = 8, seed: int = 0,
                   method_bias: dict[str, float] | None = None, noise: float = 1.0) -> int:
    """Write ``judges`` simulated judges' votes on every case of ``study`` into ``db``; return the count."""
    study = Path(study)
    meta = load_study(study)
    key = json.loads((study / "key.json").read_text(encoding="utf-8"))
    cases = load_cases(study, meta)
    store = VoteStore(db, meta["study_hash"], {c: [x["label"] for x in v["candidates"]] for c, v in cases.items()})
    rng = np.random.default_rng(seed)
    bias = method_bias or {}
    count = 0
    for j in range(judges):
        token = store.judge(f"{SIMULATED_PREFIX}{j + 1}")
        for case_id, case in cases.items():
            labels = [c["label"] for c in case["candidates"]]
            for question in QUESTIONS:
                score = np.array([bias.get(key[case_id][lab], 0.0) for lab in labels]) + noise * rng.normal(size=len(labels))
                store.vote(token, case_id, question, [labels[i] for i in np.argsort(-score, kind="stable")])
                count += 1
    return count
