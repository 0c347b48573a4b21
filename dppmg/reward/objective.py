"""The reward R = a·consistency + b·image personalization + c·text personalization.

    cons(x, y)     = cos(g_img(f_img(x)), g_txt(f_txt(y)))       (the *reward* alignment model)
    pers_img(x, u) = mean_{i ∈ H_u} cos(f_img(x), f_img(i))       (EfficientNet-Lite0, 32x48 images)
    pers_txt(y, u) = mean_{i ∈ H_u} cos(f_txt(y), f_txt(i))       (MiniLM)

with H_u the user's training history. With ``personalization_baseline="population"`` both terms
subtract the same similarity to the average user's history, mean_v mean_{i ∈ H_v} cos(·, f(i)),
so they reward being closer to *this* user's history than to the average user's; the plain terms
(``"none"``, the default) also grow when the output moves towards the catalogue's average, which
brings it closer to every user's history alike.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.reward.alignment import AlignmentModel
from dppmg.reward.config import RewardConfig


def history_directions(feats: np.ndarray, data: InteractionData) -> torch.Tensor:
    """Per user, the mean of the unit feature vectors of their training items (zeros if none):
    its dot product with a unit vector is the mean cosine to the history."""
    unit = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    pairs = data.user_item_pairs("train")
    sums = np.zeros((data.num_users, feats.shape[1]))
    np.add.at(sums, pairs[:, 0], unit[pairs[:, 1]])
    counts = np.bincount(pairs[:, 0], minlength=data.num_users)[:, None]
    return torch.as_tensor(sums / np.maximum(counts, 1), dtype=torch.float32)


class PreferenceReward:
    """R = a·consistency + b·image personalization + c·text personalization (module docstring).

    Args:
        model: the reward alignment model (never the evaluator).
        data: the dataset (training histories).
        item_image_feats: 32x48 EfficientNet-Lite0 features of the catalogue (item index order).
        item_text_feats: MiniLM features of the catalogue.
        config: the weights a, b, c.
    """

    def __init__(self, model: AlignmentModel, data: InteractionData, item_image_feats: np.ndarray,
                 item_text_feats: np.ndarray, config: RewardConfig):
        if model.config.role != "reward":
            raise DPPMGError(f"the reward must use the reward alignment model, not the {model.config.role!r}")
        self.model, self.config = model, config
        self.image_history = history_directions(item_image_feats, data)
        self.text_history = history_directions(item_text_feats, data)
        if config.personalization_baseline == "population":
            has_history = np.bincount(data.user_item_pairs("train")[:, 0], minlength=data.num_users) > 0
            for table in (self.image_history, self.text_history):
                table -= table[torch.as_tensor(has_history)].mean(0)
        self.user_index = {u: i for i, u in enumerate(data.users["user_id"])}

    def __call__(self, image_feats: torch.Tensor, text_feats: torch.Tensor, user_ids: Sequence[str]
                 ) -> dict[str, torch.Tensor]:
        users = torch.as_tensor([self.user_index[u] for u in user_ids])
        consistency = self.model(image_feats, text_feats)
        pers_img = (F.normalize(image_feats, dim=-1) * self.image_history[users]).sum(-1)
        pers_txt = (F.normalize(text_feats, dim=-1) * self.text_history[users]).sum(-1)
        c = self.config
        total = (c.consistency_weight * consistency + c.image_personalization_weight * pers_img
                 + c.text_personalization_weight * pers_txt)
        return {"reward": total, "consistency": consistency, "image_personalization": pers_img,
                "text_personalization": pers_txt}


