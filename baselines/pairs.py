"""Two separate models: a text baseline's texts with an image baseline's images, each generated
without seeing the other (:class:`~dppmg.interface.ModalityPair`). The "two unimodal generators" a
multimodal method must beat on cross-modal consistency."""

from __future__ import annotations

from baselines.lamp import LaMP
from baselines.pepler import PEPLER
from baselines.pmg import PMG
from baselines.textual_inversion import TextualInversion
from dppmg.interface import ModalityPair


class LaMPPlusPMG(ModalityPair):
    name = "lamp+pmg"
    description = "two separate models: LaMP's texts with PMG's images"
    kind = "generation"
    order = 35
    text_method = LaMP
    image_method = PMG


class PEPLERPlusTextualInversion(ModalityPair):
    name = "pepler+textual-inversion"
    description = "two separate models: PEPLER's texts with textual inversion's images"
    kind = "generation"
    order = 36
    text_method = PEPLER
    image_method = TextualInversion
