"""Non-personalized generation: DPPMG's own backbones with no user information (DESIGN.md,
"Baselines": non-personalized LM and non-personalized diffusion).

Every user gets the LM continuation of the preference prompt with no tokens
(``"Preferences: \\nItem:"``) and an unconditional sample of the image backbone (the empty text,
which classifier-free guidance was trained on). Users differ only by the sampling noise, so any
metric this method reaches is what the catalogue-adapted backbones give without personalization.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from PIL import Image

from dppmg.interface import GenerationMethod


class NonPersonalized(GenerationMethod):
    name = "nonpersonalized"
    description = "the same backbones, no user information (prompt without tokens, empty image text)"

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.data import load_dataset
        from dppmg.image_backbone import train_image_backbone
        from dppmg.seeding import seed_everything
        from dppmg.stage2 import stage2_config
        from dppmg.text_backbone import build_text_backbone

        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        self.stage2 = stage2_config(preset, dataset)
        generator = seed_everything(seed).torch
        self.model, self.tokenizer = build_text_backbone(data.items["text"].tolist(), self.stage2.text, generator,
                                                         cache_dir, progress)
        self.backbone = train_image_backbone(data, self.stage2.image, generator, cache_dir, progress)
        return data

    @torch.no_grad()
    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        from dppmg.image_backbone import ddim_sample, tensor_to_images
        from dppmg.stage2 import text_prompt

        config, tok = self.stage2, self.tokenizer
        ids = tok(text_prompt([]), add_special_tokens=False, return_tensors="pt")["input_ids"]
        texts = []
        for b, start in enumerate(range(0, len(user_ids), config.text_batch_size)):
            n = len(user_ids[start:start + config.text_batch_size])
            with torch.random.fork_rng():
                torch.manual_seed(seed * 1_000_003 + b)
                out = self.model.generate(input_ids=ids.repeat(n, 1), attention_mask=torch.ones(n, ids.shape[1],
                                                                                                 dtype=torch.long),
                                          max_new_tokens=config.max_new_tokens, do_sample=True, top_p=config.top_p,
                                          temperature=config.temperature,
                                          pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
            texts += [tok.decode(row[ids.shape[1]:], skip_special_tokens=True).strip() for row in out]
        uncond = self.backbone.uncond()
        x = ddim_sample(self.backbone.unet, uncond.expand(len(user_ids), -1, -1), uncond, self.backbone.config,
                        torch.Generator().manual_seed(seed))
        images = [Image.fromarray(a) for a in tensor_to_images(x)]
        return [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]

    def config(self) -> dict[str, Any]:
        return {"stage2": self.stage2.to_dict()}
