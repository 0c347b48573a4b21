"""DPPMG and its variants as methods, registered like the baselines in ``baselines/``: by the
``dppmg.methods`` entry points of ``pyproject.toml`` (see :mod:`dppmg.registry`), so this module
does not import the registry.

* ``dppmg``: Stage 1 tokens, Stage 2 generators, Stage 3 reward fine-tuning of the tokens. It is
  also the Stage 1 method of the ranking table (modal-specific graph preferences, quantized).
* ``dppmg-shuffled-tokens``: the control; DPPMG whose users' token sets are permuted among users.
* ``shared``: the Stage 1 ablation with one preference vector for both modalities.
* The ablations (:data:`ABLATIONS`): DPPMG with one part taken away, each the same code with one
  documented config override (``overrides``: stage -> fields; ``use_reward``), run through
  Stages 1-3 and the protocol's evaluation like DPPMG itself.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from dppmg.interface import GenerationMethod, RankingMethod
from dppmg.train import DPPMGRunConfig, check_overrides, stage1_overrides, train_dppmg, training_steps


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
    # Whether Stage 3 runs (the generators always read the tokens of DPPMG's own Stage 1).
    use_reward = True
    # An ablation's documented difference from DPPMG: config fields per stage (preference,
    # quantizer, stage2, reward) that replace the preset's.
    overrides: ClassVar[dict[str, dict[str, Any]]] = {}

    def run_overrides(self, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """The class's ``overrides`` with a run's own (``overrides``) applied last."""
        given = check_overrides(overrides)
        return {stage: {**self.overrides.get(stage, {}), **given.get(stage, {})}
                for stage in dict.fromkeys([*self.overrides, *given])}

    def run_config(self, dataset: str, preset: str, seed: int, *, with_reward: bool | None = None,
                   **overrides) -> DPPMGRunConfig:
        """Every stage's config of this method's run, resolved once (``with_reward``: whether
        Stage 3 runs, by default the method's ``use_reward``; ``overrides`` as in :meth:`fit`,
        ``reward=`` among them being Stage 3's config fields)."""
        overrides = self.run_overrides(overrides)
        stage1 = DPPMG.stage1_config(dataset, preset, seed, **stage1_overrides(overrides))
        return DPPMGRunConfig.resolve(stage1, reward=self.use_reward if with_reward is None else with_reward,
                                      overrides=overrides)

    def resolved_config(self, dataset: str, preset: str, seed: int, **overrides) -> dict[str, Any]:
        """Every stage's resolved config this method trains with, without training anything."""
        return self.run_config(dataset, preset, seed, **overrides).to_dict()

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True, **overrides):
        """Stages 1-3 from the caches where possible; ``overrides`` maps a stage (``preference``,
        ``quantizer``, ``stage2``, ``reward``) to config fields that replace the preset's (after
        the class's own ``overrides``)."""
        run = self.run_config(dataset, preset, seed, **overrides)
        self.pipe, data, self.info = train_dppmg(run, data_root=data_root, cache_dir=cache_dir, progress=progress)
        return data

    def training_steps(self, dataset, preset, seed, cache_dir=None):
        return training_steps(self.run_config(dataset, preset, seed), cache_dir)

    def generate(self, user_ids, seed):
        return self.pipe(list(user_ids), seed=seed)

    def config(self):
        reward = {k: v for k, v in self.info.get("reward", {}).items() if k != "curves"}
        return {"stage2": self.pipe.config.to_dict(), "reward": reward,
                **{k: v for k, v in self.info.items()
                   if k not in ("reward", "timings", "token_losses", "token_validation")}}


class DPPMGAblation(DPPMG):
    """An ablation of DPPMG: the same code with one documented config override. The registered
    ablations are listed in :data:`ABLATIONS`; ``component`` names the part taken away (the claims
    table's "<component> helps" row)."""

    kind = "ablation"
    suites = ("evaluation",)
    component: ClassVar[str] = ""
    # At `smoke` (CI's metric check) on the synthetic world only, where the ground truth is: seven
    # variants on three datasets would add about seven minutes to CI.
    preset_datasets = {"smoke": ("synthetic",)}


