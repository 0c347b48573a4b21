"""Suites: which stage notebooks run over which datasets, methods and seeds.

A stage is one parameterized notebook under ``benchmark/notebooks``; its parameters are always
``dataset, preset, seed, method, data_root, output_json, figure_dir``. Later stages add entries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: str
    methods: tuple[str, ...] = ("-",)
    seeds: tuple[int, ...] = (0,)


DATA_STAGES = (
    Stage("dataset_stats", "dataset_stats.ipynb"),
    Stage("features", "features.ipynb"),
)

PREFERENCE_STAGE = Stage("preference", "preference.ipynb",
                         methods=("popularity", "mf-bpr", "lightgcn", "shared", "dppmg"), seeds=(0, 1, 2))

# Stage 2 at `small` trains one image backbone per dataset first (about 30 min each on 2 CPU
# cores, cached afterwards), so one seed by default; pass --seeds for more.
GENERATION_STAGE = Stage("generation", "generation.ipynb", methods=("dppmg",), seeds=(0,))
# Stage 3 + evaluation: DPPMG with and without reward fine-tuning, the shuffled-token control,
# the non-personalized backbones and, as an upper reference, the users' real next items.
EVALUATION_STAGE = Stage("evaluation", "evaluation.ipynb",
                         methods=("nonpersonalized", "dppmg-no-reward", "dppmg", "dppmg-shuffled-tokens",
                                  "real-test-item"),
                         seeds=(0, 1, 2))

SUITES: dict[str, tuple[Stage, ...]] = {
    "data": DATA_STAGES,
    "preference": (PREFERENCE_STAGE,),
    "generation": (GENERATION_STAGE,),
    "evaluation": (EVALUATION_STAGE,),
    "reproduce": (*DATA_STAGES, PREFERENCE_STAGE, GENERATION_STAGE, EVALUATION_STAGE),
}
