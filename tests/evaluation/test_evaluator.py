"""The evaluator: independent of the reward model, never trained on a test-period item, never
imported by training code."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from dppmg.config import alignment_config
from dppmg.errors import ConfigError, DPPMGError
from dppmg.evaluation.evaluator import check_independent
from dppmg.reward.alignment import AlignmentModel, heldout_items, retrieval_report, training_items

PACKAGE = Path(__file__).resolve().parents[2] / "dppmg"
# The method's training code: the stages and what drives them.
TRAINING_CODE = ["preference", "generation", "reward", "train.py", "methods.py", "data/features.py"]


def test_evaluator_is_never_the_reward_model(smoke_alignment):
    reward, evaluator, _, _ = smoke_alignment
    check_independent(reward, evaluator)
    with pytest.raises(DPPMGError, match="expected a reward model and an evaluator"):
        check_independent(reward, reward)
    twin = copy.deepcopy(evaluator)
    import dataclasses

    twin.config = dataclasses.replace(evaluator.config, seed=reward.config.seed)  # the reward model's seed
    with pytest.raises(DPPMGError, match="seeded and built differently"):
        check_independent(reward, twin)
    clone = AlignmentModel(evaluator.config, 1280, 384)
    clone.load_state_dict(evaluator.state_dict())
    clone.text_head = reward.text_head  # shares the reward model's weights
    with pytest.raises(DPPMGError, match="shares memory"):
        check_independent(reward, clone)


def test_one_exclusion_rule_that_reads_the_training_split_only(smoke_stage2):
    _, data = smoke_stage2
    evaluator_items = training_items(data, alignment_config("evaluator", "smoke"))
    reward_items = training_items(data, alignment_config("reward", "smoke"))
    assert np.array_equal(evaluator_items, reward_items)
    assert set(evaluator_items) <= set(data.user_item_pairs("train")[:, 1])
    held = heldout_items(data, 0.1)
    assert len(held) and not np.intersect1d(held, reward_items).size
    # Moving the test interactions to other items changes neither model's items.
    moved = data.interactions.copy()
    test = moved["split"] == "test"
    moved.loc[test, "item"] = (moved.loc[test, "item"] + 1) % data.num_items
    assert np.array_equal(training_items(data.replace(interactions=moved), alignment_config("evaluator", "smoke")),
                          evaluator_items)


def test_retrieval_report_scores_a_perfect_and_a_reversed_model():
    class Similarity:
        def __init__(self, matrix):
            self.matrix = matrix

        def similarity(self, images, texts):
            return self.matrix

    n = 12
    feats = np.zeros((n, 3), dtype=np.float32)
    items = np.arange(n)
    perfect = retrieval_report(Similarity(torch.eye(n)), feats, feats, items)
    assert perfect["R@1"] == 1.0 and perfect["median rank"] == 1.0 and perfect["chance R@1"] == pytest.approx(1 / n)
    # Each text's own image scores lowest: rank n for every text.
    worst = retrieval_report(Similarity(-torch.eye(n)), feats, feats, items)
    assert worst["R@1"] == 0.0 and worst["R@10"] == 0.0 and worst["median rank"] == n
    with pytest.raises(ConfigError, match="unknown alignment role 'judge'"):
        alignment_config("judge", "smoke")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_no_training_code_imports_the_evaluation():
    files = [f for entry in TRAINING_CODE for f in
             ((PACKAGE / entry).rglob("*.py") if (PACKAGE / entry).is_dir() else [PACKAGE / entry])]
    assert len(files) > 15
    offenders = {str(f.relative_to(PACKAGE)): sorted(n for n in _imports(f) if n.startswith("dppmg.evaluation"))
                 for f in files}
    assert not {f: n for f, n in offenders.items() if n}, "training code imports the evaluation"
    # The check itself sees an import when there is one.
    assert "dppmg.evaluation.evaluator" in _imports(PACKAGE / "evaluation" / "evaluate.py")
