"""Stage 1b: discrete preference tokens from a residual vector quantizer (RQ-VAE).

Per modality m, a user's preference p_u^m (Stage 1a) is standardised, encoded and quantized by
L_q codebooks in turn, each quantizing what the previous levels left over:

    z = Enc(p̃_u),  r_0 = z,   c_l = argmin_k ||r_{l-1} - C_l[k]||²,   r_l = r_{l-1} - C_l[c_l]
    ẑ = Σ_l C_l[c_l],   p̂_u = Dec(z + sg(ẑ - z))       (straight-through estimator)
    L = ||p̃_u - p̂_u||² + Σ_l ( ||sg(r_{l-1}) - C_l[c_l]||² + β ||r_{l-1} - sg(C_l[c_l])||² )

Codebooks start from k-means on the first batch's residuals, and codes unused for
``restart_every`` epochs are restarted at randomly chosen current residuals. The code (m, l, k) is
the token ``<{txt|img}_{l}_{k}>`` (levels counted from 1), e.g. ``<img_1_17>``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dppmg.errors import ConfigError
from dppmg.preference.config import QuantizerConfig

# "shared" (one branch fed by both modalities) and "id" (ID-only, no graph: the no-graph ablation)
# are single-branch preferences: both generators read their one token set.
MODALITY_PREFIX = {"text": "txt", "image": "img", "shared": "pref", "id": "id"}


def kmeans(x: torch.Tensor, k: int, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Lloyd's k-means with k-means++-style seeding; empty clusters re-seeded from random points."""
    n = x.shape[0]
    centers = [x[torch.randint(n, (1,), generator=generator)]]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.cat(centers)).min(dim=1).values.pow(2)
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full((n,), 1.0 / n)
        centers.append(x[torch.multinomial(probs, 1, generator=generator)])
    c = torch.cat(centers).clone()
    for _ in range(iters):
        assign = torch.cdist(x, c).argmin(dim=1)
        for j in range(k):
            members = x[assign == j]
            c[j] = members.mean(0) if len(members) else x[torch.randint(n, (1,), generator=generator)][0]
    return c


