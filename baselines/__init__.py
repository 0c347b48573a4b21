"""Baselines compared with DPPMG (DESIGN.md, "Baselines and ablations").

One module per baseline, each sharing DPPMG's method interface (fit / generate / evaluate) and
registered in one explicit registry. They arrive with the stages they compete in: the recommender
baselines (popularity, MF-BPR, LightGCN) with Stage 1, the personalized generators with Stage 2.
"""
