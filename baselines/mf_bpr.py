"""MF-BPR (Rendle et al., UAI 2009, "BPR: Bayesian Personalized Ranking from Implicit Feedback").

Matrix factorisation of the training interactions with the BPR loss, s(u, i) = <U_u, E_i>: the
graph preference model with ID embeddings only and no propagation layer.
"""

from __future__ import annotations

from dppmg.interface import RankingMethod


class MFBPR(RankingMethod):
    name = "mf-bpr"
    description = "matrix factorisation with BPR (ID embeddings, no propagation)"
    order = 20
    preference = {"modalities": ("id",), "num_layers": 0}
