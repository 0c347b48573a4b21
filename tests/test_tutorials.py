"""Every tutorial runs top to bottom at the smoke preset, and stays thin."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest

from benchmark.kernels import IPCKernelManager

TUTORIALS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("*.ipynb"))


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_at_smoke(path, tmp_path):
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), parameters={"preset": "smoke",
                                                                "figure_path": str(tmp_path / "grid.png")},
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path),
                               kernel_manager_class=IPCKernelManager)
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_is_thin(path):
    nb = nbformat.read(path, as_version=4)
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def " not in code and "class " not in code
