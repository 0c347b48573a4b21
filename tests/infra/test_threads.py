"""How many threads a cell or a command computes with (dppmg.infra.threads, dppmg --threads)."""

import pytest

from dppmg.cli import build_parser
from dppmg.errors import ConfigError
from dppmg.infra import threads


def test_default_threads_share_the_free_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "free_cores", lambda: 4)
    assert threads.default_threads() == 4
    assert threads.default_threads(workers=2) == 2
    assert threads.default_threads(workers=8) == 1


def test_omp_num_threads_set_by_the_user_wins(monkeypatch):
    monkeypatch.setattr(threads, "free_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_a_bad_omp_num_threads_is_named(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS"):
        threads.default_threads()


def test_free_cores_take_the_load_off(monkeypatch):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert threads.free_cores() == 1
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (5.0, 0.0, 0.0))
    assert threads.free_cores() == 1
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert threads.free_cores() == 2


def test_the_compute_commands_take_threads():
    parser = build_parser()
    assert parser.parse_args(["evaluate", "--dataset", "synthetic", "--method", "dppmg", "--threads", "1"]).threads == 1
    assert parser.parse_args(["train", "--dataset", "synthetic"]).threads is None
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--dataset", "synthetic", "--threads", "0"])
