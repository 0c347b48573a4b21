"""Non-personalized generation: DPPMG's own backbones with no user information (the
non-personalized LM and diffusion model every personalized generator must beat).

Every user gets the LM continuation of the preference prompt with no tokens
(``"Preferences: \\nItem:"``) and an unconditional sample of the image backbone (the empty text,
which classifier-free guidance was trained on). Users differ only by the sampling noise, so any
metric this method reaches is what the catalogue-adapted backbones give without personalization.
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.interface import GenerationMethod


class NonPersonalized(GenerationMethod):
    name = "nonpersonalized"
    description = "the same backbones, no user information (prompt without tokens, empty image text)"
    kind = "generation"
    order = 10

    def fit(self, dataset, preset, seed, *, data_root=None, cache_dir=None, progress=True):
        from dppmg.config import stage2_config
        from dppmg.data import load_dataset
        from dppmg.generation.image_backbone import train_image_backbone
        from dppmg.generation.text_backbone import build_text_backbone
        from dppmg.seeding import seed_everything

        data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
        self.stage2 = stage2_config(preset, dataset)
        generator = seed_everything(seed).torch
        self.model, self.tokenizer = build_text_backbone(data.items["text"].tolist(), self.stage2.text, generator,
                                                         cache_dir, progress)
        self.backbone = train_image_backbone(data, self.stage2.image, generator, cache_dir, progress)
        return data

    def generate(self, user_ids: Sequence[str], seed: int) -> list[dict[str, Any]]:
        import torch
        from PIL import Image

        from dppmg.generation.prompts import text_prompt
        from dppmg.generation.text_backbone import sample_in_batches

        config, tok = self.stage2, self.tokenizer
        prompt = tok(text_prompt([]), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
        with torch.no_grad():
            _, samples = sample_in_batches(self.model, tok, [prompt] * len(user_ids),
                                           self.model.get_input_embeddings(), seed, config.text_batch_size,
                                           max_new_tokens=config.max_new_tokens, top_p=config.top_p,
                                           temperature=config.temperature)
            images = self.backbone.generate([""] * len(user_ids), torch.Generator().manual_seed(seed))
        texts = [tok.decode(row, skip_special_tokens=True).strip() for gen in samples for row in gen]
        return [{"user_id": u, "text": t, "image": Image.fromarray(im)} for u, t, im in zip(user_ids, texts, images)]

    def config(self) -> dict[str, Any]:
        return {"stage2": self.stage2.to_dict()}
