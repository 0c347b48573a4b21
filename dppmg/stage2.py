"""Stage 2: generators that read the discrete preference tokens, and the :class:`DPPMGPipeline`.

Given a Stage 1 checkpoint (per-user text and image tokens) and the catalogue-adapted backbones:

* **Text.** The user's text tokens (and, with ``text_sees_image_tokens``, the image tokens) form
  the prompt ``"Preferences: <txt_1_a> <txt_2_b> <txt_3_c>\\nItem:"``; the causal LM learns to
  continue it with the texts of the items in the user's training history. Only the new token
  embeddings train; the backbone is frozen.
* **Image.** The user's image tokens (and, with ``image_sees_text_tokens``, the text tokens) are
  new words of the frozen MiniLM that conditions the UNet (textual inversion); the UNet learns
  nothing, the token embeddings learn to make it denoise the user's history images.
* **Image reads the generated text** (``image_sees_generated_text = N > 0``). The image prompt is
  the user's image tokens followed by the first N words of the text generated for the same user,
  so image and text describe one item. The token embeddings train with the first N words of the
  target history item's own text in that place (teacher forcing), so they learn what the words do
  not already say. Off, the image and the text are sampled independently and agree no better than
  a random (image, text) pair of the catalogue.

Token embeddings start from the mean embedding of the texts of the items carrying the same code
(see :mod:`dppmg.injection`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from dppmg.config import check_preset
from dppmg.data.images import load_image_array
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError, DPPMGError
from dppmg.image_backbone import (SAMPLING_FIELDS, ImageBackbone, ImageBackboneConfig, TextCondition, ddim_sample,
                                  diffusion_loss, image_backbone_config, images_to_tensor, sampling_settings,
                                  tensor_to_images, train_scheduler)
from dppmg.injection import PreferenceTokenEmbedding, new_token_embedding
from dppmg.io import atomic_dir, atomic_path, atomic_write_json, read_versioned_json, stable_hash
from dppmg.paths import cache_dir as resolve_cache_dir
from dppmg.seeding import check_seed
from dppmg.stage1 import Stage1Checkpoint
from dppmg.text_backbone import TextBackboneConfig, causal_lm_loss, text_backbone_config

PIPELINE_VERSION = 1


@dataclass(frozen=True)
class Stage2Config:
    """Configuration of the token-reading generators (serialized with the pipeline).

    Args:
        text_steps / image_steps: optimisation steps of the text / image token embeddings.
        batch_size: (user, history item) pairs per step.
        lr: Adam learning rate of the token embeddings.
        text_sees_image_tokens / image_sees_text_tokens: cross-modal token sharing (off by default).
        image_sees_generated_text: the image prompt also holds the first this many words of the
            text generated for the user (0: off, the default).
        max_new_tokens: generated text length.
        text_batch_size: users whose texts are sampled together.
        top_p / temperature: text sampling.
    """

    text: TextBackboneConfig = field(default_factory=TextBackboneConfig)
    image: ImageBackboneConfig = field(default_factory=ImageBackboneConfig)
    text_steps: int = 300
    image_steps: int = 300
    batch_size: int = 16
    lr: float = 5e-3
    text_sees_image_tokens: bool = False
    image_sees_text_tokens: bool = False
    image_sees_generated_text: int = 0
    max_new_tokens: int = 64
    text_batch_size: int = 16
    top_p: float = 0.9
    temperature: float = 0.8

    def __post_init__(self):
        n = self.image_sees_generated_text
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"Stage2Config.image_sees_generated_text must be a word count >= 0 (0: off), got {n!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# At `small` one text-token step (SmolLM2, batch 8 x 96 tokens, backward to the inputs) costs ~1.2 s
# on 2 CPU cores: 150 steps keep Stage 2 of one dataset within a few minutes.
_PRESETS = {"smoke": {"text_steps": 10, "image_steps": 5, "batch_size": 8, "max_new_tokens": 16},
            "small": {"text_steps": 150, "image_steps": 300, "batch_size": 8}, "paper": {}}
# The real datasets' image reads the generated text: with independent sampling their generated
# (image, text) pairs scored like shuffled catalogue pairs on the evaluator. Not on synthetic: its
# texts name the colour and shape, and that world scores the image preference on its own.
_DATASET_OVERRIDES = {(d, "small"): {"image_sees_generated_text": 12} for d in ("movielens", "hm")}


def stage2_config(preset: str, dataset: str | None = None, **overrides: Any) -> Stage2Config:
    check_preset(preset)
    return Stage2Config(text=text_backbone_config(preset), image=image_backbone_config(preset, dataset),
                        **{**_PRESETS[preset], **_DATASET_OVERRIDES.get((dataset, preset), {}), **overrides})


def leading_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text``."""
    return " ".join(text.split()[:n])


