"""Non-personalized generation: DPPMG's own backbones with no user information (the
non-personalized LM and diffusion model every personalized generator must beat).

Every user gets the LM continuation of the preference prompt with no tokens
(``"Preferences: \\nItem:"``) and an unconditional sample of the image backbone (the empty text,
which classifier-free guidance was trained on). Users differ only by the sampling noise, so any
metric this method reaches is what the catalogue-adapted backbones give without personalization.
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.generation.reuse import NONPERSONALIZED
from dppmg.interface import GenerationMethod, nonpersonalized_generations


class NonPersonalized(GenerationMethod):
    name = NONPERSONALIZED
    description = "the same backbones, no user information (prompt without tokens, empty image text)"
    kind = "generation"
    order = 10

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.generation.backbones import load_backbones

        self.backbones = load_backbones(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir,
                                        progress=progress)
        self.cache_dir = cache_dir
        return self.backbones.data

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        user_ids = [str(u) for u in user_ids]
        record = self.info.setdefault("generations", [])
        texts = nonpersonalized_generations(self.backbones, "text", user_ids, seed, self.cache_dir, record)
        images = nonpersonalized_generations(self.backbones, "image", user_ids, seed, self.cache_dir, record)
        return [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]

    def config(self) -> dict[str, Any]:
        return {"stage2": self.backbones.stage2.to_dict()}
