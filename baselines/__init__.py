"""Baselines compared with DPPMG, one file each, sharing the method interface of
:mod:`dppmg.interface`.

Each registers through an entry point of the ``dppmg.methods`` group in ``pyproject.toml`` (the
same way a separate package plugs in a method); the registry (:mod:`dppmg.registry`) reads them.
``_template.py`` shows the one file and the one line a new method needs.
"""
