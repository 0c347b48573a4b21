"""Stage 2 training: learn the preference-token embeddings on the users' training histories.

* Text tokens: the LM continues the user's prompt with the texts of their history items
  (causal-LM loss on the item text only).
* Image tokens (textual inversion): the frozen UNet denoises the user's history images conditioned
  on the user's image prompt (epsilon-prediction loss). With ``image_sees_generated_text`` the
  prompt holds the first words of the target item's own text in the generated text's place
  (teacher forcing), so the tokens learn what the words do not already say.

Only the token embeddings receive gradients; the backbones stay frozen. Results are cached
(:mod:`dppmg.generation.cache`).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from dppmg.data import load_dataset
from dppmg.data.datasets import check_user_ids_known, explain_unknown_users
from dppmg.data.images import load_image_array
from dppmg.data.schema import InteractionData
from dppmg.errors import ConfigError, DPPMGError
from dppmg.generation.cache import pipeline_dir, text_tokens_dir
from dppmg.generation.config import Stage2Config
from dppmg.generation.image_backbone import diffusion_loss, images_to_tensor, train_scheduler
from dppmg.generation.pipeline import PIPELINE_VERSION, DPPMGPipeline, load_token_state, token_state
from dppmg.generation.text_backbone import causal_lm_loss
from dppmg.infra import cache
from dppmg.infra.io import atomic_write_json, read_versioned_json
from dppmg.infra.seeding import check_seed, seed_everything
from dppmg.preference.checkpoint import Stage1Checkpoint, checkpoint_dir, load_stage1
from dppmg.preference.config import Stage1Config


def history_pairs(data: InteractionData) -> np.ndarray:
    """The (user, item) pairs the token embeddings learn from: every training interaction."""
    pairs = data.user_item_pairs("train")
    if not len(pairs):
        raise DPPMGError("no training interactions to learn the token embeddings from")
    return pairs


def validation_pairs(data: InteractionData, n: int) -> np.ndarray:
    """A fixed sample of ``n`` (user, validation item) pairs (the same for every run on ``data``)."""
    pairs = data.user_item_pairs("valid")
    if len(pairs) > n:
        pairs = pairs[np.sort(np.random.default_rng(0).choice(len(pairs), n, replace=False))]
    return pairs


def build_pipeline(data: InteractionData, stage1: Stage1Checkpoint, config: Stage2Config, generator: torch.Generator,
                   cache_dir: str | os.PathLike | None = None, train: bool = True, progress: bool = True,
                   history: dict[str, list[float]] | None = None) -> DPPMGPipeline:
    """Assemble the pipeline (backbones cached) and, with ``train``, learn its token embeddings;
    ``history`` receives the per-step losses. The validation curves (and the step each modality's
    kept embeddings come from) are in ``pipe.meta["token_validation"]``."""
    # Token training draws from its own generators; the backbones train from the shared-model seed
    # (dppmg.infra.seeding), so neither depends on whether a backbone was trained in this call or loaded.
    text_seed, image_seed = (int(torch.randint(2**62, (1,), generator=generator)) for _ in range(2))
    pipe = DPPMGPipeline.assemble(data, stage1, config, cache_dir, progress)
    if train:
        history = history if history is not None else {}
        validation = {}
        history["text"], validation["text"] = cached_text_tokens(pipe, data, stage1, text_seed, cache_dir, progress)
        history["image"], validation["image"] = train_image_tokens(pipe, data, torch.Generator().manual_seed(image_seed),
                                                                   cache_dir, progress)
        pipe.meta["token_losses"] = {m: [round(x, 5) for x in v] for m, v in history.items()}
        pipe.meta["token_validation"] = validation
    return pipe


def cached_text_tokens(pipe: DPPMGPipeline, data: InteractionData, stage1: Stage1Checkpoint, seed: int,
                       cache_dir: str | os.PathLike | None, progress: bool) -> tuple[list[float], dict[str, Any]]:
    """Train the text-token embeddings, or load them (they depend on the text side only)."""
    folder = text_tokens_dir(stage1, pipe.config, pipe.text_tokens.tokens, seed, cache_dir)
    with cache.lock(folder, "Stage 2 text tokens"):
        if cache.reuse(folder, "Stage 2 text tokens"):
            load_token_state(pipe.text_tokens, torch.load(folder / "text_tokens.pt"))
            saved = read_versioned_json(folder / "losses.json", PIPELINE_VERSION, "cached text tokens")
            return saved["losses"], saved["validation"]
        losses, validation = train_text_tokens(pipe, data, torch.Generator().manual_seed(seed), progress)
        with cache.entry(folder, data.name) as tmp:
            torch.save(token_state(pipe.text_tokens), tmp / "text_tokens.pt")
            atomic_write_json(tmp / "losses.json", {"version": PIPELINE_VERSION, "losses": losses,
                                                    "validation": validation})
        return losses, validation


class KeepBest:
    """Validation-based choice of the training step: measure the loss on the validation pairs
    every ``validation_every`` steps (and at steps 0 and the last) and keep the best state of the
    trained ``module`` (token embeddings, or a baseline's adapter)."""

    def __init__(self, module: torch.nn.Module, config: Stage2Config, measure):
        self.module, self.every, self.measure = module, config.validation_every, measure
        self.curve: list[dict[str, float]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None

    def __call__(self, step: int, last: bool) -> None:
        if not self.every or not (step % self.every == 0 or last):
            return
        loss = float(self.measure())
        self.curve.append({"step": step, "loss": round(loss, 6)})
        if self.best is None or loss < self.best[0]:
            self.best = (loss, step, {k: v.detach().clone() for k, v in self.module.state_dict().items()})

    def finish(self) -> dict[str, Any]:
        if self.best is None:
            return {"curve": [], "chosen_step": None}
        self.module.load_state_dict(self.best[2])
        return {"curve": self.curve, "chosen_step": self.best[1], "chosen_loss": round(self.best[0], 6)}


def train_text_tokens(pipe: DPPMGPipeline, data: InteractionData, generator: torch.Generator,
                      progress: bool = True) -> tuple[list[float], dict[str, Any]]:
    """Learn the text-token embeddings: the LM continues the user's prompt with their history texts.
    Returns the per-step training losses and the validation choice of the step (:class:`KeepBest`)."""
    config = pipe.config
    pairs = history_pairs(data)
    user_ids, texts = data.users["user_id"].tolist(), data.items["text"].tolist()

    def loss_of(batch: np.ndarray) -> torch.Tensor:
        prompts = [pipe.text_prompt(user_ids[u]) for u in batch[:, 0]]
        return causal_lm_loss(pipe.text_model, pipe.text_tokenizer, prompts, [" " + texts[i] for i in batch[:, 1]],
                              config.text.max_length, inputs_embeds_fn=pipe.text_embeds)

    held = validation_pairs(data, config.validation_pairs)

    @torch.no_grad()
    def validation_loss() -> float:
        chunks = [held[i:i + config.batch_size] for i in range(0, len(held), config.batch_size)]
        return float(np.average([float(loss_of(c)) for c in chunks], weights=[len(c) for c in chunks]))

    keep = KeepBest(pipe.text_tokens, config, validation_loss if len(held) else None)
    keep.every = keep.every if len(held) else 0
    optim = torch.optim.Adam(pipe.text_tokens.parameters(), lr=config.lr)
    losses = []
    keep(0, config.text_steps == 0)
    for step in tqdm(range(1, config.text_steps + 1), desc="text tokens", disable=not progress, leave=False):
        loss = loss_of(pairs[torch.randint(len(pairs), (config.batch_size,), generator=generator).numpy()])
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        keep(step, step == config.text_steps)
    return losses, keep.finish()


def train_image_tokens(pipe: DPPMGPipeline, data: InteractionData, generator: torch.Generator,
                       cache_dir: str | os.PathLike | None = None, progress: bool = True
                       ) -> tuple[list[float], dict[str, Any]]:
    """Learn the image-token embeddings (textual inversion) on the user's history images. Returns
    the per-step training losses and the validation choice of the step (:class:`KeepBest`; the
    validation loss uses the same noise and timesteps at every measurement)."""
    config = pipe.config
    backbone = pipe.image_backbone
    images = images_to_tensor(load_image_array(data, backbone.config.width, backbone.config.height, cache_dir=cache_dir))
    pairs = history_pairs(data)
    user_ids, texts = data.users["user_id"].tolist(), data.items["text"].tolist()
    scheduler = train_scheduler(backbone.config)

    def loss_of(batch: np.ndarray, noise_generator: torch.Generator) -> torch.Tensor:
        cond = pipe.image_condition([pipe.image_prompt(user_ids[u], texts[i]) for u, i in batch])
        return diffusion_loss(backbone.unet, scheduler, images[batch[:, 1]], cond, noise_generator)

    held = validation_pairs(data, config.validation_pairs)

    @torch.no_grad()
    def validation_loss() -> float:
        fixed = torch.Generator().manual_seed(0)
        chunks = [held[i:i + config.batch_size] for i in range(0, len(held), config.batch_size)]
        return float(np.average([float(loss_of(c, fixed)) for c in chunks], weights=[len(c) for c in chunks]))

    keep = KeepBest(pipe.image_tokens, config, validation_loss)
    keep.every = keep.every if len(held) else 0
    optim = torch.optim.Adam(pipe.image_tokens.parameters(), lr=config.lr)
    losses = []
    keep(0, config.image_steps == 0)
    for step in tqdm(range(1, config.image_steps + 1), desc="image tokens", disable=not progress, leave=False):
        loss = loss_of(pairs[torch.randint(len(pairs), (config.batch_size,), generator=generator).numpy()], generator)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        keep(step, step == config.image_steps)
    return losses, keep.finish()


def check_user_ids(user_ids: Sequence[Any], data: InteractionData, preset: str | None = None,
                   data_root: str | None = None) -> list[str]:
    """``user_ids`` as strings; raise naming the ones the processed ``data`` does not have and, given
    the ``preset``, where each of them went (:func:`~dppmg.data.datasets.explain_unknown_users`)."""
    try:
        return check_user_ids_known(user_ids, set(data.users["user_id"]), data.name, "processed data")
    except ConfigError as exc:
        if preset is None:
            raise
        known = set(data.users["user_id"])
        unknown = [str(u) for u in user_ids if str(u) not in known]
        why = explain_unknown_users(unknown, data.name, preset, data_root)
        raise ConfigError(f"{exc}; " + "; ".join(f"user {u!r}: {why[u]}" for u in unknown[:5])) from None


def load_or_train_pipeline(stage1_config: Stage1Config, config: Stage2Config, *, data_root: str | None = None,
                           cache_dir: str | os.PathLike | None = None, progress: bool = True):
    """The Stage 2 pipeline of ``config`` on the tokens of the Stage 1 run ``stage1_config`` (its
    dataset, preset and seed): loaded if trained before, else Stage 1's checkpoint is required and
    the token embeddings are trained and saved. Returns (pipeline, data, loaded): ``loaded`` says
    whether the pipeline came from the cache (the plan's cost model counts only trainings)."""
    dataset, preset, seed = stage1_config.dataset, stage1_config.preset, check_seed(stage1_config.seed)
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    folder1 = checkpoint_dir(stage1_config, cache_dir)
    stage1 = load_stage1(folder1, data)
    folder = pipeline_dir(stage1, config, seed, cache_dir)
    with cache.lock(folder, "Stage 2 pipeline"):
        loaded = cache.reuse(folder, "Stage 2 pipeline")
        if loaded:
            pipe = DPPMGPipeline.from_pretrained(folder, data, stage1, cache_dir).with_generation_settings(config)
        else:
            pipe = build_pipeline(data, stage1, config, seed_everything(seed).torch, cache_dir=cache_dir, progress=progress)
            with cache.entry(folder, dataset) as tmp:
                pipe.save_pretrained(tmp)
    pipe.meta["folder"] = str(folder)
    return pipe, data, loaded
