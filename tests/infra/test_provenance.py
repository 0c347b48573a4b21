"""Provenance: the git state a result records."""

from __future__ import annotations

import subprocess

import pytest

import dppmg.infra.provenance
from dppmg.infra.provenance import git_state, provenance


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "results" / "small").mkdir(parents=True)
    (tmp_path / "dppmg.py").write_text("x = 1\n")
    (tmp_path / "results" / "small" / "table.md").write_text("| a |\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_a_clean_checkout_is_not_dirty(repo):
    state = git_state(repo)
    assert len(state["git_sha"]) == 40 and state["git_dirty"] is False


def test_rewritten_suite_outputs_do_not_make_the_code_dirty(repo):
    (repo / "results" / "small" / "table.md").write_text("| b |\n")
    (repo / "notes.txt").write_text("untracked\n")
    assert git_state(repo)["git_dirty"] is False


def test_a_changed_source_file_is_dirty(repo):
    (repo / "dppmg.py").write_text("x = 2\n")
    assert git_state(repo)["git_dirty"] is True


def test_outside_a_checkout_the_state_is_unknown(tmp_path):
    assert git_state(tmp_path / "nowhere") == {"git_sha": None, "git_dirty": None}


def test_a_result_names_the_code_its_process_started_with(monkeypatch):
    started = dict(dppmg.infra.provenance.CODE_STATE_AT_START)
    monkeypatch.setattr(dppmg.infra.provenance, "git_state", lambda *a, **k: {"git_sha": "0" * 40, "git_dirty": True})
    record = provenance({"a": 1}, seed=0)
    assert (record["git_sha"], record["git_dirty"]) == (started["git_sha"], started["git_dirty"])
