"""The :class:`DPPMGPipeline`: generators that read the discrete preference tokens.

Given a Stage 1 checkpoint (per-user text and image tokens) and the catalogue-adapted backbones:

* **Text.** The user's text tokens (and, with ``text_sees_image_tokens``, the image tokens) form
  the prompt ``"Preferences: <txt_1_a> <txt_2_b> <txt_3_c>\\nItem:"``; the causal LM continues it
  (:mod:`dppmg.generation.prompts`).
* **Image.** The user's image tokens (and, with ``image_sees_text_tokens``, the text tokens) are
  new words of the frozen MiniLM that conditions the UNet (textual inversion).
* **Image reads the generated text** (``image_sees_generated_text = N > 0``). The image prompt is
  the user's image tokens followed by the first N words of the text generated for the same user,
  so image and text describe one item. Off, the image and the text are sampled independently and
  agree no better than a random (image, text) pair of the catalogue.

Only the token embeddings are the pipeline's own parameters (:mod:`dppmg.generation.injection`);
how they are trained is :mod:`dppmg.generation.train`. A pipeline is saved as a folder holding the
two embedding tables and ``pipeline.json`` (config, token table, meta), and loaded onto the cached
backbones.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError, DPPMGError
from dppmg.generation.config import TEXT_GENERATION_FIELDS, ImageBackboneConfig, Stage2Config, sampling_settings
from dppmg.generation.image_backbone import (
    ImageBackbone,
    TextCondition,
    sample_images,
    tensor_to_images,
    train_image_backbone,
)
from dppmg.generation.injection import (
    PreferenceTokenEmbedding,
    ProjectedTokenEmbedding,
    init_from_texts,
    new_token_embedding,
    register_tokens,
)
from dppmg.generation.prompts import (
    generator_modalities,
    token_branches,
    token_meaning_texts,
    token_vocabulary,
    user_image_prompt,
    user_text_prompt,
)
from dppmg.generation.text_backbone import build_text_backbone, sample_in_batches
from dppmg.infra.io import atomic_path, atomic_write_json, read_versioned_json
from dppmg.infra.seeding import check_seed, shared_model_generator
from dppmg.preference.checkpoint import Stage1Checkpoint
from dppmg.preference.quantize import MODALITY_PREFIX

# 2: the token embeddings of the validation-chosen step; meta holds the validation curves.
PIPELINE_VERSION = 2


class DPPMGPipeline:
    """Personalized multimodal generation from discrete preference tokens (DPPMG, Zhang et al.,
    SIGIR 2026).

    ``pipeline(user_ids, seed)`` returns, per user, the generated text, the PIL image and the
    tokens that conditioned them. Components are separate: a frozen causal LM and its tokenizer,
    a frozen conditional UNet with its frozen MiniLM conditioner, and two
    :class:`~dppmg.generation.injection.PreferenceTokenEmbedding` modules, the only trained parameters.

    Args:
        text_model / text_tokenizer: the frozen causal LM and its tokenizer (holding the new tokens).
        text_tokens: the LM's preference-token embeddings.
        image_backbone: the frozen UNet and its MiniLM conditioner (holding the new tokens).
        image_tokens: the conditioner's preference-token embeddings.
        token_table: ``{user_id: {modality: [token, ...]}}`` from Stage 1.
        config: the :class:`~dppmg.generation.config.Stage2Config`.
        meta: where the parts came from (recorded with the pipeline).
    """

    def __init__(self, text_model, text_tokenizer, text_tokens: PreferenceTokenEmbedding,
                 image_backbone: ImageBackbone, image_tokens: PreferenceTokenEmbedding,
                 token_table: dict[str, dict[str, list[str]]], config: Stage2Config, meta: dict[str, Any]):
        self.text_model, self.text_tokenizer, self.text_tokens = text_model, text_tokenizer, text_tokens
        self.image_backbone, self.image_tokens = image_backbone, image_tokens
        self.token_table, self.config, self.meta = token_table, config, meta

    @classmethod
    def assemble(cls, data: InteractionData, stage1: Stage1Checkpoint, config: Stage2Config,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> "DPPMGPipeline":
        """The backbones of ``config`` (trained once per dataset from the shared-model seed, then
        cached) with Stage 1's tokens injected, their embeddings at their initial values."""
        texts = data.items["text"].tolist()
        text_model, tokenizer = build_text_backbone(texts, config.text, shared_model_generator(), cache_dir, progress,
                                                    dataset=data.name)
        backbone = train_image_backbone(data, config.image, shared_model_generator(), cache_dir, progress)
        # With cross-modal sharing a generator's prompt also holds the other modality's tokens: they
        # must be words of its tokenizer too (with their own embeddings there), not split into sub-words.
        text_side, image_side = generator_modalities(config)
        conditioner = backbone.conditioner
        if config.token_input == "continuous":
            token_table = continuous_token_table(stage1, data)
            text_tokens = _projected_tokens(tokenizer, text_model.get_input_embeddings(), stage1, data, text_side,
                                            token_table)
            image_tokens = _projected_tokens(conditioner.tokenizer, conditioner.model.get_input_embeddings(), stage1,
                                             data, image_side, token_table)
        else:
            token_table = stage1.tokens
            text_tokens = _injected_tokens(tokenizer, text_model.get_input_embeddings(), stage1, data, text_side)
            image_tokens = _injected_tokens(conditioner.tokenizer, conditioner.model.get_input_embeddings(), stage1,
                                            data, image_side)
        meta = {"dataset": data.name, "stage1": str(stage1.folder), "text_backbone": config.text.kind,
                "image_backbone": str(backbone.folder)}
        return cls(text_model, tokenizer, text_tokens, backbone, image_tokens, token_table, config, meta)

    # ----- conditioning -------------------------------------------------------------------
    def tokens_for(self, user_id: str) -> dict[str, list[str]]:
        if user_id not in self.token_table:
            raise DPPMGError(f"unknown user id {user_id!r} for this pipeline ({len(self.token_table)} users)")
        return self.token_table[user_id]

    def text_prompt(self, user_id: str) -> str:
        """The LM prompt of ``user_id``."""
        return user_text_prompt(self.tokens_for(user_id), self.config)

    def image_prompt(self, user_id: str, text: str | None = None) -> str:
        """The image prompt of ``user_id``; ``text`` is the user's generated text (or, in training,
        the target item's text), required when ``image_sees_generated_text`` is on."""
        return user_image_prompt(self.tokens_for(user_id), self.config, text, user_id)

    def text_embeds(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_tokens(input_ids, self.text_model.get_input_embeddings())

    def image_condition(self, prompts: Sequence[str]) -> TextCondition:
        return self.image_backbone.conditioner.condition_with_tokens(prompts, self.image_tokens)

    def with_token_table(self, token_table: dict[str, dict[str, list[str]]]) -> "DPPMGPipeline":
        """A shallow copy that conditions each user on ``token_table``'s row instead (same learned
        embeddings, same backbones): how the shuffled-token control is made."""
        if set(token_table) != set(self.token_table):
            raise DPPMGError("with_token_table: the new table must hold the same users")
        return DPPMGPipeline(self.text_model, self.text_tokenizer, self.text_tokens, self.image_backbone,
                             self.image_tokens, token_table, self.config, self.meta)

    # ----- generation ---------------------------------------------------------------------
    @torch.no_grad()
    def sample_text_ids(self, user_ids: Sequence[str], seed: int, max_new_tokens: int | None = None,
                        num_return_sequences: int = 1, precision: str = "fp32"
                        ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample continuations of the users' prompts in batches of ``text_batch_size`` users.

        Every user's prompt has the same length (its fixed number of preference tokens), so a batch
        needs no padding. Returns, per batch, the prompt ids ``(b, L)`` and the sampled ids
        ``(b * num_return_sequences, T)`` (the samples of one user are consecutive). A user's text
        depends on the seed and on the users of its batch. Stage 3's training samples through here
        in fp32; the evaluated users' texts (:meth:`generate_texts`) in the config's precision.
        """
        tok, config = self.text_tokenizer, self.config
        prompts = [tok(self.text_prompt(u), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
                   for u in user_ids]
        return sample_in_batches(self.text_model, tok, prompts, self.text_embeds, seed, config.text_batch_size,
                                 max_new_tokens=max_new_tokens or config.max_new_tokens, top_p=config.top_p,
                                 temperature=config.temperature, num_return_sequences=num_return_sequences,
                                 precision=precision)

    def generate_texts(self, user_ids: Sequence[str], seed: int, max_new_tokens: int | None = None) -> list[str]:
        _, samples = self.sample_text_ids(user_ids, seed, max_new_tokens, precision=self.config.generation_precision)
        return [self.text_tokenizer.decode(row, skip_special_tokens=True).strip() for gen in samples for row in gen]

    @torch.no_grad()
    def generate_images(self, user_ids: Sequence[str], seed: int, num_inference_steps: int | None = None,
                        guidance_scale: float | None = None, texts: Sequence[str] | None = None) -> list[Image.Image]:
        """The users' images. With ``image_sees_generated_text`` the prompt holds the start of
        ``texts`` (the users' generated texts); left out, they are generated here with ``seed``."""
        if self.config.image_sees_generated_text:
            texts = list(texts) if texts is not None else self.generate_texts(user_ids, seed)
            if len(texts) != len(user_ids):
                raise ConfigError(f"generate_images: {len(texts)} texts for {len(user_ids)} users")
        else:
            texts = [None] * len(user_ids)
        cond = self.image_condition([self.image_prompt(u, t) for u, t in zip(user_ids, texts)])
        uncond = self.image_backbone.uncond()
        x = sample_images(self.image_backbone.unet, cond, uncond, self.image_backbone.config,
                          torch.Generator().manual_seed(seed), steps=num_inference_steps, guidance_scale=guidance_scale,
                          precision=self.config.generation_precision)
        return [Image.fromarray(a) for a in tensor_to_images(x)]

    def __call__(self, user_ids: Sequence[str], seed: int = 0, num_inference_steps: int | None = None,
                 guidance_scale: float | None = None, max_new_tokens: int | None = None) -> list[dict[str, Any]]:
        seed = check_seed(seed)
        user_ids = [str(u) for u in user_ids]
        for u in user_ids:
            self.tokens_for(u)
        texts = self.generate_texts(user_ids, seed, max_new_tokens)
        images = self.generate_images(user_ids, seed, num_inference_steps, guidance_scale, texts=texts)
        return [{"user_id": u, "text": t, "image": im, "tokens": self.tokens_for(u)}
                for u, t, im in zip(user_ids, texts, images)]

    # ----- persistence --------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DPPMGError(f"cannot write the pipeline to {folder}: {exc}") from exc
        for name, module in (("text_tokens.pt", self.text_tokens), ("image_tokens.pt", self.image_tokens)):
            with atomic_path(folder / name) as tmp:
                torch.save(token_state(module), tmp)
        atomic_write_json(folder / "pipeline.json", {"version": PIPELINE_VERSION, "config": self.config.to_dict(),
                                                     "meta": self.meta, "token_table": self.token_table})
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, data: InteractionData, stage1: Stage1Checkpoint,
                        cache_dir: str | os.PathLike | None = None) -> "DPPMGPipeline":
        """Load token embeddings saved by :meth:`save_pretrained` onto the cached backbones."""
        folder = Path(folder)
        saved = read_versioned_json(folder / "pipeline.json", PIPELINE_VERSION, "DPPMG pipeline")
        pipe = cls.assemble(data, stage1, Stage2Config.from_dict(saved["config"]),
                            cache_dir=cache_dir, progress=False)
        if saved["token_table"] != pipe.token_table:
            raise DPPMGError(f"{folder}: its token table does not match the stage-1 checkpoint {stage1.folder}")
        pipe.load_token_weights(folder)
        for key in ("token_losses", "token_validation"):
            if key in saved["meta"]:
                pipe.meta[key] = saved["meta"][key]
        return pipe

    def with_image_sampling(self, image_config: ImageBackboneConfig) -> "DPPMGPipeline":
        """Sample images with ``image_config``'s settings (``SAMPLING_FIELDS``) from now on.

        They are not part of what Stage 2 trains: a pipeline saved with other settings is loaded
        and then given the current ones. Returns the pipeline."""
        settings = sampling_settings(image_config)
        self.image_backbone = dataclasses.replace(
            self.image_backbone, config=dataclasses.replace(self.image_backbone.config, **settings))
        self.config = dataclasses.replace(self.config, image=dataclasses.replace(self.config.image, **settings))
        return self

    def with_generation_settings(self, config: Stage2Config) -> "DPPMGPipeline":
        """Sample with ``config``'s image sampling and text generation settings
        (``SAMPLING_FIELDS``, ``TEXT_GENERATION_FIELDS``) from now on. Returns the pipeline."""
        self.config = dataclasses.replace(self.config, **{k: getattr(config, k) for k in TEXT_GENERATION_FIELDS})
        return self.with_image_sampling(config.image)

    def load_token_weights(self, folder: str | os.PathLike) -> "DPPMGPipeline":
        """Replace the token embeddings by those saved in ``folder`` (same tokens, same backbones);
        the backbones already loaded are kept. Returns the pipeline."""
        folder = Path(folder)
        _read_saved(folder, self.token_table, "this pipeline")
        for name, module in (("text_tokens.pt", self.text_tokens), ("image_tokens.pt", self.image_tokens)):
            state = torch.load(folder / name)
            if state["tokens"] != module.tokens or state["first_id"] != module.first_id:
                raise DPPMGError(f"{folder / name}: tokens do not match the stage-1 checkpoint")
            load_token_state(module, state)
        return self


def token_state(module: PreferenceTokenEmbedding) -> dict[str, Any]:
    """What a saved token module holds: its tokens, their first id, the embedding rows and the
    module's parameters (the rows themselves, or a continuous variant's linear map)."""
    return {"tokens": module.tokens, "first_id": module.first_id, "weight": module.weight.detach(),
            "state": module.state_dict()}


def load_token_state(module: PreferenceTokenEmbedding, state: dict[str, Any]) -> None:
    if "state" in state:
        module.load_state_dict(state["state"])
    else:
        module.weight.data.copy_(state["weight"])


def continuous_token_table(stage1: Stage1Checkpoint, data: InteractionData) -> dict[str, dict[str, list[str]]]:
    """The continuous variant's token table: per user and Stage 1 branch, as many placeholder
    tokens (``<s{prefix}_{user index}_{j}>``) as the user has discrete codes there."""
    users = data.users["user_id"].tolist()
    levels = {b: codes.shape[1] for b, codes in stage1.user_codes.items()}
    return {u: {b: [f"<s{MODALITY_PREFIX[b]}_{i}_{j}>" for j in range(L)] for b, L in levels.items()}
            for i, u in enumerate(users)}


def _read_saved(folder: Path, token_table: dict, against: str) -> dict[str, Any]:
    saved = read_versioned_json(folder / "pipeline.json", PIPELINE_VERSION, "DPPMG pipeline")
    if saved["token_table"] != token_table:
        raise DPPMGError(f"{folder}: its token table does not match {against}")
    return saved


def _discrete_init(tokenizer, base, stage1: Stage1Checkpoint, data: InteractionData, branch: str
                   ) -> dict[str, torch.Tensor]:
    """Each discrete token of ``branch``'s initial embedding (from the texts it means)."""
    vocab = token_vocabulary(stage1, branch)
    init = init_from_texts(vocab, token_meaning_texts(stage1, data, branch, vocab), tokenizer, base)
    return dict(zip(vocab, init))


def _projected_tokens(tokenizer, base, stage1: Stage1Checkpoint, data: InteractionData, modalities: Sequence[str],
                      token_table: dict[str, dict[str, list[str]]]) -> ProjectedTokenEmbedding:
    users = data.users["user_id"].tolist()
    tokens, targets, prefs, levels = [], [], [], []
    for b in token_branches(stage1.item_codes, modalities):
        init = _discrete_init(tokenizer, base, stage1, data, b)
        for u in users:
            tokens += token_table[u][b]
            targets += [init[t] for t in stage1.tokens[u][b]]
        prefs.append(torch.as_tensor(stage1.preferences[b]))
        levels.append(stage1.user_codes[b].shape[1])
    first = register_tokens(tokenizer, tokens)
    return ProjectedTokenEmbedding(tokens, first, prefs, levels, torch.stack(targets))


def _injected_tokens(tokenizer, base, stage1: Stage1Checkpoint, data: InteractionData,
                     modalities: Sequence[str]) -> PreferenceTokenEmbedding:
    tokens, meanings = [], {}
    for m in token_branches(stage1.item_codes, modalities):
        vocab = token_vocabulary(stage1, m)
        tokens += vocab
        meanings.update(token_meaning_texts(stage1, data, m, vocab))
    return new_token_embedding(tokenizer, base, tokens, meanings)
