"""Preference-token injection: each Stage 1 token becomes a new vocabulary entry with its own
learned embedding (the token-associated parameters of DPPMG).

The backbone's embedding matrix is never modified: :class:`PreferenceTokenEmbedding` holds the new
rows as a separate parameter and builds ``inputs_embeds`` by taking the backbone's rows for old
ids and its own rows for the new ones. So only these rows (and LoRA, where enabled) can receive
gradients, whatever optimizer is used, and the backbone stays bit-for-bit frozen.

Initialisation (random is a poor start: the generator would first have to discover what a token is
about): a token's embedding starts as the mean backbone embedding of the words of the items that
carry the same code (``init_from_texts``), i.e. the token starts as "an average of what it means".
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from dppmg.errors import ConfigError


def register_tokens(tokenizer, tokens: Sequence[str]) -> int:
    """Add ``tokens`` to ``tokenizer`` (each must become exactly one id); return the first new id."""
    if not tokens:
        raise ConfigError("no preference tokens to register")
    tokenizer.add_tokens(list(tokens), special_tokens=False)
    ids = tokenizer.convert_tokens_to_ids(list(tokens))
    if ids != list(range(ids[0], ids[0] + len(tokens))):
        raise ConfigError("preference tokens did not receive contiguous ids (some were already in the vocabulary?)")
    for token in tokens[:3]:
        encoded = tokenizer(token, add_special_tokens=False)["input_ids"]
        if encoded != [tokenizer.convert_tokens_to_ids(token)]:
            raise ConfigError(f"token {token!r} does not round-trip through the tokenizer: {encoded}")
    return ids[0]


class PreferenceTokenEmbedding(nn.Module):
    """Learned embeddings of the preference tokens, used in front of a frozen embedding table.

    Args:
        tokens: the token strings, in id order.
        first_id: tokenizer id of ``tokens[0]`` (ids are contiguous).
        init: (len(tokens), dim) initial embeddings.
    """

    def __init__(self, tokens: Sequence[str], first_id: int, init: torch.Tensor):
        super().__init__()
        if init.shape[0] != len(tokens):
            raise ConfigError(f"{len(tokens)} tokens but {init.shape[0]} initial embeddings")
        self.tokens = list(tokens)
        self.first_id = first_id
        self.weight = nn.Parameter(init.detach().clone().float())

    def forward(self, input_ids: torch.Tensor, base: nn.Embedding) -> torch.Tensor:
        is_new = input_ids >= self.first_id
        embeds = base(input_ids.masked_fill(is_new, 0))
        new_rows = self.weight[(input_ids - self.first_id).clamp(0, len(self.tokens) - 1)]
        return torch.where(is_new.unsqueeze(-1), new_rows.to(embeds.dtype), embeds)


@torch.no_grad()
def init_from_texts(tokens: Sequence[str], meanings: Mapping[str, Sequence[str]], tokenizer, base: nn.Embedding,
                    max_texts: int = 32) -> torch.Tensor:
    """Mean backbone embedding of the words of each token's meaning texts (fallback: of all texts)."""
    def mean_of(texts: Sequence[str]) -> torch.Tensor | None:
        ids = [i for t in texts[:max_texts] for i in tokenizer(t, add_special_tokens=False)["input_ids"]]
        ids = [i for i in ids if i < base.num_embeddings]
        return base.weight[torch.tensor(ids)].float().mean(0) if ids else None

    every = mean_of([t for texts in meanings.values() for t in texts[:4]])
    if every is None:
        every = base.weight.float().mean(0)
    rows = [mean_of(list(meanings.get(tok, ()))) for tok in tokens]
    return torch.stack([every if r is None else r for r in rows])


def new_token_embedding(tokenizer, base: nn.Embedding, tokens: Sequence[str],
                        meanings: Mapping[str, Sequence[str]]) -> PreferenceTokenEmbedding:
    """Register ``tokens`` in ``tokenizer`` and return their embeddings, initialised from ``meanings``."""
    first = register_tokens(tokenizer, tokens)
    return PreferenceTokenEmbedding(tokens, first, init_from_texts(tokens, meanings, tokenizer, base))


class ProjectedTokenEmbedding(PreferenceTokenEmbedding):
    """Continuous soft tokens: the "without quantization" ablation of DPPMG.

    Instead of a learned row per discrete code, user u's ``L`` tokens of Stage 1 branch b are

        [e_{u,1}, ..., e_{u,L}] = reshape(W_b p̃_u^b + c_b, (L, dim)),

    a learned linear map of the user's standardised preference vector p̃_u^b: the same number of
    embedding vectors per user, no codebook between the graph and the generator. ``weight`` is
    computed from (W_b, c_b), so Stage 2's and Stage 3's loops (which read ``weight`` and optimise
    ``parameters()``) train the map unchanged. (W_b, c_b) start at the ridge least-squares fit of
    the discrete tokens' initial embeddings, so both variants start from the same point.

    Args:
        tokens: per-user placeholder token strings, in id order: branch by branch, user by user,
            level by level.
        first_id: tokenizer id of ``tokens[0]`` (ids are contiguous).
        preferences: per branch (in the order of ``tokens``), the users' preference vectors (n, d).
        levels: per branch, the tokens per user L.
        init: (len(tokens), dim) the embeddings the fit of (W_b, c_b) aims at.
        ridge: the ridge penalty of that fit (relative to the number of users).
    """

    def __init__(self, tokens, first_id: int, preferences: Sequence[torch.Tensor], levels: Sequence[int],
                 init: torch.Tensor, ridge: float = 1e-2):
        nn.Module.__init__(self)
        sizes = [p.shape[0] * L for p, L in zip(preferences, levels)]
        if sum(sizes) != len(tokens) or init.shape[0] != len(tokens):
            raise ConfigError(f"{len(tokens)} tokens, {init.shape[0]} initial embeddings and "
                              f"{sum(sizes)} (users x levels) soft tokens must agree")
        self.tokens, self.first_id, self.levels = list(tokens), first_id, list(levels)
        dim = init.shape[1]
        self.maps = nn.ModuleList()
        for b, (p, L, target) in enumerate(zip(preferences, levels, init.float().split(sizes))):
            p = p.float()
            standardised = (p - p.mean(0)) / p.std(0).clamp_min(1e-6)
            self.register_buffer(f"pref_{b}", standardised)
            x = torch.cat([standardised, torch.ones(len(p), 1)], 1)
            y = target.reshape(len(p), L * dim)
            penalty = ridge * len(p) * torch.eye(x.shape[1])
            penalty[-1, -1] = 0.0  # the offset c_b is not shrunk
            solution = torch.linalg.solve(x.T @ x + penalty, x.T @ y)
            linear = nn.Linear(p.shape[1], L * dim)
            linear.weight.data.copy_(solution[:-1].T)
            linear.bias.data.copy_(solution[-1])
            self.maps.append(linear)

    @property
    def weight(self) -> torch.Tensor:
        return torch.cat([linear(getattr(self, f"pref_{b}")).reshape(-1, linear.out_features // L)
                          for b, (linear, L) in enumerate(zip(self.maps, self.levels))])
