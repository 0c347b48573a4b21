"""``dppmg evaluate --config run.toml``: a run config file, checked, resolved and written back."""

from __future__ import annotations

import json

import pytest

from dppmg.cli import main
from dppmg.errors import ConfigError
from dppmg.infra.results import read_result
from dppmg.ui.run_config import load_run_config


@pytest.mark.parametrize("text, message", [
    ('dataset = "synthetic"\nmethd = "dppmg"\n', r"run.toml: unknown key\(s\) \['methd'\]"),
    ('dataset = "synthetic"\nseed = "zero"\n', "seed = 'zero' should be a int"),
    ('dataset = "synthetic"\n[overrides.stage2]\ntext_stepz = 3\n',
     r"\[overrides.stage2\]: unknown stage2 config option\(s\) \['text_stepz'\]"),
    ('dataset = "synthetic"\n[overrides.stage9]\nx = 3\n', "unknown override stage"),
    ("dataset = \n", "not valid TOML"),
])
def test_unknown_keys_and_wrong_types_are_named(tmp_path, text, message):
    bad = tmp_path / "run.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_run_config(bad)


def test_evaluate_from_a_config_file_writes_the_resolved_run(tmp_path, session_cache, capsys):
    run = tmp_path / "run.toml"
    run.write_text('dataset = "synthetic"\nmethod = "nonpersonalized"\npreset = "smoke"\nseed = 3\nusers = 4\n')
    out = tmp_path / "r.json"
    # The command line wins over the file: seed 1, not 3.
    assert main(["evaluate", "--config", str(run), "--seed", "1", "--out", str(out),
                 "--cache-dir", str(session_cache)]) == 0
    result = read_result(out, stage="evaluation", dataset="synthetic")
    assert result["method"] == "nonpersonalized" and result["seed"] == 1 and len(result["metrics"]["users"]) == 4
    resolved = json.loads((tmp_path / "r.config.json").read_text())
    assert resolved["seed"] == {"value": 1, "from": "command line"}
    assert resolved["preset"] == {"value": "smoke", "from": str(run)}
    assert resolved["split"] == {"value": "test", "from": "default"}
    run.write_text('method = "nonpersonalized"\n')
    assert main(["evaluate", "--config", str(run)]) == 2
    assert "no dataset" in capsys.readouterr().err
