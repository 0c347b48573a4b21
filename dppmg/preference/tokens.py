"""The token inspector: what each of a user's preference tokens stands for (``dppmg tokens``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.preference.checkpoint import Stage1Checkpoint


def token_meanings(checkpoint: Stage1Checkpoint, data: InteractionData, user_id: str,
                   examples: int = 5) -> list[dict[str, Any]]:
    """For each of the user's tokens: the items whose own codes share it (prefix up to that level)."""
    if user_id not in checkpoint.tokens:
        raise DPPMGError(f"unknown user id {user_id!r} for dataset {data.name!r} "
                         f"(ids look like {data.users['user_id'].iloc[0]!r})")
    u = int(np.flatnonzero(data.users["user_id"].to_numpy() == user_id)[0])
    rows = []
    for m, tokens in checkpoint.tokens[user_id].items():
        user_codes, item_codes = checkpoint.user_codes[m][u], checkpoint.item_codes[m]
        for level, token in enumerate(tokens):
            # Residual codes only mean something given the coarser levels: match the whole prefix.
            share = np.flatnonzero((item_codes[:, : level + 1] == user_codes[: level + 1]).all(axis=1))
            rows.append({"modality": m, "level": level + 1, "token": token, "items_sharing": int(len(share)),
                         "examples": data.items["title"].iloc[share[:examples]].tolist()})
    return rows
