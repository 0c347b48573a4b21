"""What a user reads or writes besides the ``dppmg`` command (:mod:`dppmg.cli`): figures
(:mod:`~dppmg.ui.plotting`) and run config files (:mod:`~dppmg.ui.run_config`). The human study's
judging page is :mod:`dppmg.study`."""
