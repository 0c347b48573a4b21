"""Datasets in one schema: MovieLens (+posters, +IMDb plots), H&M, and the synthetic world.

>>> from dppmg.data import load_dataset
>>> data = load_dataset("synthetic", preset="smoke")
>>> data.num_users, sorted(data.interactions["split"].unique())  # doctest: +SKIP
"""

from dppmg.data.datasets import REAL_DATASETS, dataset_dir, load_dataset, process
from dppmg.data.images import load_image_array
from dppmg.data.schema import DropRecord, InteractionData, StageCount
from dppmg.data.stats import dataset_statistics, format_statistics

__all__ = [
    "REAL_DATASETS", "DropRecord", "InteractionData", "StageCount", "dataset_dir", "dataset_statistics",
    "format_statistics", "load_dataset", "load_image_array", "process",
]
