"""Stage 3: the cross-modal consistent, personalized reward and the fine-tuning of the tokens.

==========================  ===================================================================
module                      what
==========================  ===================================================================
``config``                  :class:`RewardConfig`: the weights a, b, c and the schedule
``model``                   the reward alignment model (never the evaluator)
``objective``               R = a·consistency + b·image personalization + c·text personalization
``finetune``                policy gradient (text) and ReFL / DRaFT-K (image) on the token embeddings
==========================  ===================================================================
"""
