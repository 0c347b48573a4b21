"""Where cells run: local, a process pool, submitit (its local cluster: the real code path of a
SLURM run, as subprocesses); resuming; failed cells; shared cache entries built once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from benchmark.executors import make_executor
from benchmark.harness import CellsFailed, run_suite
from dppmg.errors import ConfigError

# Timings inside the metrics differ between any two runs; everything else must not.
TIMING_KEYS = {"epoch_seconds"}


def _metrics(results_dir):
    out = {}
    for path in sorted((results_dir / "runs" / "smoke" / "preference").glob("*.json")):
        metrics = json.loads(path.read_text())["metrics"]
        out[path.name] = {k: v for k, v in metrics.items() if k not in TIMING_KEYS | {"checkpoint"}}
    return out


@pytest.fixture
def shared_cache(tmp_path, monkeypatch):
    # Jobs are other processes: they find the cache through the environment they inherit.
    cache = tmp_path / "cache"
    monkeypatch.setenv("DPPMG_CACHE_DIR", str(cache))
    return cache


SUITE = dict(datasets=["synthetic"], seeds=[0, 1], methods=["popularity", "mf-bpr"], runner="inline", threads=1)


def test_submitit_local_executor_with_two_workers_gives_the_local_result_files(tmp_path, shared_cache):
    pytest.importorskip("submitit")
    lines: list[str] = []
    run_suite("preference", "smoke", results_dir=tmp_path / "local", progress=False, log=lambda m: None, **SUITE)
    run_suite("preference", "smoke", results_dir=tmp_path / "jobs", executor="submitit", workers=2,
              cluster="local", progress=False, log=lines.append, **SUITE)
    local, jobs = _metrics(tmp_path / "local"), _metrics(tmp_path / "jobs")
    assert sorted(local) == sorted(jobs) == sorted(f"synthetic__{m}__seed{s}.json" for m in SUITE["methods"]
                                                   for s in SUITE["seeds"])
    assert local == jobs
    assert any(line.startswith("plan: suite preference") and "submitit (2 workers)" in line for line in lines)
    table_rows = [[line for line in (tmp_path / d / "smoke" / "ranking.md").read_text().splitlines()
                   if line.startswith("|")] for d in ("local", "jobs")]
    assert table_rows[0] == table_rows[1] and len(table_rows[0]) == 2 + 2  # header, rule, 2 methods

    # An interrupted run (one result lost) resumes: only the missing cell runs, the others are kept.
    runs = tmp_path / "jobs" / "runs" / "smoke" / "preference"
    kept = {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json")}
    (runs / "synthetic__mf-bpr__seed1.json").unlink()
    lines.clear()
    run_suite("preference", "smoke", results_dir=tmp_path / "jobs", resume=True, progress=False, log=lines.append,
              **SUITE)
    assert [line for line in lines if line.endswith(" s") and "done in" in line] == \
        [line for line in lines if "[preference] synthetic mf-bpr seed 1: done in" in line]
    assert len([line for line in lines if "done in" in line]) == 1
    assert {p.name: p.stat().st_mtime_ns for p in runs.glob("*.json") if p.name in kept
            and p.name != "synthetic__mf-bpr__seed1.json"} == {k: v for k, v in kept.items()
                                                                if k != "synthetic__mf-bpr__seed1.json"}


def test_a_failed_cell_is_reported_with_its_log_and_the_others_finish(tmp_path, shared_cache):
    lines: list[str] = []
    empty_root = tmp_path / "no-data"
    empty_root.mkdir()
    with pytest.raises(CellsFailed, match=r"1 cell\(s\) failed.*movielens mf-bpr seed 0.*log: .*\.log"):
        run_suite("preference", "smoke", datasets=["synthetic", "movielens"], seeds=[0], methods=["mf-bpr"],
                  data_root=str(empty_root), results_dir=tmp_path / "out", executor="pool", workers=2,
                  runner="inline", threads=1, progress=False, log=lines.append)
    runs = tmp_path / "out" / "runs" / "smoke" / "preference"
    assert (runs / "synthetic__mf-bpr__seed0.json").is_file()
    assert "movielens" in (runs / "movielens__mf-bpr__seed0.log").read_text()
    table = (tmp_path / "out" / "smoke" / "ranking.md").read_text()
    # The failed cell is named once, with its log; the rest of the grid's absent cells are grouped.
    assert "movielens mf-bpr seed 0 (failed" in table and table.count("movielens mf-bpr seed 0") == 1
    assert "[preference] synthetic, no result: popularity (seed 0)" in table
    assert "| synthetic" in table


def test_bad_executor_input_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="unknown executor 'slurm'; expected one of local, pool, submitit"):
        make_executor("slurm")
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        make_executor("pool", workers=0)
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(ConfigError, match=r"needs the submitit package: pip install 'dppmg\[cluster\]'"):
        make_executor("submitit", folder=tmp_path)


BUILD_ONCE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dppmg.infra import cache

    folder, counter = Path(sys.argv[1]), Path(sys.argv[2])
    with cache.lock(folder, "test entry"):
        if not cache.reuse(folder, "test entry"):
            with open(counter, "a") as fh:
                fh.write("built\\n")
            time.sleep(1.5)
            with cache.entry(folder) as tmp:
                (tmp / "value.txt").write_text("42")
    print((folder / "value.txt").read_text())
""")


def test_a_shared_cache_entry_is_built_once_while_the_other_process_waits(tmp_path):
    folder, counter = tmp_path / "cache" / "stage" / "entry", tmp_path / "built.txt"
    procs = [subprocess.Popen([sys.executable, "-c", BUILD_ONCE, str(folder), str(counter)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert counter.read_text() == "built\n"
    assert [out.strip() for out, _ in outputs] == ["42", "42"]
    assert sum("waiting for test entry" in err for _, err in outputs) == 1


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path, shared_cache):
    pytest.importorskip("submitit")
    lines: list[str] = []
    assert run_suite("preference", "smoke", results_dir=tmp_path / "dry", executor="submitit", workers=2,
                     dry_run=True, log=lines.append, **SUITE) == {}
    assert any("submitit (2 workers)" in line for line in lines)
    # No job folder, no run, no table: a dry run only reads.
    assert not (tmp_path / "dry").exists()
