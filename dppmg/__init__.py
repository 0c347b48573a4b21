"""DPPMG reproducibility suite.

Discrete Preference learning for Personalized Multimodal Generation (Zhang et al., SIGIR 2026,
arXiv 2604.20434): a graph model learns per-modality user preferences, a quantizer turns them
into discrete tokens, and text/image generators read those tokens.

Layout: the method's stages (:mod:`dppmg.data`, :mod:`dppmg.preference`, :mod:`dppmg.generation`,
:mod:`dppmg.reward`), its evaluation (:mod:`dppmg.evaluation`), experiment drivers
(:mod:`dppmg.experiments`: selections, sensitivity sweeps), infrastructure (:mod:`dppmg.infra`),
user interface (:mod:`dppmg.ui`, :mod:`dppmg.study`) and, at this level, the public entry points:
:mod:`dppmg.config` (resolved configs), :mod:`dppmg.registry`, :mod:`dppmg.interface` and
:mod:`dppmg.methods` (methods and how to add one), :mod:`dppmg.train` (Stages 1-3 of DPPMG),
:mod:`dppmg.cli` (the ``dppmg`` command) and :mod:`dppmg.errors`. ``baselines`` holds the compared
methods and ``benchmark`` the papermill harness that regenerates the tables under ``results/``.
"""

__version__ = "0.1.0"

import os as _os

# OpenMP reads this once, when torch first loads it: threads that wait sleep instead of spinning,
# so a cell beside other work does not burn the cores it is not computing on (dppmg.infra.threads).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
