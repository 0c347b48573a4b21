"""Stage 1a: the modal-specific graph preference model.

For each modality m in {text, image} a LightGCN-style graph network propagates over the
user–item graph of **training** interactions only. Item inputs are the frozen pretrained features
x_i^m (L2-normalised) projected to d dims, plus an optional item ID embedding; users start from
learned embeddings:

    e_u^{m,(0)} = U^m_u                      e_i^{m,(0)} = W^m x_i^m + E^m_i
    e^{m,(l+1)} = Â e^{m,(l)},   Â = D^{-1/2} A D^{-1/2}   (A: symmetric bipartite adjacency)
    p_u^m = 1/(L+1) Σ_{l=0..L} e_u^{m,(l)}      q_i^m = 1/(L+1) Σ_{l=0..L} e_i^{m,(l)}

The score of a user for an item is the sum of the modality scores, s(u, i) = Σ_m <p_u^m, q_i^m>.
Training minimises BPR on s plus per-modality BPR terms, so that each modality's vectors rank on
their own (they become the per-modality preferences that Stage 1b quantizes):

    L = BPR(s) + λ_m Σ_m BPR(s^m) + λ_2 (||e_u^{(0)}||² + ||e_i^{(0)}||² + ||e_j^{(0)}||²) / B,
    BPR(s) = -mean log σ(s(u, i) - s(u, j)),  j a sampled non-interacted item.

The same class expresses the recommender baselines and the ablation, as configs registered with
their methods (``baselines/mf_bpr.py``, ``baselines/lightgcn.py``, :mod:`dppmg.methods`): MF-BPR
is ``modalities=("id",), num_layers=0``; LightGCN is ``modalities=("id",)``; the "shared"
ablation (one preference vector for both modalities) uses a single branch whose item input is
Σ_m W^m x_i^m + E_i. Early stopping on valid Recall@20 keeps the best checkpoint.
"""

from __future__ import annotations

import copy
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dppmg.data.schema import InteractionData, data_signature
from dppmg.errors import ConfigError
from dppmg.infra import cache
from dppmg.preference.config import PreferenceConfig
from dppmg.preference.ranking import RankingEvaluator, SparseInteractions, factor_scorer


def normalized_adjacency(train_pairs: np.ndarray, num_users: int, num_items: int) -> torch.Tensor:
    """Â = D^{-1/2} A D^{-1/2} of the bipartite graph, as a sparse CSR tensor.

    Nodes 0..num_users-1 are users, num_users.. are items; isolated nodes keep a zero row.
    """
    u = torch.as_tensor(train_pairs[:, 0], dtype=torch.long)
    i = torch.as_tensor(train_pairs[:, 1], dtype=torch.long) + num_users
    rows, cols = torch.cat([u, i]), torch.cat([i, u])
    n = num_users + num_items
    deg = torch.bincount(rows, minlength=n).float()
    inv_sqrt = torch.where(deg > 0, deg.pow(-0.5), torch.zeros_like(deg))
    values = inv_sqrt[rows] * inv_sqrt[cols]
    coo = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return coo.coalesce().to_sparse_csr()


class _SymmetricSpMM(torch.autograd.Function):
    """y = Â x for a symmetric sparse Â: the backward pass is Â grad, another CSR product.

    Autograd's generic CSR backward transposes Â on every call; exploiting the symmetry makes a
    forward+backward ~10x faster on CPU.
    """

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency
        return adjacency @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.adjacency @ grad


def propagate(adjacency: torch.Tensor, x0: torch.Tensor, num_layers: int) -> torch.Tensor:
    """LightGCN propagation: the mean of x0, Âx0, ..., Â^L x0 (Â symmetric, CSR)."""
    out, x = x0, x0
    for _ in range(num_layers):
        x = _SymmetricSpMM.apply(adjacency, x)
        out = out + x
    return out / (num_layers + 1)