class DPPMGNoReward(DPPMGAblation):
    name = "dppmg-no-reward"
    description = "ablation: DPPMG after Stage 2, without reward fine-tuning"
    order = 45
    use_reward = False
    component = "the reward"
    # It shares DPPMG's Stages 1-2 (only its evaluation costs CI anything): every dataset.
    preset_datasets = {}


class DPPMGNoGraph(DPPMGAblation):
    """Without the graph: MF-BPR preferences (ID embeddings, no propagation, no item features)
    quantized into one token set that both generators read."""

    name = "dppmg-no-graph"
    description = "ablation: MF-BPR preferences quantized into the tokens (no graph)"
    order = 41
    overrides = {"preference": {"modalities": ("id",), "num_layers": 0}}
    component = "the graph"


class DPPMGSharedPreference(DPPMGAblation):
    """Without modality-specific preferences: one shared preference vector (one graph branch fed
    by both modalities' features) and one token set read by both generators."""

    name = "dppmg-shared"
    description = "ablation: one shared preference and token set for both generators"
    order = 42
    overrides = {"preference": {"shared": True}}
    component = "modality-specific preferences"


class DPPMGContinuous(DPPMGAblation):
    """Without quantization: each user's tokens are a learned linear map of their preference
    vector (:class:`~dppmg.generation.injection.ProjectedTokenEmbedding`), as many embedding
    vectors as DPPMG has codes."""

    name = "dppmg-continuous"
    description = "ablation: continuous soft tokens (no quantization)"
    order = 43
    overrides = {"stage2": {"token_input": "continuous"}}
    component = "quantization"


class DPPMGRewardNoConsistency(DPPMGAblation):
    name = "dppmg-reward-no-consistency"
    description = "ablation: reward without the consistency term (a = 0)"
    order = 46
    overrides = {"reward": {"consistency_weight": 0.0}}
    component = "the consistency term"


class DPPMGRewardNoPersonalization(DPPMGAblation):
    name = "dppmg-reward-no-personalization"
    description = "ablation: reward without the personalization terms (b = c = 0)"
    order = 47
    overrides = {"reward": {"image_personalization_weight": 0.0, "text_personalization_weight": 0.0}}
    component = "the personalization terms"


class DPPMGCrossModalTokens(DPPMGAblation):
    """Cross-modal token sharing on: each generator also reads the other modality's tokens."""

    name = "dppmg-cross-modal"
    description = "variant: each generator also reads the other modality's tokens"
    order = 48
    overrides = {"stage2": {"text_sees_image_tokens": True, "image_sees_text_tokens": True}}
    component = "cross-modal token sharing"


# The registered ablations of DPPMG, in table order.
ABLATIONS = (DPPMGNoGraph, DPPMGSharedPreference, DPPMGContinuous, DPPMGNoReward, DPPMGRewardNoConsistency,
             DPPMGRewardNoPersonalization, DPPMGCrossModalTokens)


def shuffled_token_table(token_table: dict[str, dict[str, list[str]]], seed: int) -> dict[str, dict[str, list[str]]]:
    """The users' token sets permuted among the users (a permutation drawn with ``seed``)."""
    users = list(token_table)
    perm = np.random.default_rng(seed).permutation(len(users))
    return {u: token_table[users[j]] for u, j in zip(users, perm)}


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


class SharedPreference(RankingMethod):
    """The "shared" ablation of Stage 1: one preference vector (one graph branch fed by every
    modality's features) instead of one per modality, quantized like DPPMG's."""

    name = "shared"
    description = "ablation: one shared preference for both modalities (Stage 1)"
    kind = "ablation"
    order = 40
    preference = {"shared": True}
    quantize = True
