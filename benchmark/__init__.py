"""The benchmark harness: parameterized notebooks executed with papermill over
datasets x methods x seeds, whose JSON results are turned into the tables under ``results/``.

    python -m benchmark run --suite reproduce --preset small
"""
