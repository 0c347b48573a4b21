"""Evaluation: every metric of a method's generations, with an evaluator no method trains against.

==========================  ===================================================================
module                      what
==========================  ===================================================================
``config``                  :class:`EvaluationConfig`: how many users, batch sizes
``metrics``                 the metric functions (cosine, SSIM, ROUGE-L, BLEU, Fréchet, distinct-n, ...)
``personalization``         own-history vs other-user paired tests, the test-user sample
``ground_truth``            synthetic world: true colour / style shown
``evaluator``               the evaluator alignment model (never the reward model)
``evaluate``                ``dppmg evaluate``: fit, generate, score, write the result file
==========================  ===================================================================

Training code never imports this package (a test checks it).
"""
