"""LightGCN (He et al., SIGIR 2020, "LightGCN: Simplifying and Powering Graph Convolution Network
for Recommendation").

ID embeddings propagated over the normalised user–item graph, e^{(l+1)} = Â e^{(l)}, averaged over
layers, trained with BPR: DPPMG's graph model without item features and without modality branches.
"""

from __future__ import annotations

from dppmg.interface import RankingMethod


class LightGCN(RankingMethod):
    name = "lightgcn"
    description = "LightGCN: ID embeddings propagated over the interaction graph, BPR"
    order = 30
    preference = {"modalities": ("id",)}
