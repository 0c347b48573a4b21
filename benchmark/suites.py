"""Suites: which stage notebooks run over which datasets, methods and seeds.

A stage is one parameterized notebook under ``benchmark/notebooks``; its parameters are always
``dataset, preset, seed, method, data_root, output_json, figure_dir``. The methods of a stage are
the registered methods (:mod:`dppmg.registry`, plugins included) whose ``suites`` name it, in
table order; stages without methods run once per dataset with ``method = "-"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One harness stage.

    Args:
        name: the stage (and, for method stages, the registry suite) name.
        notebook: the notebook under ``benchmark/notebooks`` it executes.
        seeds: its default seeds.
        per_method: run once per registered method of the suite ``name`` (else once, method "-").
    """

    name: str
    notebook: str
    seeds: tuple[int, ...] = (0,)
    per_method: bool = False

    @property
    def methods(self) -> tuple[str, ...]:
        from dppmg.registry import method_names

        return tuple(method_names(suite=self.name)) if self.per_method else ("-",)


DATA_STAGES = (
    Stage("dataset_stats", "dataset_stats.ipynb"),
    Stage("features", "features.ipynb"),
)
PREFERENCE_STAGE = Stage("preference", "preference.ipynb", seeds=(0, 1, 2), per_method=True)
# Stage 2 at `small` trains one image backbone per dataset first (about 30 min each on 2 CPU
# cores, cached afterwards), so one seed by default; pass --seeds for more.
GENERATION_STAGE = Stage("generation", "generation.ipynb", seeds=(0,), per_method=True)
# Stage 3 + evaluation of every generation method, control and reference.
EVALUATION_STAGE = Stage("evaluation", "evaluation.ipynb", seeds=(0, 1, 2), per_method=True)

SUITES: dict[str, tuple[Stage, ...]] = {
    "data": DATA_STAGES,
    "preference": (PREFERENCE_STAGE,),
    "generation": (GENERATION_STAGE,),
    "evaluation": (EVALUATION_STAGE,),
    "reproduce": (*DATA_STAGES, PREFERENCE_STAGE, GENERATION_STAGE, EVALUATION_STAGE),
}
