"""The built-in synthetic world: items and users whose modality-specific preferences are known.

Each item has **visual attributes** — colour (6), shape (4), pattern (3) — rendered into a 2:3
portrait image, and a **textual attribute** — a style (6) — expressed by the words of its text. The
text also names the visible colour, pattern and shape, so an item's image and text agree. Style
*i* co-occurs with colour *i* in half the catalogue (a natural correlation, like "rugged" with
brown leather), so the two modalities are related but not redundant.

Each user has a preferred colour and shape (image preference) and a preferred style (text
preference). For a ``divergent_fraction`` of users the preferred style is *not* the one
associated with their preferred colour: their text and image preferences differ. A user's history
is drawn without replacement with probability proportional to ``exp(utility)``, where

    utility(u, i) = w_img * (1[colour_i = c_u] + 0.5 * 1[shape_i = s_u]) + w_txt * 1[style_i = t_u] + b_i

with a per-item popularity bias ``b_i ~ N(0, 0.5)``; the chosen items are then put in a random
time order with exponential gaps. Everything is a deterministic function of the config's seed.
``InteractionData.ground_truth`` exposes the per-user and per-item attributes for evaluation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from dppmg.data.config import SyntheticConfig
from dppmg.data.schema import InteractionData, StageCount
from dppmg.infra.io import atomic_path, stable_hash

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 39, 40), "orange": (255, 127, 14), "yellow": (230, 200, 20),
    "green": (44, 160, 44), "blue": (31, 90, 220), "purple": (148, 60, 189),
}
SHAPES = ("circle", "square", "triangle", "star")
PATTERNS = ("solid", "striped", "dotted")
STYLES = ("vintage", "sporty", "elegant", "playful", "minimalist", "rugged")
STYLE_WORDS: dict[str, tuple[str, ...]] = {
    "vintage": ("retro", "nostalgic", "old-fashioned", "classic", "timeworn"),
    "sporty": ("athletic", "dynamic", "energetic", "fast", "active"),
    "elegant": ("refined", "graceful", "luxurious", "polished", "sophisticated"),
    "playful": ("cheerful", "whimsical", "fun", "bubbly", "quirky"),
    "minimalist": ("simple", "clean", "understated", "sleek", "plain"),
    "rugged": ("sturdy", "tough", "outdoor", "durable", "weathered"),
}
_TEMPLATES = (
    "{A_w1} {colour} {pattern} {shape}. {W2} and {w3}, a {style} piece.",
    "{W1} {style} design: {a_colour} {shape} with a {pattern} finish, {w2} and {w3}.",
    "This {colour} {shape} is {w1} and {w2}; its {pattern} surface feels {w3}. Pure {style} style.",
)


def _pattern_word(pattern: str) -> str:
    return {"solid": "solid", "striped": "striped", "dotted": "polka-dot"}[pattern]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def item_text(colour: str, shape: str, pattern: str, style: str, rng: np.random.Generator) -> str:
    words = rng.choice(STYLE_WORDS[style], size=3, replace=False)
    template = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
    return template.format(w1=words[0], w2=words[1], w3=words[2], W1=words[0].capitalize(),
                           A_w1=_article(words[0]).capitalize() + f" {words[0]}", a_colour=f"{_article(colour)} {colour}",
                           W2=words[1].capitalize(), colour=colour, shape=shape,
                           pattern=_pattern_word(pattern), style=style)


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.8), (cx - r * 0.95, cy + r * 0.8)]
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            ang = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(ang), cy + rad * np.sin(ang)))
        return pts
    return None  # circle


def render_item(colour: str, shape: str, pattern: str, rng: np.random.Generator,
                width: int = 96, height: int = 144) -> Image.Image:
    """Render one item: a patterned shape on a light, slightly noisy background."""
    base = int(rng.integers(205, 245))
    tint = rng.integers(-12, 13, size=3)
    bg = np.clip(np.full((height, width, 3), base) + tint + rng.normal(0, 4, (height, width, 1)), 0, 255)
    canvas = Image.fromarray(bg.astype(np.uint8), "RGB")
    r = width * float(rng.uniform(0.28, 0.38))
    cx = width / 2 + float(rng.uniform(-0.08, 0.08)) * width
    cy = height / 2 + float(rng.uniform(-0.1, 0.1)) * height
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    poly = _shape_polygon(shape, cx, cy, r)
    if poly is None:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        draw.polygon(poly, fill=255)
    rgb = np.array(COLOURS[colour], dtype=np.float64)
    fill = Image.new("RGB", (width, height), tuple(int(c) for c in rgb))
    if pattern != "solid":
        light = tuple(int(c) for c in np.clip(rgb * 0.45 + 140, 0, 255))
        pd_ = ImageDraw.Draw(fill)
        step = max(4, width // 10)
        if pattern == "striped":
            for x in range(-height, width + height, step):
                pd_.line([(x, 0), (x + height, height)], fill=light, width=max(2, step // 3))
        else:
            for y in range(step // 2, height, step):
                for x in range(step // 2 + (y // step % 2) * step // 2, width, step):
                    pd_.ellipse([x - step / 4, y - step / 4, x + step / 4, y + step / 4], fill=light)
    canvas.paste(fill, (0, 0), mask.filter(ImageFilter.GaussianBlur(0.6)))
    return canvas


def user_id(index: int) -> str:
    """The synthetic world's id of user ``index`` (``u00042``)."""
    return f"u{index:05d}"


