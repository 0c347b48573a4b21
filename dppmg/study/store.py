"""The study's votes in SQLite: one row per (judge, case, question) with the full ranking.

Each vote is committed in its own transaction (WAL journal, so the judging page's concurrent
requests do not block one another); a changed vote keeps the earlier one as history (``current``
0) and the new one is the judge's current vote: a partial unique index makes a second current vote
for the same (judge, case, question) impossible. Every vote is checked before it is stored: a known
judge, a known case, a known question, and a ranking that is a permutation of that case's labels;
anything else is refused with a message saying what is wrong. The database records the study's
hash: a database of another study is refused.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from dppmg.errors import DPPMGError
from dppmg.study import QUESTIONS

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS judges (token TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, judge TEXT NOT NULL REFERENCES judges(name), case_id TEXT NOT NULL,
    question TEXT NOT NULL, ranking TEXT NOT NULL, created REAL NOT NULL, current INTEGER NOT NULL DEFAULT 1);
CREATE UNIQUE INDEX IF NOT EXISTS one_current_vote ON votes (judge, case_id, question) WHERE current = 1;
"""


class VoteRefused(DPPMGError):
    """A vote that does not fit the study (the page shows the message)."""


class VoteStore:
    """The votes of one study (see the module docstring).

    Args:
        path: the SQLite file (created with the study's hash if new).
        study_hash: the hash of the study the votes belong to.
        cases: case id -> its candidate labels.
    """

    def __init__(self, path: str | Path, study_hash: str, cases: dict[str, Sequence[str]]):
        self.path, self.study_hash = Path(path), study_hash
        self.cases = {c: tuple(labels) for c, labels in cases.items()}
        self._local = threading.local()
        self._raw().executescript(SCHEMA)
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'study_hash'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('study_hash', ?)", (study_hash,))
            elif row[0] != study_hash:
                raise DPPMGError(f"{self.path} holds the votes of another study (hash {row[0]}, this study is "
                                 f"{study_hash}): name a new --db for this study")

    def _raw(self) -> sqlite3.Connection:
        """This thread's connection (SQLite connections are not shared between threads)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def _connect(self) -> "_Transaction":
        return _Transaction(self._raw())

    def judge(self, name: str) -> str:
        """The token of the judge called ``name`` (registered on first use)."""
        name = " ".join(str(name).split())
        if not name or len(name) > 80:
            raise VoteRefused("a judge name or code of 1 to 80 characters is needed")
        with self._connect() as db:
            row = db.execute("SELECT token FROM judges WHERE name = ?", (name,)).fetchone()
            if row:
                return row[0]
            token = secrets.token_urlsafe(18)
            db.execute("INSERT INTO judges VALUES (?, ?, ?)", (token, name, time.time()))
            return token

    def judge_name(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._connect() as db:
            row = db.execute("SELECT name FROM judges WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None

    def vote(self, token: str | None, case_id: str, question: str, ranking: Sequence[str]) -> None:
        """Store one judge's ranking, checked (see the module docstring)."""
        name = self.judge_name(token)
        if name is None:
            raise VoteRefused("unknown judge: sign in again")
        if case_id not in self.cases:
            raise VoteRefused(f"unknown case {case_id!r}")
        if question not in QUESTIONS:
            raise VoteRefused(f"unknown question {question!r}; expected one of {', '.join(QUESTIONS)}")
        labels = self.cases[case_id]
        ranking = [str(x) for x in ranking] if isinstance(ranking, (list, tuple)) else None
        if ranking is None or sorted(ranking) != sorted(labels) or len(set(ranking)) != len(ranking):
            raise VoteRefused(f"a ranking of case {case_id} must name each of {', '.join(labels)} exactly once, "
                              f"got {ranking}")
        with self._connect() as db:
            db.execute("UPDATE votes SET current = 0 WHERE judge = ? AND case_id = ? AND question = ? AND current = 1",
                       (name, case_id, question))
            db.execute("INSERT INTO votes (judge, case_id, question, ranking, created) VALUES (?, ?, ?, ?, ?)",
                       (name, case_id, question, json.dumps(ranking), time.time()))

    def progress(self, token: str | None) -> dict[str, Any]:
        """The judge's cases with both questions answered, and the first case still open."""
        name = self.judge_name(token)
        with self._connect() as db:
            rows = db.execute("SELECT case_id, COUNT(*) FROM votes WHERE judge = ? AND current = 1 GROUP BY case_id",
                              (name,)).fetchall()
        done = {c for c, n in rows if n == len(QUESTIONS)}
        open_cases = [c for c in self.cases if c not in done]
        return {"done": len(done), "total": len(self.cases), "next": open_cases[0] if open_cases else None}

    def answered(self, token: str | None, case_id: str) -> dict[str, list[str]]:
        """The judge's current rankings of ``case_id`` (their own only)."""
        name = self.judge_name(token)
        with self._connect() as db:
            rows = db.execute("SELECT question, ranking FROM votes WHERE judge = ? AND case_id = ? AND current = 1",
                              (name, case_id)).fetchall()
        return {q: json.loads(r) for q, r in rows}

    def current_votes(self) -> list[dict[str, Any]]:
        """Every current vote (for the report; never served to a judge)."""
        with self._connect() as db:
            rows = db.execute("SELECT judge, case_id, question, ranking, created FROM votes WHERE current = 1 "
                              "ORDER BY id").fetchall()
        return [{"judge": j, "case_id": c, "question": q, "ranking": json.loads(r), "created": t}
                for j, c, q, r, t in rows]


class _Transaction:
    """``with`` one transaction on a connection: committed at the end, rolled back on an error."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *exc: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