class ResidualQuantizer(nn.Module):
    """Residual vector quantizer (RQ-VAE) of one modality's preference vectors (DPPMG Stage 1b).

    Equations in the module docstring.

    Args:
        input_dim: size d of the preference vectors.
        config: a :class:`QuantizerConfig`.
    """

    def __init__(self, input_dim: int, config: QuantizerConfig):
        super().__init__()
        self.config = config
        h, e = config.hidden_dim, config.code_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, h), nn.GELU(), nn.Linear(h, e))
        self.decoder = nn.Sequential(nn.Linear(e, h), nn.GELU(), nn.Linear(h, input_dim))
        self.codebooks = nn.Parameter(torch.randn(config.levels, config.codebook_size, e) * 0.1)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))
        self.register_buffer("initialised", torch.tensor(False))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Returns (codes (n, L), ẑ, codebook+commitment loss, residual entering each level)."""
        residual, z_q = z, torch.zeros_like(z)
        codes, residuals = [], []
        loss = z.new_zeros(())
        for level in range(self.config.levels):
            book = self.codebooks[level]
            residuals.append(residual.detach())
            idx = torch.cdist(residual, book).argmin(dim=1)
            chosen = book[idx]
            loss = loss + F.mse_loss(chosen, residual.detach()) + self.config.commitment * F.mse_loss(residual, chosen.detach())
            z_q = z_q + chosen
            residual = residual - chosen.detach()
            codes.append(idx)
        return torch.stack(codes, dim=1), z_q, loss, residuals

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encoder(self.standardise(x))
        codes, z_q, vq_loss, _ = self.quantize(z)
        x_hat = self.decoder(z + (z_q - z).detach())
        recon = F.mse_loss(x_hat, self.standardise(x))
        return {"codes": codes, "x_hat": x_hat * self.std + self.mean, "recon": recon, "vq": vq_loss,
                "loss": recon + vq_loss}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices (n, L) of preference vectors x (n, d)."""
        return self.quantize(self.encoder(self.standardise(x)))[0]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Preference vectors reconstructed from code indices (n, L)."""
        if codes.ndim != 2 or codes.shape[1] != self.config.levels:
            raise ConfigError(f"codes must have shape (n, {self.config.levels}), got {tuple(codes.shape)}")
        if (codes < 0).any() or (codes >= self.config.codebook_size).any():
            raise ConfigError(f"codes must lie in [0, {self.config.codebook_size})")
        z_q = sum(self.codebooks[level][codes[:, level]] for level in range(self.config.levels))
        return self.decoder(z_q) * self.std + self.mean

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Standardisation statistics from x, then k-means on each level's residuals."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))
        residual = self.encoder(self.standardise(x))
        for level in range(self.config.levels):
            k = min(self.config.codebook_size, len(residual))
            self.codebooks[level, :k] = kmeans(residual, k, self.config.kmeans_iters, generator)
            residual = residual - self.codebooks[level][torch.cdist(residual, self.codebooks[level]).argmin(1)]
        self.initialised.fill_(True)

    @torch.no_grad()
    def restart_dead_codes(self, x: torch.Tensor, last_used: torch.Tensor, epoch: int,
                           generator: torch.Generator) -> int:
        """Move codes unused for ``restart_every`` epochs onto random current residuals."""
        _, _, _, residuals = self.quantize(self.encoder(self.standardise(x)))
        restarted = 0
        for level in range(self.config.levels):
            dead = torch.nonzero(epoch - last_used[level] >= self.config.restart_every).flatten()
            if len(dead):
                pick = torch.randint(len(residuals[level]), (len(dead),), generator=generator)
                noise = torch.randn(len(dead), self.config.code_dim, generator=generator) * 1e-3
                self.codebooks[level, dead] = residuals[level][pick] + noise
                last_used[level, dead] = epoch
                restarted += len(dead)
        return restarted


def quantizer_batch_size(num_users: int, config: QuantizerConfig) -> int:
    """Users per quantizer step: ``config.batch_size``, grown so that an epoch takes at most
    ``config.max_steps_per_epoch`` steps (an epoch stays linear in the users)."""
    return max(config.batch_size, -(-num_users // config.max_steps_per_epoch))


def train_quantizer(x: torch.Tensor, config: QuantizerConfig, generator: torch.Generator,
                    progress: bool = True) -> tuple[ResidualQuantizer, list[dict[str, float]]]:
    """Fit a :class:`ResidualQuantizer` to the rows of ``x`` (one modality's user preferences)."""
    x = x.detach().float()
    torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
    model = ResidualQuantizer(x.shape[1], config)
    model.init_codebooks(x, generator)
    optim = torch.optim.Adam(model.parameters(), lr=config.lr)
    last_used = torch.zeros(config.levels, config.codebook_size)
    batch_size = quantizer_batch_size(len(x), config)
    history = []
    for epoch in tqdm(range(1, config.epochs + 1), desc="quantizer", disable=not progress, leave=False):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            out = model(x[order[start:start + batch_size]])
            optim.zero_grad()
            out["loss"].backward()
            optim.step()
            for level in range(config.levels):
                last_used[level, out["codes"][:, level].unique()] = epoch
        restarted = model.restart_dead_codes(x, last_used, epoch, generator) if epoch < config.epochs * 0.8 else 0
        if epoch % 25 == 0 or epoch == config.epochs:
            with torch.no_grad():
                full = model(x)
            history.append({"epoch": epoch, "recon": float(full["recon"]), "vq": float(full["vq"]),
                            "restarted": restarted})
    model.eval()
    return model, history


def quantizer_report(model: ResidualQuantizer, x: torch.Tensor) -> dict[str, object]:
    """Reconstruction error, per-level utilisation and perplexity, and the collision rate.

    ``recon_mse`` is in standardised units (1.0 = as bad as predicting the mean); the collision
    rate is the fraction of rows whose full code tuple is shared with at least one other row.
    """
    with torch.no_grad():
        out = model(x)
    codes = out["codes"]
    k = model.config.codebook_size
    levels = []
    for level in range(model.config.levels):
        counts = torch.bincount(codes[:, level], minlength=k).float()
        p = counts / counts.sum()
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        levels.append({"level": level + 1, "utilisation": float((counts > 0).float().mean()),
                       "perplexity": float(entropy.exp())})
    _, inverse, tuple_counts = torch.unique(codes, dim=0, return_inverse=True, return_counts=True)
    collided = tuple_counts[inverse] > 1
    return {"recon_mse": float(out["recon"]), "levels": levels, "collision_rate": float(collided.float().mean()),
            "distinct_tuples": int(len(tuple_counts))}


def token_name(modality: str, level: int, code: int) -> str:
    """``<img_1_17>``: modality prefix, level counted from 1, code index."""
    return f"<{MODALITY_PREFIX[modality]}_{level + 1}_{code}>"


def codes_to_tokens(modality: str, codes: np.ndarray) -> list[list[str]]:
    return [[token_name(modality, level, int(c)) for level, c in enumerate(row)] for row in codes]
