"""The catalogue-adapted backbones every generator of a dataset shares, without any preference
tokens: what the baselines drive, so that only the way a user enters the generator differs from
DPPMG.

:func:`load_backbones` returns the cached text backbone (the LM adapted to the catalogue's texts)
and image backbone (the conditional UNet with its frozen MiniLM conditioner) of a dataset at a
preset, with the Stage 2 config that sets their sampling. :class:`Backbones` samples texts from
prompts (left-padded, so prompts of different lengths share a batch) and images from text
conditions, and gives the non-personalized output a unimodal baseline pairs with its own modality.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from PIL import Image

from dppmg.config import stage2_config
from dppmg.data import load_dataset
from dppmg.data.schema import InteractionData
from dppmg.generation.config import Stage2Config
from dppmg.generation.image_backbone import (
    ImageBackbone,
    TextCondition,
    sample_images,
    tensor_to_images,
    train_image_backbone,
)
from dppmg.generation.prompts import text_prompt
from dppmg.generation.text_backbone import build_text_backbone, sample_in_batches
from dppmg.infra.seeding import seed_everything, shared_model_generator


@dataclass
class Backbones:
    """A dataset's frozen text and image backbones.

    Args:
        data: the processed dataset they were adapted to.
        stage2: the Stage 2 config whose text-generation and image-sampling settings apply.
        text_model / tokenizer: the catalogue-adapted causal LM.
        image: the trained image backbone (UNet + MiniLM conditioner).
    """

    data: InteractionData
    stage2: Stage2Config
    text_model: Any
    tokenizer: Any
    image: ImageBackbone

    # ----- text ---------------------------------------------------------------------------
    def prompt_ids(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        return [self.tokenizer(p, add_special_tokens=False, return_tensors="pt")["input_ids"][0] for p in prompts]

    @torch.no_grad()
    def texts_from_prompts(self, prompts: Sequence[str | torch.Tensor], seed: int,
                           embed: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[str]:
        """One sampled continuation per prompt (a string, or its ids), in batches of
        ``text_batch_size``; ``embed`` maps ids to input embeddings (default: the LM's own table)."""
        ids = [p if isinstance(p, torch.Tensor) else self.prompt_ids([p])[0] for p in prompts]
        config = self.stage2
        _, samples = sample_in_batches(self.text_model, self.tokenizer, ids,
                                       embed or self.text_model.get_input_embeddings(), seed, config.text_batch_size,
                                       max_new_tokens=config.max_new_tokens, top_p=config.top_p,
                                       temperature=config.temperature, precision=config.generation_precision)
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for gen in samples for row in gen]

    def nonpersonalized_texts(self, n: int, seed: int) -> list[str]:
        """The LM's continuation of the preference prompt with no tokens, ``n`` times."""
        return self.texts_from_prompts([text_prompt([])] * n, seed)

    # ----- image --------------------------------------------------------------------------
    @torch.no_grad()
    def images_from_condition(self, cond: TextCondition, seed: int, uncond: TextCondition | None = None
                              ) -> list[Image.Image]:
        """Images sampled with the backbone's sampler, guidance against ``uncond`` (default the
        empty text; a condition with extra positions needs an unconditional input of its length)."""
        x = sample_images(self.image.unet, cond, self.image.uncond() if uncond is None else uncond, self.image.config,
                          torch.Generator().manual_seed(seed), precision=self.stage2.generation_precision)
        return [Image.fromarray(a) for a in tensor_to_images(x)]

    def images_from_texts(self, texts: Sequence[str], seed: int) -> list[Image.Image]:
        return self.images_from_condition(self.image.conditioner.encode(list(texts)), seed)

    def nonpersonalized_images(self, n: int, seed: int) -> list[Image.Image]:
        """Unconditional samples (the empty text, which classifier-free guidance was trained on)."""
        return self.images_from_texts([""] * n, seed)


def load_backbones(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                   cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Backbones:
    """The backbones of ``dataset`` at ``preset`` (trained once per dataset, then loaded)."""
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    stage2 = stage2_config(preset, dataset)
    seed_everything(seed)
    # Shared by every method and seed: trained from the shared-model seed, whoever trains it first.
    model, tokenizer = build_text_backbone(data.items["text"].tolist(), stage2.text, shared_model_generator(),
                                           cache_dir, progress, dataset=data.name)
    image = train_image_backbone(data, stage2.image, shared_model_generator(), cache_dir, progress)
    return Backbones(data, stage2, model, tokenizer, image)