class ModalPreferenceGNN(nn.Module):
    """Modal-specific graph preference model (DPPMG, Zhang et al., SIGIR 2026, Stage 1a).

    Equations in the module docstring.

    Args:
        num_users: number of users.
        num_items: number of items.
        features: frozen item features per modality, ``{"text": (n_items, 384), "image": (n_items, 1280)}``.
        adjacency: Â from :func:`normalized_adjacency` (training interactions only).
        config: a :class:`PreferenceConfig`.
    """

    def __init__(self, num_users: int, num_items: int, features: dict[str, torch.Tensor],
                 adjacency: torch.Tensor, config: PreferenceConfig):
        super().__init__()
        self.config, self.num_users, self.num_items = config, num_users, num_items
        self.register_buffer("adjacency", adjacency, persistent=False)
        used = [m for m in config.modalities if m != "id"]
        for m in used:
            if m not in features:
                raise ConfigError(f"feature modality {m!r} missing; got {sorted(features)}")
            if features[m].shape[0] != num_items:
                raise ConfigError(f"{m} features have {features[m].shape[0]} rows for {num_items} items")
            self.register_buffer(f"feat_{m}", F.normalize(features[m].float(), dim=1), persistent=False)
        self.user_emb = nn.ModuleDict({b: nn.Embedding(num_users, config.dim) for b in config.branches})
        self.proj = nn.ModuleDict({m: nn.Linear(features[m].shape[1], config.dim, bias=False) for m in used})
        need_id = config.item_id_embedding or "id" in config.modalities
        self.item_id = nn.ModuleDict({b: nn.Embedding(num_items, config.dim) for b in config.branches} if need_id else {})
        for emb in [*self.user_emb.values(), *self.item_id.values()]:
            nn.init.normal_(emb.weight, std=0.1)

    def item_input(self, branch: str) -> torch.Tensor:
        parts = []
        if branch == "shared":
            parts += [self.proj[m](getattr(self, f"feat_{m}")) for m in self.proj]
        elif branch in self.proj:
            parts.append(self.proj[branch](getattr(self, f"feat_{branch}")))
        if branch in self.item_id:
            parts.append(self.item_id[branch].weight)
        return torch.stack(parts).sum(0)

    def forward(self, with_layer0: bool = False) -> dict[str, tuple[torch.Tensor, ...]]:
        """Per branch: (p_u for all users, q_i for all items) after propagation, plus the layer-0
        user and item embeddings when ``with_layer0`` (for the regulariser, without recomputing them).

        All branches share Â, so they are propagated as one (n, d * branches) matrix: one sparse
        product per layer instead of one per branch and layer (the columns never mix).
        """
        branches = self.config.branches
        x0 = {b: torch.cat([self.user_emb[b].weight, self.item_input(b)]) for b in branches}
        x = propagate(self.adjacency, torch.cat([x0[b] for b in branches], dim=1), self.config.num_layers)
        out = {}
        for b, xb in zip(branches, x.split(self.config.dim, dim=1)):
            reps = (xb[: self.num_users], xb[self.num_users:])
            out[b] = reps + (x0[b][: self.num_users], x0[b][self.num_users:]) if with_layer0 else reps
        return out

    @torch.no_grad()
    def preferences(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        self.eval()
        return {b: (p.detach().clone(), q.detach().clone()) for b, (p, q) in self().items()}

    @torch.no_grad()
    def score_all(self, reps: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        """The dense (users, items) score matrix (small data; evaluation uses :meth:`scorer`)."""
        reps = reps or self.preferences()
        return sum(p @ q.T for p, q in reps.values())

    def scorer(self):
        """A :data:`~dppmg.preference.ranking.UserScorer` over the current preferences."""
        return factor_scorer(self.preferences())


def sample_negatives(users: torch.Tensor, train: SparseInteractions, generator: torch.Generator,
                     tries: int = 5) -> torch.Tensor:
    """Uniform items not in each user's training set.

    Rejection sampling for ``tries`` rounds, then an exact draw among the user's remaining items for
    the (rare) rows that still collide; users who interacted with every item keep a positive.
    """
    neg = torch.randint(train.num_items, users.shape, generator=generator)
    for _ in range(tries):
        clash = train.contains(users, neg)
        if not clash.any():
            return neg
        neg[clash] = torch.randint(train.num_items, (int(clash.sum()),), generator=generator)
    for row in torch.nonzero(train.contains(users, neg)).flatten().tolist():
        taken = torch.zeros(train.num_items, dtype=torch.bool)
        taken[train.row(int(users[row]))] = True
        free = torch.nonzero(~taken).flatten()
        if len(free):
            neg[row] = free[torch.randint(len(free), (1,), generator=generator)]
    return neg


def bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(pos - neg).mean()


@dataclass
class FitResult:
    """What :func:`fit_preference` returns: the best model and its training history."""

    model: ModalPreferenceGNN
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, float]]
    epoch_seconds: float


