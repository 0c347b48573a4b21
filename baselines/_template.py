"""Template: how to add a generation method and compare it with DPPMG.

A new method is this one file plus one registration line.

1. Copy this file to ``baselines/<your_method>.py`` (or into your own package) and rename the class.
   Its class attributes say what it is: ``name`` (what commands and tables call it),
   ``description`` (one line), ``kind`` (``generation``, ``ablation``, ``control`` or
   ``reference``), the harness ``suites`` it runs in and its ``order`` in the tables.
2. ``fit`` trains (or loads from the cache, see :mod:`dppmg.infra.io` for atomic writes) whatever your
   method needs from the *training* interactions only, and returns the processed dataset.
3. ``generate`` returns, per user id, a dict with at least ``user_id``, ``text`` (str) and
   ``image`` (a 32x48 RGB ``PIL.Image``, the resolution the metrics compare at).
4. Register it with one line under ``[project.entry-points."dppmg.methods"]`` in
   ``pyproject.toml`` (your own package's, or this suite's for a file in ``baselines/``), then
   reinstall (``pip install -e .``) so that the entry point is recorded::

       my-method = "baselines.my_method:MyMethod"

   (In a notebook or a test, ``dppmg.registry.register_method(MyMethod)`` registers it for the
   running process only.)
5. ``dppmg evaluate --dataset D --method my-method --preset small --seed S`` and
   ``python -m benchmark run --suite evaluation --preset small`` then score it with the same
   evaluator and put it in the same tables as DPPMG.

Nothing registers this file: it only shows the shape of a method.
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.data import load_dataset
from dppmg.interface import GenerationMethod


class MyMethod(GenerationMethod):
    name = "my-method"
    description = "one line for the tables"
    kind = "generation"
    suites = ("evaluation",)
    order = 100

    def fit(self, dataset: str, preset: str, seed: int, *, data_root=None, cache_dir=None, progress=True):
        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        # Train on data.split_frame("train") here; record anything worth reporting in self.info
        # (self.info["timings"] may hold StageTimer records, which end up in the result file).
        self.data = data
        return data

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        raise NotImplementedError("generate a text and a 32x48 image per user")

    def config(self) -> dict[str, Any]:
        return {"my_hyperparameter": 1}
