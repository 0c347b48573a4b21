"""The paper's human study as a tool (user interface): export blinded cases from any registered
methods (:mod:`dppmg.study.export`), judge them on a local web page (:mod:`dppmg.study.app`) whose
votes go to SQLite (:mod:`dppmg.study.store`), and analyse the votes (:mod:`dppmg.study.report`)."""

# The two questions of the paper's protocol, asked for every case.
QUESTIONS = {
    "taste": "Rank the candidates by how well they fit this user's taste (best first).",
    "coherence": "Rank the candidates by how well each one's image and text belong together (best first).",
}
