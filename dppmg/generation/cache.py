"""Where Stage 2's trained token embeddings are cached, under keys of what determines them.

Keys name the Stage 1 checkpoint by its dataset, folder name and tokens, not its absolute path,
so a cache folder can be moved or copied whole.

* ``<cache>/stage2/<dataset>-<stage1 folder>-<key>/``: a saved :class:`~dppmg.generation.pipeline.DPPMGPipeline`;
  the key holds the Stage 2 config without its image sampling and text generation settings
  (they do not change what the embeddings learn; a loaded pipeline samples with the current ones),
  the Stage 1 folder and the seed.
* ``<cache>/stage2_text/<dataset>-<stage1 folder>-<key>/``: the text-token embeddings alone, keyed by the
  text side only, so a change to the image side does not pay for them again.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from dppmg.generation.config import SAMPLING_FIELDS, TEXT_GENERATION_FIELDS, Stage2Config
from dppmg.generation.pipeline import PIPELINE_VERSION
from dppmg.infra.io import stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.preference.checkpoint import Stage1Checkpoint


def stage1_name(stage1: Stage1Checkpoint) -> str:
    """The Stage 1 checkpoint as keys see it: ``<dataset>/<folder name>`` (the name holds its config
    key) and a hash of its users' tokens, so that a rebuilt checkpoint whose tokens differ (another
    machine, another thread count) gets new Stage 2 entries instead of mismatched ones."""
    return f"{stage1.folder.parent.name}/{stage1.folder.name}/{stable_hash(stage1.tokens)}"


def pipeline_dir(stage1: Stage1Checkpoint, config: Stage2Config, seed: int,
                 cache_dir: str | os.PathLike | None = None) -> Path:
    trained = {k: v for k, v in config.to_dict().items() if k not in TEXT_GENERATION_FIELDS}
    trained["image"] = {k: v for k, v in trained["image"].items() if k not in SAMPLING_FIELDS}
    # Off, the option trains exactly what pipelines cached before it existed did: keep their keys.
    if not trained["image_sees_generated_text"]:
        del trained["image_sees_generated_text"]
    key = stable_hash(PIPELINE_VERSION, trained, stage1_name(stage1), seed)
    return resolve_cache_dir(cache_dir) / "stage2" / f"{stage1.folder.parent.name}-{stage1.folder.name}-{key}"


def text_tokens_dir(stage1: Stage1Checkpoint, config: Stage2Config, tokens: Sequence[str], seed: int,
                    cache_dir: str | os.PathLike | None = None) -> Path:
    text_side = {"text": dataclasses.asdict(config.text), "steps": config.text_steps, "batch_size": config.batch_size,
                 "lr": config.lr, "sees_image_tokens": config.text_sees_image_tokens,
                 "validation": [config.validation_every, config.validation_pairs]}
    key = stable_hash(PIPELINE_VERSION, text_side, stage1_name(stage1), list(tokens), seed)
    return resolve_cache_dir(cache_dir) / "stage2_text" / f"{stage1.folder.parent.name}-{stage1.folder.name}-{key}"
