"""Stage 2: generators that read the preference tokens.

==========================  ===================================================================
module                      what
==========================  ===================================================================
``config``                  :class:`TextBackboneConfig`, :class:`ImageBackboneConfig`, :class:`Stage2Config`
``text_backbone``           the causal LM (tiny GPT-2 at ``smoke``, SmolLM2 + LoRA at ``small``)
``image_backbone``          the MiniLM-conditioned pixel UNet, DDIM sampling, its cached training
``injection``               preference tokens as new vocabulary entries with their own embeddings
``prompts``                 what each generator reads, and what each token means
``pipeline``                :class:`DPPMGPipeline`: one ``__call__``, ``save_pretrained`` / ``from_pretrained``
``train``                   learning the token embeddings; ``load_or_train_pipeline``
``cache``                   the cache keys of trained pipelines
``paper``                   the ``paper`` preset: Stable Diffusion and any causal LM, from local paths
==========================  ===================================================================
"""
