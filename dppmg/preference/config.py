"""Configs of Stage 1: the graph preference model, the residual quantizer and a whole Stage 1 run.

Their values per preset and dataset are resolved in :mod:`dppmg.config`; these classes only hold
the defaults and check the values.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dppmg.errors import ConfigError
from dppmg.infra.io import stable_hash

FEATURE_MODALITIES = ("text", "image")
# Part of every Stage 1 checkpoint key: raise it when a checkpoint's content changes meaning.
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class PreferenceConfig:
    """Configuration of :class:`~dppmg.preference.model.ModalPreferenceGNN` and its training.

    Args:
        modalities: feature branches (``"text"``, ``"image"``) or ``("id",)`` for ID-only models.
        shared: one branch (and one user vector) fed by all modalities: the "shared" ablation.
        dim: embedding size d.
        num_layers: propagation layers L (0 = matrix factorisation).
        item_id_embedding: add a learned item ID embedding to the projected features.
        modal_loss_weight: λ_m, weight of the per-modality BPR terms.
        l2: λ_2, regularisation of the layer-0 embeddings in a batch.
        lr: Adam learning rate.
        batch_size: (user, positive, negative) triples per step.
        max_steps_per_epoch: on data where ``batch_size`` would need more steps per epoch, the
            batch grows instead (each step propagates the whole graph, so this keeps an epoch's
            cost linear in the interactions; 24 does not bind on MovieLens-100K, H&M or the
            synthetic world at any preset).
        max_epochs / patience / eval_every: early stopping on valid Recall@20.
    """

    modalities: tuple[str, ...] = FEATURE_MODALITIES
    shared: bool = False
    dim: int = 64
    num_layers: int = 2
    item_id_embedding: bool = True
    modal_loss_weight: float = 0.5
    l2: float = 1e-4
    lr: float = 5e-3
    batch_size: int = 2048
    max_steps_per_epoch: int = 24
    max_epochs: int = 150
    patience: int = 10
    eval_every: int = 1

    def __post_init__(self) -> None:
        allowed = {*FEATURE_MODALITIES, "id"}
        if not self.modalities or set(self.modalities) - allowed:
            raise ConfigError(f"modalities must be a non-empty subset of {sorted(allowed)}, got {self.modalities}")
        if "id" in self.modalities and len(self.modalities) > 1:
            raise ConfigError("modality 'id' (ID-only baselines) cannot be combined with feature modalities")
        for name in ("dim", "batch_size", "max_steps_per_epoch", "max_epochs", "patience", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_layers < 0:
            raise ConfigError(f"num_layers must be >= 0, got {self.num_layers}")

    @property
    def branches(self) -> tuple[str, ...]:
        return ("shared",) if self.shared else self.modalities

    @property
    def uses_features(self) -> bool:
        return "id" not in self.modalities


@dataclass(frozen=True)
class QuantizerConfig:
    """Configuration of :class:`~dppmg.preference.quantize.ResidualQuantizer` and its training.

    Args:
        levels: L_q, number of residual codebooks.
        codebook_size: K, codes per level.
        code_dim: size of the quantized latent.
        hidden_dim: width of the encoder/decoder MLPs.
        commitment: β of the commitment loss.
        lr: Adam learning rate.
        epochs: training epochs over all users.
        batch_size: users per step.
        max_steps_per_epoch: on more users than ``batch_size`` covers in this many steps, the batch
            grows instead (4 does not bind below 1,025 users: MovieLens-100K, H&M, synthetic).
        restart_every: epochs without use after which a code is restarted.
        kmeans_iters: Lloyd iterations of the k-means initialisation.
    """

    levels: int = 3
    codebook_size: int = 32
    code_dim: int = 32
    hidden_dim: int = 128
    commitment: float = 0.25
    lr: float = 2e-3
    epochs: int = 300
    batch_size: int = 256
    max_steps_per_epoch: int = 4
    restart_every: int = 5
    kmeans_iters: int = 25

    def __post_init__(self) -> None:
        for name in ("levels", "codebook_size", "code_dim", "hidden_dim", "epochs", "batch_size", "max_steps_per_epoch",
                     "restart_every"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"quantizer {name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Stage1Config:
    """Everything that determines a Stage 1 run (serialized into every output).

    Args:
        dataset / preset / seed: what the run is of.
        method: the registered method's name (it names the checkpoint folder).
        preference: the graph model to train; ``None`` for a method without a trained model
            (popularity ranks by training counts).
        quantizer: the quantizer that turns the preferences into tokens; ``None``: no tokens.
    """

    dataset: str
    preset: str
    seed: int
    method: str
    preference: PreferenceConfig | None = None
    quantizer: QuantizerConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def key(self) -> str:
        return stable_hash(CHECKPOINT_VERSION, self.to_dict())
