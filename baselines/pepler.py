"""PEPLER (Li, Zhang, Chen, TOIS 2023, "Personalized Prompt Learning for Explainable
Recommendation"): continuous prompt learning for the text generator.

PEPLER puts learned ID vectors in front of a frozen pretrained LM as a soft prompt and trains them
with the LM's loss on the user's texts. Here each user has ``k`` vectors of their own (``k`` = the
quantizer's depth, the number of text tokens a DPPMG user has), in the prompt frame DPPMG's tokens
use (``"Preferences: <u_1> ... <u_k>\\nItem:"``), learned on the user's training-history texts
with Stage 2's causal-LM loss, optimizer, steps and validation choice of the step
(:mod:`dppmg.generation.user_tokens`). It is DPPMG's text tokens without the graph and without
quantization: what a user's tokens carry comes from their own history only. The item-ID half of
PEPLER's prompt has no counterpart (the item is what is generated). Its image is the
non-personalized backbone's.

At the ``paper`` preset, :func:`paper_text_generator` puts the same per-user tokens into any local
causal LM through DPPMG's adapter (:class:`~dppmg.generation.paper.PaperTextGenerator`, LoRA
included).
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.config import quantizer_config
from dppmg.generation.reuse import tensor_fingerprint
from dppmg.interface import UnimodalMethod


def paper_text_generator(lm_path, data, k: int, **adapter_kwargs):
    """PEPLER on a local causal LM (the ``paper`` preset): ``k`` soft-prompt tokens per user of
    ``data``, initialised from their history texts. Returns the adapter and each user's prompt;
    train with ``generator.loss(prompts, [" " + history text, ...])``, generate with
    ``generator.generate(prompts, seed)``."""
    from dppmg.generation.paper import PaperTextGenerator
    from dppmg.generation.prompts import text_prompt
    from dppmg.generation.user_tokens import user_token_names

    token_of, meanings = user_token_names(data, k, "pepler")
    generator = PaperTextGenerator.from_pretrained(lm_path, [t for ts in token_of.values() for t in ts], meanings,
                                                   **adapter_kwargs)
    return generator, {u: text_prompt(ts) for u, ts in token_of.items()}


class PEPLER(UnimodalMethod):
    name = "pepler"
    description = "text: k learned soft-prompt vectors per user in front of the LM (PEPLER)"
    kind = "generation"
    order = 22
    modality = "text"

    def fit_modality(self, backbones, preset, seed, *, cache_dir=None, progress=True):
        from dppmg.generation.user_tokens import UserTokens

        self.k = quantizer_config(backbones.data.name, preset).levels
        self.tokens = UserTokens(backbones, "text", self.k, prefix="pepler")
        self.training = self.tokens.train(seed, cache_dir, progress)
        self.info["token_losses"] = {"text": self.training["losses"]}

    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list[str]:
        return self.tokens.generate_texts(user_ids, seed)

    def trained_state(self) -> str:
        return tensor_fingerprint(self.tokens.module)

    def config(self) -> dict[str, Any]:
        stage2 = self.backbones.stage2
        return {"k": self.k, "steps": stage2.text_steps, "batch_size": stage2.batch_size, "lr": stage2.lr,
                "chosen_step": self.training["validation"].get("chosen_step")}
