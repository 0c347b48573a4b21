"""Every method name comes from the registry: no registered name is written as a literal in the
package outside the class that registers it (a renamed method cannot leave a stale copy behind)."""

from __future__ import annotations

import re
from pathlib import Path

from dppmg.registry import methods

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dppmg", "baselines", "benchmark")
# Strings equal to a method name that are not method names: the program, its cache folder and
# distribution ("dppmg"), and per-user token prefixes (a prefix of token names, not a method).
NOT_A_METHOD = tuple(re.compile(p) for p in (
    r'prog="dppmg"', r'"\.cache" / "dppmg"', r'^\s+"dppmg", "torch"', r'join\(\["dppmg", \*', r'source = "dppmg"',
    r'``"dppmg"``', r'method = "dppmg"$',  # the program, its cache folder and distribution; a run-config example
    r'prefix="(pepler|ti)"', r'user_token_names\(data, k, "pepler"\)',  # token-name prefixes
    # "shared" is also Stage 1's one-branch mode, "retrieval" a consistency test and "popularity"
    # the preference evaluator's reference model: keys and branch names, not method names.
    r'"shared": True', r'branch == "shared"', r'\("shared",\)', r'"shared": "pref"', r'the "shared"', r"'shared'\)",
    r'^NONPERSONALIZED = "nonpersonalized"$',  # the one definition, below the interface (generation/reuse.py)
    r'"retrieval": (metrics|"MiniLM)', r'"shared" preference, the ID-only', r'The "shared" ablation of Stage 1', r'\("popularity", popular\)', r'\["popularity"\]'))


def test_no_registered_name_is_a_literal_outside_its_registration():
    names = {s.name for s in methods()}
    literal = re.compile(r"""["'](%s)["']""" % "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not literal.search(line) or re.match(r"\s+name = ", line) or line.lstrip().startswith("#"):
                    continue
                if any(p.search(line) for p in NOT_A_METHOD):
                    continue
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "registered method names written as literals (use the class's .name):\n" + "\n".join(found)
