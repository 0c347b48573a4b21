"""Textual inversion per user (Gal et al., ICLR 2023, "An Image is Worth One Word: Personalizing
Text-to-Image Generation using Textual Inversion"): one learned word per user.

Textual inversion learns the embedding of a new word of the frozen text encoder so that the frozen
diffusion model, conditioned on it, denoises a handful of concept images. Here the concept is a
user and the images are their training-history images: one token per user in the MiniLM
conditioner of the image backbone, initialised from the user's history texts, learned with
Stage 2's diffusion loss, optimizer, steps and validation choice of the step
(:mod:`dppmg.generation.user_tokens`). It is DPPMG's image tokens without the graph and without
quantization. Its text is the non-personalized backbone's.

At the ``paper`` preset, :func:`paper_image_generator` puts the same per-user word into Stable
Diffusion's CLIP text encoder through DPPMG's adapter
(:class:`~dppmg.generation.paper.PaperImageGenerator`), as the original method does.
"""

from __future__ import annotations

from typing import Any, Sequence

from dppmg.generation.reuse import tensor_fingerprint
from dppmg.interface import UnimodalMethod


def paper_image_generator(sd_path, data, k: int = 1, **pipeline_kwargs):
    """Textual inversion on a local Stable Diffusion folder (the ``paper`` preset): ``k`` new words
    per user of ``data``, initialised from their history texts. Returns the adapter and each user's
    prompt; train with ``generator.loss(history images, prompts, noise generator)``."""
    from dppmg.generation.paper import PaperImageGenerator
    from dppmg.generation.user_tokens import user_token_names

    token_of, meanings = user_token_names(data, k, "ti")
    generator = PaperImageGenerator.from_pretrained(sd_path, [t for ts in token_of.values() for t in ts], meanings,
                                                    **pipeline_kwargs)
    return generator, {u: " ".join(ts) for u, ts in token_of.items()}


class TextualInversion(UnimodalMethod):
    name = "textual-inversion"
    description = "image: one learned word per user in the image conditioner (textual inversion)"
    kind = "generation"
    order = 32
    modality = "image"
    k = 1

    def fit_modality(self, backbones, preset, seed, *, cache_dir=None, progress=True):
        from dppmg.generation.user_tokens import UserTokens

        self.tokens = UserTokens(backbones, "image", self.k, prefix="ti")
        self.training = self.tokens.train(seed, cache_dir, progress)
        self.info["token_losses"] = {"image": self.training["losses"]}

    def generate_modality(self, user_ids: Sequence[str], seed: int) -> list:
        return self.tokens.generate_images(user_ids, seed)

    def trained_state(self) -> str:
        return tensor_fingerprint(self.tokens.module)

    def config(self) -> dict[str, Any]:
        stage2 = self.backbones.stage2
        return {"k": self.k, "steps": stage2.image_steps, "batch_size": stage2.batch_size, "lr": stage2.lr,
                "chosen_step": self.training["validation"].get("chosen_step")}
