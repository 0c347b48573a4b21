"""Synthetic world only: does a generation show the user's true preferred attributes?

The image's dominant colour (the palette colour nearest to its most saturated pixels) against the
user's true colour, and the text's dominant style word against the user's true style.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PIL import Image

from dppmg.data.schema import InteractionData
from dppmg.data.synthetic import COLOURS, STYLE_WORDS, STYLES
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
    """Per generation (1/0; NaN where a measure does not apply to the user):

    * ``image_colour`` / ``text_style``: the image shows the user's true colour, the text the true style;
    * for *divergent* users (their preferred style is not the one tied to their preferred colour),
      whether each generator follows its own modality's preference or the other's:
      ``divergent_image_colour`` / ``divergent_text_style`` (own), and
      ``divergent_text_follows_image`` (the text shows the style tied to the user's colour) /
      ``divergent_image_follows_text`` (the image shows the colour tied to the user's style).
    """
    if data.ground_truth is None:
        raise DPPMGError(f"dataset {data.name!r} has no ground-truth preferences; attribute accuracy is "
                         "defined on the synthetic world only")
    truth = data.ground_truth["users"].set_index("user_id")
    rows = [truth.loc[x["user_id"]] for x in results]
    colours = [dominant_colour(x["image"]) for x in results]
    styles = [text_style(x["text"]) for x in results]
    # Style i is the one tied to colour i (dppmg.data.synthetic).
    colour_names, style_names = list(COLOURS), list(STYLES)
    divergent = np.array([bool(t["divergent"]) for t in rows])

    def only_divergent(hits) -> np.ndarray:
        return np.where(divergent, np.asarray(hits, dtype=float), np.nan)

    tied_style = [style_names[colour_names.index(t["pref_colour"])] for t in rows]
    tied_colour = [colour_names[style_names.index(t["pref_style"])] for t in rows]
    return {"image_colour": np.array([c == t["pref_colour"] for c, t in zip(colours, rows)], dtype=float),
            "text_style": np.array([s == t["pref_style"] for s, t in zip(styles, rows)], dtype=float),
            "divergent_image_colour": only_divergent([c == t["pref_colour"] for c, t in zip(colours, rows)]),
            "divergent_text_style": only_divergent([s == t["pref_style"] for s, t in zip(styles, rows)]),
            "divergent_text_follows_image": only_divergent([s == ts for s, ts in zip(styles, tied_style)]),
            "divergent_image_follows_text": only_divergent([c == tc for c, tc in zip(colours, tied_colour)])}