def generate_synthetic(config: SyntheticConfig, image_dir: Path) -> InteractionData:
    """Build the synthetic world for ``config`` and render its images into ``image_dir``."""
    rng = np.random.default_rng(config.seed)
    colours, n_items, n_users = list(COLOURS), config.num_items, config.num_users
    item_colour = rng.integers(len(colours), size=n_items)
    item_shape = rng.integers(len(SHAPES), size=n_items)
    item_pattern = rng.integers(len(PATTERNS), size=n_items)
    paired = rng.random(n_items) < 0.5
    item_style = np.where(paired, item_colour, rng.integers(len(STYLES), size=n_items))
    popularity = rng.normal(0.0, 0.5, size=n_items)

    user_colour = rng.integers(len(colours), size=n_users)
    user_shape = rng.integers(len(SHAPES), size=n_users)
    divergent = rng.random(n_users) < config.divergent_fraction
    other_style = (user_colour + rng.integers(1, len(STYLES), size=n_users)) % len(STYLES)
    user_style = np.where(divergent, other_style, user_colour)

    utility = (config.image_weight * ((item_colour[None, :] == user_colour[:, None])
                                      + 0.5 * (item_shape[None, :] == user_shape[:, None]))
               + config.text_weight * (item_style[None, :] == user_style[:, None]) + popularity[None, :])
    lengths = rng.integers(config.min_history, config.max_history + 1, size=n_users)
    start = 1_500_000_000 + rng.integers(0, 365 * 86400, size=n_users)
    rows = []
    for u in range(n_users):
        gumbel = rng.gumbel(size=n_items)
        chosen = np.argsort(-(utility[u] + gumbel))[: lengths[u]]
        rng.shuffle(chosen)
        times = start[u] + np.cumsum(rng.exponential(86400.0, size=len(chosen))).astype(np.int64)
        rows.extend((user_id(u), f"i{i:05d}", int(t)) for i, t in zip(chosen, times))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    interactions["rating"] = np.nan
    interactions["source_row"] = np.arange(1, len(interactions) + 1)

    text_rng = np.random.default_rng([config.seed, 1])
    image_dir.mkdir(parents=True, exist_ok=True)
    item_rows = []
    for i in range(n_items):
        colour, shape = colours[item_colour[i]], SHAPES[item_shape[i]]
        pattern, style = PATTERNS[item_pattern[i]], STYLES[item_style[i]]
        path = image_dir / f"i{i:05d}.png"
        if not path.is_file():
            img = render_item(colour, shape, pattern, np.random.default_rng([config.seed, 2, i]),
                              config.render_width, config.render_height)
            with atomic_path(path, suffix=".png") as tmp:
                img.save(tmp, format="PNG")
        item_rows.append({"item_id": f"i{i:05d}", "title": f"{style} {colour} {shape}",
                          "text": item_text(colour, shape, pattern, style, text_rng), "description": None,
                          "image_path": str(path), "colour": colour, "shape": shape, "pattern": pattern,
                          "style": style})
    items = pd.DataFrame(item_rows)
    items["description"] = items["text"]
    users = pd.DataFrame({
        "user_id": [user_id(u) for u in range(n_users)],
        "pref_colour": [colours[c] for c in user_colour], "pref_shape": [SHAPES[s] for s in user_shape],
        "pref_style": [STYLES[s] for s in user_style], "divergent": divergent,
    })
    ground_truth = {
        "users": users[["user_id", "pref_colour", "pref_shape", "pref_style", "divergent"]].copy(),
        "items": items[["item_id", "colour", "shape", "pattern", "style"]].copy(),
        "attributes": {"colour": colours, "shape": list(SHAPES), "pattern": list(PATTERNS), "style": list(STYLES)},
        "style_paired_with_colour": dict(zip(STYLES, colours)),
    }
    return InteractionData("synthetic", users, items, interactions, ground_truth=ground_truth,
                           stages=[StageCount("generated", n_users, n_items, len(interactions))],
                           info={"synthetic_config": dataclasses.asdict(config)})


def synthetic_image_dir(cache_root: Path, config: SyntheticConfig) -> Path:
    """Where the rendered images of ``config`` live (keyed by everything that changes a pixel)."""
    key = stable_hash("synthetic-images-v1", config.seed, config.num_items, config.render_width, config.render_height)
    return cache_root / "synthetic" / key

