"""Infrastructure every stage shares: the cache (:mod:`~dppmg.infra.cache`), atomic writes and
stable hashes (:mod:`~dppmg.infra.io`), paths (:mod:`~dppmg.infra.paths`), provenance and timings
(:mod:`~dppmg.infra.provenance`), the result-file format (:mod:`~dppmg.infra.results`), the one
seeding function (:mod:`~dppmg.infra.seeding`) and thread sizing (:mod:`~dppmg.infra.threads`)."""
