"""Suites: which stage notebooks run over which datasets, methods and seeds.

A stage is one parameterized notebook under ``benchmark/notebooks``; its parameters are always
``dataset, preset, seed, method, data_root, output_json, figure_dir``. The methods of a stage are
the registered methods (:mod:`dppmg.registry`, plugins included) whose ``suites`` name it, in
table order; the selection stage runs once per group of settings (its ``groups``, passed as
``method``); other stages run once per dataset with ``method = "-"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dppmg.experiments.selection import SELECTION_GROUPS, selection_applies
from dppmg.registry import get_spec, method_names


@dataclass(frozen=True)
class Stage:
    """One harness stage.

    Args:
        name: the stage (and, for method stages, the registry suite) name.
        notebook: the notebook under ``benchmark/notebooks`` it executes.
        seeds: its default seeds; ``smoke`` runs the first only (it checks that the code runs).
        per_method: run once per registered method of the suite ``name`` (else once, method "-").
        groups: run once per group instead (the cell's ``method`` names the group), e.g. the
            selection stage's groups of settings.
        group_applies: ``(group, dataset, preset) -> bool``, whether a group has anything to do
            on a dataset (default: every group everywhere).
    """

    name: str
    notebook: str
    seeds: tuple[int, ...] = (0,)
    per_method: bool = False
    groups: tuple[str, ...] = ()
    group_applies: Callable[[str, str, str], bool] | None = None

    def seeds_for(self, preset: str) -> tuple[int, ...]:
        return self.seeds[:1] if preset == "smoke" else self.seeds

    def runs_on(self, method: str, dataset: str, preset: str) -> bool:
        """Whether the stage runs ``method`` on ``dataset`` at ``preset`` (a method may name, per
        preset, the only datasets it runs on: its ``preset_datasets``)."""
        if method == "-":
            return True
        if self.groups:
            return self.group_applies is None or self.group_applies(method, dataset, preset)
        only = get_spec(method).cls.preset_datasets.get(preset)
        return only is None or dataset in only

    @property
    def methods(self) -> tuple[str, ...]:
        if self.groups:
            return self.groups
        return tuple(method_names(suite=self.name)) if self.per_method else ("-",)


DATA_STAGES = (
    Stage("dataset_stats", "dataset_stats.ipynb"),
    Stage("features", "features.ipynb"),
)
# Settings chosen on the validation split (dppmg.experiments.selection), on seed 0: Stage 1's
# preference dimension first (it needs Stage 1 only), then the image sampling settings (they need
# the trained Stage 2 pipeline), as two cells per dataset.
SELECTION_STAGE = Stage("selection", "selection.ipynb", seeds=(0,), groups=SELECTION_GROUPS,
                        group_applies=selection_applies)
PREFERENCE_STAGE = Stage("preference", "preference.ipynb", seeds=(0, 1, 2), per_method=True)
# Stages 1-3 and the evaluation of every generation method, ablation, control and reference.
EVALUATION_STAGE = Stage("evaluation", "evaluation.ipynb", seeds=(0, 1, 2), per_method=True)

# How DPPMG depends on its codebook (dppmg.experiments.sensitivity_preference, dppmg.experiments.sensitivity_generation).
SENSITIVITY_STAGE = Stage("sensitivity", "sensitivity.ipynb", seeds=(0, 1, 2), groups=("codebook", "generation"))

SUITES: dict[str, tuple[Stage, ...]] = {
    "data": DATA_STAGES,
    "selection": (SELECTION_STAGE,),
    "preference": (PREFERENCE_STAGE,),
    "evaluation": (EVALUATION_STAGE,),
    "sensitivity": (SENSITIVITY_STAGE,),
    "reproduce": (*DATA_STAGES, SELECTION_STAGE, PREFERENCE_STAGE, EVALUATION_STAGE, SENSITIVITY_STAGE),
    # The stages whose results hold the goldens (benchmark.goldens): what CI's metric check runs.
    "goldens": (DATA_STAGES[0], PREFERENCE_STAGE, EVALUATION_STAGE),
}
