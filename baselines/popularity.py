"""Popularity: every user gets the items ranked by their number of training interactions.

The floor of the Stage 1 ranking table: a preference model that does not beat it has learned
nothing personal.
"""

from __future__ import annotations

from dppmg.interface import RankingMethod


class Popularity(RankingMethod):
    name = "popularity"
    description = "items ranked by training interaction count (no model)"
    order = 10
    preference = None  # nothing is trained: scores are the training counts
