"""The method registry: one place for every name; plugins through the ``dppmg.methods`` entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dppmg import registry
from dppmg.errors import ConfigError
from dppmg.interface import GenerationMethod, RankingMethod

REPO = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""A third-party method: each user gets the catalogue item most similar to their last history item."""

from dppmg.interface import GenerationMethod


class LastItemEcho(GenerationMethod):
    name = "last-item-echo"
    description = "plugin test method: the user's last training item"
    kind = "generation"
    suites = ("evaluation",)
    order = 70

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.data import load_dataset
        from dppmg.data.images import load_image_array

        self.data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        self.images = load_image_array(self.data, cache_dir=cache_dir)
        return self.data

    def generate(self, user_ids, seed):
        from PIL import Image

        texts = self.data.items["text"].tolist()
        last = [h[-1] for h in self.data.items_by_user(list(user_ids), "train")]
        return [{"user_id": u, "text": texts[i], "image": Image.fromarray(self.images[i])}
                for u, i in zip(user_ids, last)]

    def config(self):
        return {"copies": "last training item"}
'''


def make_distribution(root: Path, entry_points: str, module: str = PLUGIN) -> Path:
    """An installed distribution as importlib.metadata sees it: a module and a .dist-info folder."""
    (root / "echo_plugin.py").write_text(module)
    info = root / "echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dppmg.methods]\n{entry_points}\n")
    return root


@pytest.fixture
def isolated_registry(monkeypatch):
    registry.methods()  # load the built-ins and the installed entry points first
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOAD_ERRORS", dict(registry._LOAD_ERRORS))


@pytest.fixture
def plugin(tmp_path, monkeypatch, isolated_registry):
    root = tmp_path / "site"
    root.mkdir()
    make_distribution(root, "last-item-echo = echo_plugin:LastItemEcho")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", str(root), prepend=os.pathsep)  # for kernels and subprocesses
    registry.refresh()
    yield root
    sys.modules.pop("echo_plugin", None)


def test_every_method_is_registered_once_with_a_kind_and_suites():
    specs = registry.methods()
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    assert {"dppmg", "dppmg-no-reward", "dppmg-shuffled-tokens", "nonpersonalized", "real-test-item",
            "popularity", "mf-bpr", "lightgcn", "shared"} <= set(names)
    for spec in specs:
        assert spec.kind in registry.KINDS and set(spec.suites) <= set(registry.SUITES) and spec.description
    assert registry.method_names(suite="preference") == ["popularity", "mf-bpr", "lightgcn", "shared", "dppmg"]
    assert registry.get_spec("mf-bpr").source == "entry point dppmg"  # baselines register by entry point
    assert registry.get_spec("dppmg").source == "entry point dppmg"  # so do DPPMG and its variants


def test_a_method_name_appears_once_outside_tests_docs_and_results():
    for name in ("mf-bpr", "dppmg-no-reward"):
        out = subprocess.run(["git", "grep", "--untracked", "-n", f'"{name}"', "--", ".", ":!tests", ":!docs", ":!results",
                              ":!*.md"], cwd=REPO, capture_output=True, text=True)
        if out.returncode not in (0, 1):
            pytest.skip(f"git grep unavailable: {out.stderr.strip()}")
        hits = out.stdout.strip().splitlines()
        assert len(hits) == 1 and 'name = "' in hits[0], hits


def test_register_method_validates_the_class(isolated_registry):
    class NoKind(GenerationMethod):
        name = "no-kind"
        kind = "magic"

    with pytest.raises(ConfigError, match="kind 'magic' is not one of"):
        registry.register_method(NoKind)

    class Ranker(RankingMethod):
        name = "ranker"
        suites = ("evaluation",)

    with pytest.raises(ConfigError, match="must subclass GenerationMethod"):
        registry.register_method(Ranker)

    class Impostor(GenerationMethod):
        name = "dppmg"

    with pytest.raises(ConfigError, match="'dppmg' .* is already registered by dppmg.methods.DPPMG"):
        registry.register_method(Impostor)


def test_in_process_registration_reaches_the_cli(isolated_registry, capsys):
    @registry.register_method
    class Notebook(GenerationMethod):
        name = "from-a-notebook"
        description = "registered in-process"

    from dppmg.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "from-a-notebook" in capsys.readouterr().out
    assert registry.get_spec("from-a-notebook").source == "in-process"


def test_a_plugin_distribution_registers_through_the_entry_point(plugin, capsys):
    from benchmark.suites import EVALUATION_STAGE
    from dppmg.cli import main

    spec = registry.get_spec("last-item-echo")
    assert spec.source == "entry point echo-plugin" and spec.order == 70
    assert "last-item-echo" in EVALUATION_STAGE.methods
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "last-item-echo" in capsys.readouterr().out
    # A separate process (a fresh interpreter, as the harness's kernels are) finds it too.
    listed = subprocess.run([sys.executable, "-c", "from dppmg.registry import method_names; "
                             "print(method_names(suite='evaluation'))"], capture_output=True, text=True, check=True)
    assert "last-item-echo" in listed.stdout


def test_a_broken_plugin_is_named_and_the_others_still_load(tmp_path, monkeypatch, isolated_registry):
    root = tmp_path / "site"
    root.mkdir()
    make_distribution(root, "echo = echo_plugin:Missing")
    monkeypatch.syspath_prepend(str(root))
    registry.refresh()
    assert "dppmg" in registry.method_names()
    with pytest.raises(ConfigError, match=r"unknown method 'echo'.*entry point echo = echo_plugin:Missing "
                                          r"\(echo-plugin\) failed to load"):
        registry.get_spec("echo")
    sys.modules.pop("echo_plugin", None)


def test_the_harness_runs_a_plugin_method(plugin, tmp_path, session_cache):
    from benchmark.harness import run_suite
    from dppmg.infra.results import read_result

    written = run_suite("evaluation", "smoke", datasets=["synthetic"], seeds=[0], methods=["last-item-echo"],
                        results_dir=tmp_path / "results", log=lambda m: None)
    result = read_result(tmp_path / "results/runs/smoke/evaluation/synthetic__last-item-echo__seed0.json",
                         stage="evaluation")
    assert result["provenance"]["config"]["method_config"] == {"copies": "last training item"}
    table = pd.read_csv(written["generation"].with_suffix(".csv"))
    assert list(table["method"]) == ["last-item-echo"]
    json.dumps(result)  # the result file is plain JSON
    with pytest.raises(ConfigError, match="unknown method\\(s\\) nobody in --methods"):
        run_suite("evaluation", "smoke", datasets=["synthetic"], methods=["nobody"], results_dir=tmp_path)


def test_an_installation_without_the_suites_own_entry_points_is_told_to_reinstall(monkeypatch, isolated_registry):
    # An editable install whose metadata predates DPPMG's entry points registers no DPPMG.
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [])
    registry.refresh()
    with pytest.raises(ConfigError, match=r"unknown method 'dppmg'.*run `pip install -e \.`"):
        registry.get_spec("dppmg")
