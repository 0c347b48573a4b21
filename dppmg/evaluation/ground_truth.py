"""Synthetic world only: does a generation show the user's true preferred attributes?

The image's dominant colour (the palette colour nearest to its most saturated pixels) against the
user's true colour, and the text's dominant style word against the user's true style.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from dppmg.data.schema import InteractionData
from dppmg.data.synthetic import COLOURS, STYLE_WORDS
from dppmg.errors import DPPMGError


def dominant_colour(image: Image.Image) -> str:
    """The palette colour nearest to the image's saturated pixels."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3)
    saturation = arr.max(axis=1) - arr.min(axis=1)
    # The shape covers a small part of the canvas: vote with its most saturated pixels only.
    pixels = arr[saturation >= np.quantile(saturation, 0.95)]
    names, palette = list(COLOURS), np.array(list(COLOURS.values()), dtype=np.float32)
    votes = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
    return names[int(np.bincount(votes, minlength=len(names)).argmax())]


def text_style(text: str) -> str | None:
    """The style whose words occur most in ``text`` (None if none does)."""
    words = text.lower()
    counts = {s: sum(words.count(w) for w in (s, *STYLE_WORDS[s])) for s in STYLE_WORDS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else None


def ground_truth_hits(results: Sequence[dict[str, Any]], data: InteractionData) -> dict[str, np.ndarray]:
    """Per generation: does the image show the user's true colour, the text the true style (1/0)?"""
    if data.ground_truth is None:
        raise DPPMGError(f"dataset {data.name!r} has no ground-truth preferences; attribute accuracy is "
                         "defined on the synthetic world only")
    truth = data.ground_truth["users"].set_index("user_id")
    return {"image_colour": np.array([dominant_colour(x["image"]) == truth.loc[x["user_id"], "pref_colour"]
                                      for x in results], dtype=float),
            "text_style": np.array([text_style(x["text"]) == truth.loc[x["user_id"], "pref_style"]
                                    for x in results], dtype=float)}
