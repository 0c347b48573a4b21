"""Experiment drivers built on the method's stages: the validation-split selections of settings
(:mod:`~dppmg.experiments.selection`) and the codebook sensitivity sweeps of the tokens
(:mod:`~dppmg.experiments.sensitivity_preference`) and of the generations
(:mod:`~dppmg.experiments.sensitivity_generation`). The harness runs them as suites."""
