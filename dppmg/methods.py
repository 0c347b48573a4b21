"""The registry of generation methods: DPPMG, its controls and (as they arrive) the baselines.

Every method implements :class:`dppmg.interface.GenerationMethod`, so ``dppmg evaluate`` and the
harness treat them alike.

To add a method, copy ``baselines/_template.py``, implement ``fit`` and ``generate`` and add the
class to :data:`METHODS` below.
"""

from __future__ import annotations

from baselines.nonpersonalized import NonPersonalized
from baselines.real_test_item import RealTestItem
from dppmg.errors import ConfigError
from dppmg.interface import GenerationMethod


class DPPMG(GenerationMethod):
    """DPPMG: Stage 1 tokens, Stage 2 generators, Stage 3 reward fine-tuning of the tokens."""

    name = "dppmg"
    description = "DPPMG with reward fine-tuning"
    use_reward = True

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.train import train_dppmg

        self.pipe, data, self.info = train_dppmg(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                                 reward=self.use_reward, progress=progress)
        return data

    def generate(self, user_ids, seed):
        return self.pipe(list(user_ids), seed=seed)

    def config(self):
        reward = {k: v for k, v in self.info.get("reward", {}).items() if k != "curves"}
        return {"stage2": self.pipe.config.to_dict(), "reward": reward,
                **{k: v for k, v in self.info.items() if k not in ("reward", "timings")}}


class DPPMGNoReward(DPPMG):
    name = "dppmg-no-reward"
    description = "DPPMG after Stage 2, without reward fine-tuning"
    use_reward = False


class DPPMGShuffledTokens(DPPMG):
    """The control: DPPMG (with reward) whose users' token sets are permuted among users."""

    name = "dppmg-shuffled-tokens"
    description = "DPPMG with the users' tokens shuffled among them (control)"

    def fit(self, dataset, preset, seed, **kwargs):
        from dppmg.personalization import shuffled_tokens

        data = super().fit(dataset, preset, seed, **kwargs)
        self.pipe = shuffled_tokens(self.pipe, seed)
        self.info["shuffled_tokens_seed"] = seed
        return data


METHODS: dict[str, type[GenerationMethod]] = {
    cls.name: cls for cls in (DPPMG, DPPMGNoReward, DPPMGShuffledTokens, NonPersonalized, RealTestItem)}


def get_method(name: str) -> GenerationMethod:
    """A fresh instance of the registered method ``name``."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; registered: {', '.join(METHODS)}")
    return METHODS[name]()
