"""Stage 1: what each user likes, per modality, and the discrete tokens that say it.

==========================  ===================================================================
module                      what
==========================  ===================================================================
``config``                  :class:`PreferenceConfig`, :class:`QuantizerConfig`, :class:`Stage1Config`
``model``                   the modal-specific graph preference model (Stage 1a) and its BPR training
``quantize``                the residual quantizer that turns preferences into tokens (Stage 1b)
``ranking``                 full-ranking Recall / NDCG
``train``                   a whole Stage 1 run: train, quantize, evaluate (``fit_and_save``)
``checkpoint``              the saved run and its token table, the contract with Stage 2
``tokens``                  the token inspector (``dppmg tokens``)
``recovery``                synthetic world: are the known preferences recovered?
==========================  ===================================================================
"""
