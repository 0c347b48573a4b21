"""What each generator reads: the prompts built from a user's preference tokens, and what each
token means (the texts its embedding starts from).

* Text: ``"Preferences: <txt_1_a> <txt_2_b> <txt_3_c>\\nItem:"`` (with ``text_sees_image_tokens``
  the image tokens too).
* Image: the image tokens (with ``image_sees_text_tokens`` the text tokens too) and, with
  ``image_sees_generated_text = N``, the first N words of the text generated for the same user.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.generation.config import Stage2Config
from dppmg.preference.checkpoint import Stage1Checkpoint


def leading_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text``."""
    return " ".join(text.split()[:n])


def text_prompt(tokens: Sequence[str]) -> str:
    """The LM prompt around ``tokens`` (no tokens: the non-personalized prompt)."""
    return f"Preferences: {' '.join(tokens)}\nItem:"


def generator_modalities(config: Stage2Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Whose tokens each generator reads: (text generator's modalities, image generator's)."""
    return (("text", "image") if config.text_sees_image_tokens else ("text",),
            ("image", "text") if config.image_sees_text_tokens else ("image",))


def token_branches(branches: Sequence[str], modalities: Sequence[str]) -> list[str]:
    """The Stage 1 branches whose tokens a generator reading ``modalities`` gets, in order and
    without repeats: each modality's own branch, or the one branch of a single-branch Stage 1 (the
    "shared" preference, the ID-only no-graph ablation), which both generators then read."""
    branches = list(branches)
    out: list[str] = []
    for m in modalities:
        if m in branches:
            b = m
        elif len(branches) == 1:
            b = branches[0]
        else:
            raise DPPMGError(f"the Stage 1 tokens have branches {branches}: none for the {m} generator")
        if b not in out:
            out.append(b)
    return out


def _reads(tokens: dict[str, list[str]], modalities: Sequence[str]) -> list[str]:
    return [t for b in token_branches(list(tokens), modalities) for t in tokens[b]]


def user_text_prompt(tokens: dict[str, list[str]], config: Stage2Config) -> str:
    """The text generator's prompt for a user with the token table row ``tokens``."""
    return text_prompt(_reads(tokens, generator_modalities(config)[0]))


def user_image_prompt(tokens: dict[str, list[str]], config: Stage2Config, text: str | None = None,
                      user_id: str = "?") -> str:
    """The image generator's prompt for a user with the token table row ``tokens``; ``text`` is the
    user's generated text (or, in training, the target item's text), required when
    ``image_sees_generated_text`` is on."""
    words = _reads(tokens, generator_modalities(config)[1])
    n = config.image_sees_generated_text
    if n:
        if text is None:
            raise DPPMGError(f"image_sees_generated_text={n}: the image prompt of user {user_id!r} needs its text")
        words = words + [leading_words(text, n)]
    return " ".join(words)


def token_vocabulary(checkpoint: Stage1Checkpoint, modality: str) -> list[str]:
    """Every token of one modality that any user has, in a stable order."""
    return sorted({t for toks in checkpoint.tokens.values() for t in toks[modality]},
                  key=lambda t: tuple(int(x) for x in t.strip("<>").split("_")[1:]))


def token_meaning_texts(checkpoint: Stage1Checkpoint, data: InteractionData, modality: str,
                        tokens: Sequence[str]) -> dict[str, list[str]]:
    """For each token (level l, code k): texts of the items whose own level-l code is k."""
    codes = checkpoint.item_codes[modality]
    texts = data.items["text"].tolist()
    out = {}
    for tok in tokens:
        level, code = (int(x) for x in tok.strip("<>").split("_")[1:])
        out[tok] = [texts[i] for i in np.flatnonzero(codes[:, level - 1] == code)]
    return out
