"""Shared fixtures: a private cache per test session and the real data root (tests that need the
real datasets are skipped, with the reason, when ``DPPMG_DATA_DIR`` is unset)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# The user's own cache, captured before the tests isolate theirs: slow benchmarks of trained
# models read checkpoints from here instead of training them again.
USER_CACHE = Path(os.environ.get("DPPMG_CACHE_DIR") or Path.home() / ".cache" / "dppmg")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dppmg-cache")


@pytest.fixture(scope="session")
def user_cache() -> Path:
    return USER_CACHE


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache, monkeypatch):
    # Every test reads and writes caches under the session's temporary folder, never ~/.cache.
    monkeypatch.setenv("DPPMG_CACHE_DIR", str(session_cache))


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("DPPMG_DATA_DIR")
    if not root:
        pytest.skip("real data not available: set DPPMG_DATA_DIR to the folder holding movielens-100k/ and hm-sample/")
    path = Path(root)
    if not path.is_dir():
        pytest.skip(f"DPPMG_DATA_DIR={root} does not exist")
    return path


def _dataset_folder(data_root: Path, folder: str) -> Path:
    path = data_root / folder
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def movielens_root(data_root) -> Path:
    return _dataset_folder(data_root, "movielens-100k")


@pytest.fixture(scope="session")
def hm_root(data_root) -> Path:
    return _dataset_folder(data_root, "hm-sample")


@pytest.fixture(scope="session")
def movielens(data_root, session_cache):
    from dppmg.data import load_dataset

    return load_dataset("movielens", data_root=data_root, cache_dir=session_cache)


@pytest.fixture(scope="session")
def smoke_synthetic(session_cache):
    from dppmg.data import load_dataset

    return load_dataset("synthetic", preset="smoke", cache_dir=session_cache)


@pytest.fixture(scope="session")
def smoke_stage2(session_cache):
    """DPPMG's Stage 2 pipeline on the smoke synthetic world (Stage 1 and 2 trained once per session)."""
    from dppmg.methods import DPPMG
    from dppmg.train import train_dppmg

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DPPMG_CACHE_DIR", str(session_cache))
        pipe, data, _ = train_dppmg(DPPMG().run_config("synthetic", "smoke", 0, with_reward=False), cache_dir=session_cache, progress=False)
    return pipe, data


@pytest.fixture(scope="session")
def smoke_alignment(smoke_stage2, session_cache):
    """The reward model and the evaluator of the smoke synthetic world, with their reports."""
    from dppmg.evaluation.evaluator import load_or_train_evaluator
    from dppmg.reward.model import load_or_train_reward_model

    _, data = smoke_stage2
    reward, reward_report = load_or_train_reward_model(data, "smoke", session_cache, progress=False)
    evaluator, evaluator_report = load_or_train_evaluator(data, "smoke", session_cache, progress=False)
    return reward, evaluator, reward_report, evaluator_report
