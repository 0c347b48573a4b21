"""DPPMG and its variants as registered methods (the baselines live in ``baselines/`` and register
through entry points; see :mod:`dppmg.registry`).

* ``dppmg``: Stage 1 tokens, Stage 2 generators, Stage 3 reward fine-tuning of the tokens. It is
  also the Stage 1 method of the ranking table (modal-specific graph preferences, quantized).
* ``dppmg-no-reward``: the same after Stage 2, without reward fine-tuning.
* ``dppmg-shuffled-tokens``: the control; DPPMG whose users' token sets are permuted among users.
* ``shared``: the Stage 1 ablation with one preference vector for both modalities.
"""

from __future__ import annotations

import numpy as np

from dppmg.interface import GenerationMethod, RankingMethod
from dppmg.registry import register_method


@register_method
class DPPMG(GenerationMethod):
    """DPPMG (Zhang et al., SIGIR 2026): discrete preference tokens read by a text and an image
    generator, fine-tuned with a cross-modal consistent, personalized reward."""

    name = "dppmg"
    description = "DPPMG with reward fine-tuning"
    kind = "generation"
    suites = ("preference", "evaluation")
    order = 50
    preference = {}
    quantize = True
    # The Stage 1 method whose tokens the generators read, and whether Stage 3 runs.
    stage1_method = "dppmg"
    use_reward = True

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True, **overrides):
        """Stages 1-3 from the caches where possible; ``overrides`` maps a stage (``preference``,
        ``quantizer``, ``stage2``, ``reward``) to config fields that replace the preset's."""
        from dppmg.train import train_dppmg

        self.pipe, data, self.info = train_dppmg(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                                 stage1_method=self.stage1_method, reward=self.use_reward,
                                                 progress=progress, overrides=overrides)
        return data

    def generate(self, user_ids, seed):
        return self.pipe(list(user_ids), seed=seed)

    def config(self):
        reward = {k: v for k, v in self.info.get("reward", {}).items() if k != "curves"}
        return {"stage2": self.pipe.config.to_dict(), "reward": reward,
                **{k: v for k, v in self.info.items()
                   if k not in ("reward", "timings", "token_losses", "token_validation")}}


@register_method
class DPPMGNoReward(DPPMG):
    name = "dppmg-no-reward"
    description = "DPPMG after Stage 2, without reward fine-tuning"
    kind = "ablation"
    suites = ("evaluation",)
    order = 45
    use_reward = False


def shuffled_token_table(token_table: dict[str, dict[str, list[str]]], seed: int) -> dict[str, dict[str, list[str]]]:
    """The users' token sets permuted among the users (a permutation drawn with ``seed``)."""
    users = list(token_table)
    perm = np.random.default_rng(seed).permutation(len(users))
    return {u: token_table[users[j]] for u, j in zip(users, perm)}


@register_method
class DPPMGShuffledTokens(DPPMG):
    """The control: DPPMG (with reward) whose users' token sets are permuted among users."""

    name = "dppmg-shuffled-tokens"
    description = "DPPMG with the users' tokens shuffled among them (control)"
    kind = "control"
    suites = ("evaluation",)
    order = 60

    def fit(self, dataset, preset, seed, **kwargs):
        data = super().fit(dataset, preset, seed, **kwargs)
        self.pipe = self.pipe.with_token_table(shuffled_token_table(self.pipe.token_table, seed))
        self.info["shuffled_tokens_seed"] = seed
        return data


@register_method
class SharedPreference(RankingMethod):
    """The "shared" ablation of Stage 1: one preference vector (one graph branch fed by every
    modality's features) instead of one per modality, quantized like DPPMG's."""

    name = "shared"
    description = "ablation: one shared preference for both modalities (Stage 1)"
    kind = "ablation"
    order = 40
    preference = {"shared": True}
    quantize = True