# Epochs between training checkpoints; resuming from one gives the same model as not stopping.
CHECKPOINT_EVERY_EPOCHS = 5


def _save_training_state(folder: Path, state: dict[str, Any], dataset: str) -> None:
    with cache.entry(folder, dataset) as tmp:
        torch.save(state, tmp / "train_state.pt")


def _load_training_state(folder: Path | None, signature: dict[str, Any]) -> dict[str, Any] | None:
    """The saved training state in ``folder`` if it was written for the data of ``signature``."""
    import shutil


    if folder is None or not cache.reuse(folder, "stage-1 training checkpoint"):
        return None
    state = torch.load(folder / "train_state.pt", weights_only=False)
    if state.get("data") != signature:
        cache.report_rebuild("stage-1 training checkpoint", folder, "it was written for other data")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return state


def epoch_batch_size(num_train: int, config: PreferenceConfig) -> int:
    """The batch size of an epoch over ``num_train`` interactions: ``config.batch_size``, grown so
    that an epoch takes at most ``config.max_steps_per_epoch`` steps.

    Every step propagates the whole graph (cost ∝ interactions), so with a fixed batch an epoch
    costs ∝ interactions²; bounding the steps keeps it linear. Each user's interactions still
    appear once per epoch, spread over about as many steps as on MovieLens-100K, where the bound
    does not bind.
    """
    return max(config.batch_size, -(-num_train // config.max_steps_per_epoch))


def fit_preference(data: InteractionData, features: dict[str, np.ndarray] | None, config: PreferenceConfig,
                   generator: torch.Generator, evaluator: RankingEvaluator | None = None,
                   progress: bool = True, resume_dir: str | os.PathLike | None = None) -> FitResult:
    """Train with BPR and early stopping on valid Recall@20; return the best model.

    Args:
        resume_dir: folder of the training checkpoint, written every
            :data:`CHECKPOINT_EVERY_EPOCHS` epochs (model, optimizer, generator, early-stopping
            state); if it holds one, training resumes from it and ends exactly as an uninterrupted
            run would. The caller removes it once the result is saved.
    """
    evaluator = evaluator or RankingEvaluator(data)
    train_pairs = data.user_item_pairs("train")
    adjacency = normalized_adjacency(train_pairs, data.num_users, data.num_items)
    feats = {m: torch.as_tensor(f) for m, f in (features or {}).items()}
    torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))  # parameter init
    model = ModalPreferenceGNN(data.num_users, data.num_items, feats, adjacency, config)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    pairs = torch.as_tensor(train_pairs, dtype=torch.long)
    batch_size = epoch_batch_size(len(pairs), config)
    best_state, best_epoch, best_recall, best_valid = copy.deepcopy(model.state_dict()), 0, -1.0, {}
    history: list[dict[str, float]] = []
    epoch_times = []
    first_epoch = 1
    resume_dir = Path(resume_dir) if resume_dir is not None else None

    signature = data_signature(data) if resume_dir is not None else {}
    saved = _load_training_state(resume_dir, signature)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optim.load_state_dict(saved["optimizer"])
        generator.set_state(saved["generator"])
        best_state, best_epoch, best_recall, best_valid = (saved["best_state"], saved["best_epoch"],
                                                           saved["best_recall"], saved["best_valid"])
        history, epoch_times, first_epoch = saved["history"], saved["epoch_times"], saved["epoch"] + 1
    bar = tqdm(range(first_epoch, config.max_epochs + 1), desc="preference", disable=not progress, leave=False,
               initial=first_epoch - 1, total=config.max_epochs)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(pairs), generator=generator)
        total = 0.0
        for start in range(0, len(pairs), batch_size):
            batch = pairs[order[start:start + batch_size]]
            users, pos = batch[:, 0], batch[:, 1]
            neg = sample_negatives(users, evaluator.train, generator)
            reps = model(with_layer0=True)
            s_pos = s_neg = 0.0
            loss = torch.zeros(())
            # Each row's count in the batch: the L2 term Σ_batch ||e^{(0)}||² without gathering rows
            # (a gather's backward is a scatter over all rows; this is a dense product instead).
            user_count = torch.bincount(users, minlength=data.num_users).float()
            item_count = torch.bincount(torch.cat([pos, neg]), minlength=data.num_items).float()
            for p, q, u0, i0 in reps.values():
                pu, qi = p[users], q[torch.cat([pos, neg])]
                bp, bn = (pu * qi[:len(pos)]).sum(1), (pu * qi[len(pos):]).sum(1)
                s_pos, s_neg = s_pos + bp, s_neg + bn
                if len(reps) > 1:
                    loss = loss + config.modal_loss_weight * bpr(bp, bn)
                reg = user_count @ u0.pow(2).sum(1) + item_count @ i0.pow(2).sum(1)
                loss = loss + config.l2 * reg / len(users)
            loss = loss + bpr(s_pos, s_neg)
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(users)
        epoch_times.append(time.perf_counter() - t0)
        if epoch % config.eval_every == 0:
            valid = evaluator.evaluate(model.scorer(), "valid")
            history.append({"epoch": epoch, "loss": total / len(pairs), **{f"valid_{k}": v for k, v in valid.items()}})
            bar.set_postfix(loss=f"{total / len(pairs):.4f}", r20=f"{valid['recall@20']:.4f}")
            if valid["recall@20"] > best_recall:
                best_recall, best_epoch, best_valid = valid["recall@20"], epoch, valid
                best_state = copy.deepcopy(model.state_dict())
            elif epoch - best_epoch >= config.patience * config.eval_every:
                break
        if resume_dir is not None and epoch % CHECKPOINT_EVERY_EPOCHS == 0 and epoch < config.max_epochs:
            _save_training_state(resume_dir, {
                "model": model.state_dict(), "optimizer": optim.state_dict(), "generator": generator.get_state(),
                "best_state": best_state, "best_epoch": best_epoch, "best_recall": best_recall,
                "best_valid": best_valid, "history": history, "epoch_times": epoch_times, "epoch": epoch,
                "data": signature}, data.name)
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, best_epoch, best_valid, history, float(np.median(epoch_times)))


def popularity_scores(data: InteractionData) -> torch.Tensor:
    """The popularity baseline: every user gets the items' training interaction counts."""
    counts = np.bincount(data.user_item_pairs("train")[:, 1], minlength=data.num_items).astype(np.float32)
    return torch.as_tensor(counts).expand(data.num_users, -1)


def cold_start_fill(prefs: torch.Tensor, has_train: torch.Tensor) -> torch.Tensor:
    """Rows of users without training interactions become the mean of the others' rows."""
    if has_train.all() or not has_train.any():
        return prefs
    out = prefs.clone()
    out[~has_train] = prefs[has_train].mean(0)
    return out