def text_prompt(tokens: Sequence[str]) -> str:
    return f"Preferences: {' '.join(tokens)}\nItem:"


def token_vocabulary(checkpoint: Stage1Checkpoint, modality: str) -> list[str]:
    """Every token of one modality that any user has, in a stable order."""
    return sorted({t for toks in checkpoint.tokens.values() for t in toks[modality]},
                  key=lambda t: tuple(int(x) for x in t.strip("<>").split("_")[1:]))


def token_meaning_texts(checkpoint: Stage1Checkpoint, data: InteractionData, modality: str,
                        tokens: Sequence[str]) -> dict[str, list[str]]:
    """For each token (level l, code k): texts of the items whose own level-l code is k."""
    codes = checkpoint.item_codes[modality]
    texts = data.items["text"].tolist()
    out = {}
    for tok in tokens:
        level, code = (int(x) for x in tok.strip("<>").split("_")[1:])
        out[tok] = [texts[i] for i in np.flatnonzero(codes[:, level - 1] == code)]
    return out


class DPPMGPipeline:
    """Personalized multimodal generation from discrete preference tokens (DPPMG, SIGIR 2026).

    ``pipeline(user_ids, seed)`` returns, per user, the generated text, the PIL image and the
    tokens that conditioned them. Components are separate: a frozen causal LM and its tokenizer,
    a frozen conditional UNet with its frozen MiniLM conditioner, and two
    :class:`~dppmg.injection.PreferenceTokenEmbedding` modules, the only trained parameters.
    """

    def __init__(self, text_model, text_tokenizer, text_tokens: PreferenceTokenEmbedding,
                 image_backbone: ImageBackbone, image_tokens: PreferenceTokenEmbedding,
                 token_table: dict[str, dict[str, list[str]]], config: Stage2Config, meta: dict[str, Any]):
        self.text_model, self.text_tokenizer, self.text_tokens = text_model, text_tokenizer, text_tokens
        self.image_backbone, self.image_tokens = image_backbone, image_tokens
        self.token_table, self.config, self.meta = token_table, config, meta

    # ----- conditioning -------------------------------------------------------------------
    def tokens_for(self, user_id: str) -> dict[str, list[str]]:
        if user_id not in self.token_table:
            raise DPPMGError(f"unknown user id {user_id!r} for this pipeline ({len(self.token_table)} users)")
        return self.token_table[user_id]

    def _text_prompt(self, user_id: str) -> str:
        toks = self.tokens_for(user_id)
        return text_prompt([t for m in generator_modalities(self.config)[0] for t in toks[m]])

    def _image_prompt(self, user_id: str, text: str | None = None) -> str:
        """The image prompt; ``text`` is the user's generated text (or, in training, the target
        item's text), required when ``image_sees_generated_text`` is on."""
        toks = self.tokens_for(user_id)
        words = [t for m in generator_modalities(self.config)[1] for t in toks[m]]
        n = self.config.image_sees_generated_text
        if n:
            if text is None:
                raise DPPMGError(f"image_sees_generated_text={n}: the image prompt of user {user_id!r} needs its text")
            words = words + [leading_words(text, n)]
        return " ".join(words)

    def text_embeds(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_tokens(input_ids, self.text_model.get_input_embeddings())

    def image_condition(self, prompts: Sequence[str]) -> TextCondition:
        conditioner = self.image_backbone.conditioner
        batch = conditioner.tokenize(prompts)
        return conditioner.condition(batch, self.image_tokens(batch["input_ids"], conditioner.model.get_input_embeddings()))

    # ----- generation ---------------------------------------------------------------------
    @torch.no_grad()
    def sample_text_ids(self, user_ids: Sequence[str], seed: int, max_new_tokens: int | None = None,
                        num_return_sequences: int = 1) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample continuations of the users' prompts in batches of ``text_batch_size`` users.

        Every user's prompt has the same length (its fixed number of preference tokens), so a batch
        needs no padding. Returns, per batch, the prompt ids ``(b, L)`` and the sampled ids
        ``(b * num_return_sequences, T)`` (the samples of one user are consecutive). A user's text
        depends on the seed and on the users of its batch.
        """
        from dppmg.text_backbone import sample_in_batches

        tok, config = self.text_tokenizer, self.config
        prompts = [tok(self._text_prompt(u), add_special_tokens=False, return_tensors="pt")["input_ids"][0]
                   for u in user_ids]
        return sample_in_batches(self.text_model, tok, prompts, self.text_embeds, seed, config.text_batch_size,
                                 max_new_tokens=max_new_tokens or config.max_new_tokens, top_p=config.top_p,
                                 temperature=config.temperature, num_return_sequences=num_return_sequences)

    def generate_texts(self, user_ids: Sequence[str], seed: int, max_new_tokens: int | None = None) -> list[str]:
        _, samples = self.sample_text_ids(user_ids, seed, max_new_tokens)
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
        cond = self.image_condition([self._image_prompt(u, t) for u, t in zip(user_ids, texts)])
        uncond = self.image_backbone.uncond()
        x = ddim_sample(self.image_backbone.unet, cond, uncond, self.image_backbone.config,
                        torch.Generator().manual_seed(seed), steps=num_inference_steps, guidance_scale=guidance_scale)
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
                torch.save({"tokens": module.tokens, "first_id": module.first_id, "weight": module.weight.detach()}, tmp)
        atomic_write_json(folder / "pipeline.json", {"version": PIPELINE_VERSION, "config": self.config.to_dict(),
                                                     "meta": self.meta, "token_table": self.token_table})
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, data: InteractionData, stage1: Stage1Checkpoint,
                        cache_dir: str | os.PathLike | None = None) -> "DPPMGPipeline":
        """Load token embeddings saved by :meth:`save_pretrained` onto the cached backbones."""
        folder = Path(folder)
        saved = _read_saved(folder, stage1.tokens, f"the stage-1 checkpoint {stage1.folder}")
        pipe = build_pipeline(data, stage1, _config_from_dict(saved["config"]), torch.Generator().manual_seed(0),
                              cache_dir=cache_dir, train=False, progress=False)
        pipe.load_token_weights(folder)
        if "token_losses" in saved["meta"]:
            pipe.meta["token_losses"] = saved["meta"]["token_losses"]
        return pipe

    def with_image_sampling(self, image_config: ImageBackboneConfig) -> "DPPMGPipeline":
        """Sample images with ``image_config``'s DDIM settings (``SAMPLING_FIELDS``) from now on.

        They are not part of what Stage 2 trains: a pipeline saved with other settings is loaded
        and then given the current ones. Returns the pipeline."""
        settings = sampling_settings(image_config)
        self.image_backbone = dataclasses.replace(
            self.image_backbone, config=dataclasses.replace(self.image_backbone.config, **settings))
        self.config = dataclasses.replace(self.config, image=dataclasses.replace(self.config.image, **settings))
        return self

    def load_token_weights(self, folder: str | os.PathLike) -> "DPPMGPipeline":
        """Replace the token embeddings by those saved in ``folder`` (same tokens, same backbones);
        the backbones already loaded are kept. Returns the pipeline."""
        folder = Path(folder)
        _read_saved(folder, self.token_table, "this pipeline")
        for name, module in (("text_tokens.pt", self.text_tokens), ("image_tokens.pt", self.image_tokens)):
            state = torch.load(folder / name)
            if state["tokens"] != module.tokens or state["first_id"] != module.first_id:
                raise DPPMGError(f"{folder / name}: tokens do not match the stage-1 checkpoint")
            module.weight.data.copy_(state["weight"])
        return self


def _read_saved(folder: Path, token_table: dict, against: str) -> dict[str, Any]:
    saved = read_versioned_json(folder / "pipeline.json", PIPELINE_VERSION, "DPPMG pipeline")
    if saved["token_table"] != token_table:
        raise DPPMGError(f"{folder}: its token table does not match {against}")
    return saved


def _config_from_dict(d: dict[str, Any]) -> Stage2Config:
    text = TextBackboneConfig(**{**d["text"], "lora_targets": tuple(d["text"]["lora_targets"])})
    image = ImageBackboneConfig(**{**d["image"], "block_channels": tuple(d["image"]["block_channels"])})
    rest = {k: v for k, v in d.items() if k not in ("text", "image")}
    return Stage2Config(text=text, image=image, **rest)


def _history_pairs(data: InteractionData, users: set[str] | None = None) -> np.ndarray:
    pairs = data.user_item_pairs("train")
    if users is not None:
        keep = np.isin(data.users["user_id"].to_numpy()[pairs[:, 0]], list(users))
        pairs = pairs[keep]
    if not len(pairs):
        raise DPPMGError("no training interactions to learn the token embeddings from")
    return pairs


def build_pipeline(data: InteractionData, stage1: Stage1Checkpoint, config: Stage2Config, generator: torch.Generator,
                   cache_dir: str | os.PathLike | None = None, train: bool = True, progress: bool = True,
                   history: dict[str, list[float]] | None = None) -> DPPMGPipeline:
    """Build the backbones (cached), inject the tokens and, with ``train``, learn their embeddings."""
    from dppmg.image_backbone import train_image_backbone
    from dppmg.text_backbone import build_text_backbone

    # Token training draws from its own generators, forked before the backbones are built: its result
    # must not depend on whether a backbone was trained in this call or loaded from the cache.
    text_seed, image_seed = (int(torch.randint(2**62, (1,), generator=generator)) for _ in range(2))
    texts = data.items["text"].tolist()
    text_model, tokenizer = build_text_backbone(texts, config.text, generator, cache_dir, progress)
    backbone = train_image_backbone(data, config.image, generator, cache_dir, progress)

    # With cross-modal sharing a generator's prompt also holds the other modality's tokens: they
    # must be words of its tokenizer too (with their own embeddings there), not split into sub-words.
    text_side, image_side = generator_modalities(config)
    text_tokens = _injected_tokens(tokenizer, text_model.get_input_embeddings(), stage1, data, text_side)
    conditioner = backbone.conditioner
    image_tokens = _injected_tokens(conditioner.tokenizer, conditioner.model.get_input_embeddings(), stage1, data,
                                    image_side)
    meta = {"dataset": data.name, "stage1": str(stage1.folder), "text_backbone": config.text.kind,
            "image_backbone": str(backbone.folder)}
    pipe = DPPMGPipeline(text_model, tokenizer, text_tokens, backbone, image_tokens, stage1.tokens, config, meta)
    if train:
        history = history if history is not None else {}
        history["text"] = _cached_text_tokens(pipe, data, stage1, text_seed, cache_dir, progress)
        history["image"] = train_image_tokens(pipe, data, torch.Generator().manual_seed(image_seed), cache_dir, progress)
        meta["token_losses"] = {m: [round(x, 5) for x in v] for m, v in history.items()}
    return pipe


def generator_modalities(config: Stage2Config) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Whose tokens each generator reads: (text generator's modalities, image generator's)."""
    return (("text", "image") if config.text_sees_image_tokens else ("text",),
            ("image", "text") if config.image_sees_text_tokens else ("image",))


def _injected_tokens(tokenizer, base, stage1: Stage1Checkpoint, data: InteractionData,
                     modalities: Sequence[str]) -> PreferenceTokenEmbedding:
    tokens, meanings = [], {}
    for m in modalities:
        vocab = token_vocabulary(stage1, m)
        tokens += vocab
        meanings.update(token_meaning_texts(stage1, data, m, vocab))
    return new_token_embedding(tokenizer, base, tokens, meanings)


def _cached_text_tokens(pipe: DPPMGPipeline, data: InteractionData, stage1: Stage1Checkpoint, seed: int,
                        cache_dir: str | os.PathLike | None, progress: bool) -> list[float]:
    """Train the text-token embeddings, or load them: they depend on the text side only, so a change
    to the image side (backbone, image-token schedule) does not pay for them again."""
    c = pipe.config
    text_side = {"text": dataclasses.asdict(c.text), "steps": c.text_steps, "batch_size": c.batch_size, "lr": c.lr,
                 "sees_image_tokens": c.text_sees_image_tokens}
    key = stable_hash(PIPELINE_VERSION, text_side, str(stage1.folder), pipe.text_tokens.tokens, seed)
    folder = resolve_cache_dir(cache_dir) / "stage2_text" / f"{stage1.folder.name}-{key}"
    if (folder / "losses.json").is_file():
        state = torch.load(folder / "text_tokens.pt")
        pipe.text_tokens.weight.data.copy_(state["weight"])
        return read_versioned_json(folder / "losses.json", PIPELINE_VERSION, "cached text tokens")["losses"]
    losses = train_text_tokens(pipe, data, torch.Generator().manual_seed(seed), progress)
    with atomic_dir(folder) as tmp:
        torch.save({"tokens": pipe.text_tokens.tokens, "weight": pipe.text_tokens.weight.detach()}, tmp / "text_tokens.pt")
        atomic_write_json(tmp / "losses.json", {"version": PIPELINE_VERSION, "losses": losses})
    return losses


def train_text_tokens(pipe: DPPMGPipeline, data: InteractionData, generator: torch.Generator,
                      progress: bool = True) -> list[float]:
    """Learn the text-token embeddings: the LM continues the user's prompt with their history texts."""
    config = pipe.config
    pairs = _history_pairs(data)
    user_ids, texts = data.users["user_id"].tolist(), data.items["text"].tolist()
    optim = torch.optim.Adam(pipe.text_tokens.parameters(), lr=config.lr)
    losses = []
    for _ in tqdm(range(config.text_steps), desc="text tokens", disable=not progress, leave=False):
        batch = pairs[torch.randint(len(pairs), (config.batch_size,), generator=generator).numpy()]
        prompts = [pipe._text_prompt(user_ids[u]) for u in batch[:, 0]]
        loss = causal_lm_loss(pipe.text_model, pipe.text_tokenizer, prompts, [" " + texts[i] for i in batch[:, 1]],
                              config.text.max_length, inputs_embeds_fn=pipe.text_embeds)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
    return losses


def train_image_tokens(pipe: DPPMGPipeline, data: InteractionData, generator: torch.Generator,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True) -> list[float]:
    """Learn the image-token embeddings (textual inversion) on the user's history images."""
    config = pipe.config
    backbone = pipe.image_backbone
    images = images_to_tensor(load_image_array(data, backbone.config.width, backbone.config.height, cache_dir=cache_dir))
    pairs = _history_pairs(data)
    user_ids, texts = data.users["user_id"].tolist(), data.items["text"].tolist()
    scheduler = train_scheduler(backbone.config)
    optim = torch.optim.Adam(pipe.image_tokens.parameters(), lr=config.lr)
    losses = []
    for _ in tqdm(range(config.image_steps), desc="image tokens", disable=not progress, leave=False):
        batch = pairs[torch.randint(len(pairs), (config.batch_size,), generator=generator).numpy()]
        cond = pipe.image_condition([pipe._image_prompt(user_ids[u], texts[i]) for u, i in batch])
        loss = diffusion_loss(backbone.unet, scheduler, images[batch[:, 1]], cond, generator)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
    return losses


def check_user_ids(user_ids: Sequence[Any], data: InteractionData) -> list[str]:
    known = set(data.users["user_id"])
    out = [str(u) for u in user_ids]
    unknown = [u for u in out if u not in known]
    if unknown:
        raise ConfigError(f"unknown user id(s) {unknown[:5]} for dataset {data.name!r} "
                          f"(ids look like {data.users['user_id'].iloc[0]!r})")
    return out


def pipeline_dir(stage1: Stage1Checkpoint, config: Stage2Config, seed: int,
                 cache_dir: str | os.PathLike | None = None) -> Path:
    trained = config.to_dict()
    # Sampling settings do not change what the token embeddings learn.
    trained["image"] = {k: v for k, v in trained["image"].items() if k not in SAMPLING_FIELDS}
    # Off, the option trains exactly what pipelines cached before it existed did: keep their keys.
    if not trained["image_sees_generated_text"]:
        del trained["image_sees_generated_text"]
    key = stable_hash(PIPELINE_VERSION, trained, str(stage1.folder), seed)
    return resolve_cache_dir(cache_dir) / "stage2" / f"{stage1.folder.name}-{key}"


def load_or_train_pipeline(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                           cache_dir: str | os.PathLike | None = None, progress: bool = True):
    """The Stage 2 pipeline of (dataset, preset, seed): loaded if trained before, else Stage 1's
    checkpoint is required and the token embeddings are trained and saved. Returns (pipeline, data)."""
    from dppmg.data import load_dataset
    from dppmg.stage1 import checkpoint_dir, load_stage1, stage1_config

    seed = check_seed(seed)
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    folder1 = checkpoint_dir(stage1_config(dataset, preset, seed), cache_dir)
    if not folder1.is_dir():
        raise DPPMGError(f"no stage-1 checkpoint for {dataset} at preset {preset}, seed {seed}: "
                         f"run `dppmg preference fit --dataset {dataset} --preset {preset} --seed {seed}` first")
    stage1 = load_stage1(folder1, data)
    config = stage2_config(preset, dataset)
    folder = pipeline_dir(stage1, config, seed, cache_dir)
    if (folder / "pipeline.json").is_file():
        pipe = DPPMGPipeline.from_pretrained(folder, data, stage1, cache_dir).with_image_sampling(config.image)
    else:
        from dppmg.seeding import seed_everything

        pipe = build_pipeline(data, stage1, config, seed_everything(seed).torch, cache_dir=cache_dir, progress=progress)
        pipe.save_pretrained(folder)
    pipe.meta["folder"] = str(folder)
    return pipe, data
