"""Figures fit their content (dppmg.ui.plotting)."""

import numpy as np
import pytest
from PIL import Image

from dppmg.ui.plotting import generation_grid, methods_grid


def _tallest_white_band(path) -> float:
    """The tallest run of all-white pixel rows, as a share of the image height."""
    white = (np.asarray(Image.open(path).convert("L")) > 250).all(axis=1)
    tallest = run = 0
    for is_white in white:
        run = run + 1 if is_white else 0
        tallest = max(tallest, run)
    return tallest / len(white)


@pytest.mark.parametrize("methods", [1, 3, 14])
def test_the_sample_grid_has_no_empty_band(tmp_path, methods):
    rng = np.random.default_rng(0)
    users = [{"user_id": f"u{j}", "text": "A green polka-dot triangle, cheerful and whimsical. " * 3,
              "image": rng.random((48, 32, 3))} for j in range(6)]
    history = [[rng.random((48, 32, 3)) for _ in range(3)] for _ in range(6)]
    path = methods_grid({f"method {i}": users for i in range(methods)}, tmp_path / "grid.png",
                        "synthetic (smoke, seed 0): the same test users across methods", history=history)
    assert _tallest_white_band(path) < 0.06


def test_the_generation_grid_has_no_empty_band(tmp_path):
    rng = np.random.default_rng(0)
    results = [{"user_id": str(j), "text": "A movie. " * 20, "image": rng.random((48, 32, 3))} for j in range(8)]
    assert _tallest_white_band(generation_grid(results, tmp_path / "g.png", "movielens: generated")) < 0.06
