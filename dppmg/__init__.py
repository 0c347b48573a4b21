"""DPPMG reproducibility suite.

Discrete Preference learning for Personalized Multimodal Generation (Zhang et al., SIGIR 2026,
arXiv 2604.20434): a graph model learns per-modality user preferences, a quantizer turns them
into discrete tokens, and text/image generators read those tokens.

This package holds the method's stages; ``baselines`` holds the compared methods and
``benchmark`` the papermill harness that regenerates the tables under ``results/``.
"""

__version__ = "0.1.0"

import os as _os

# OpenMP reads this once, when torch first loads it: threads that wait sleep instead of spinning,
# so a cell beside other work does not burn the cores it is not computing on (dppmg.threads).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
