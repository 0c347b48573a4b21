"""``dppmg judge export``: a blinded case set for the human study.

Test users are drawn with a seeded rule written into the study: users with a test item and at
least ``MIN_HISTORY`` training items, ``cases`` of them drawn with ``numpy.random.default_rng(seed)``
and sorted. Per case the folder holds the user's last ``HISTORY_SHOWN`` training items (image and
text) and each method's generated (image, text) for that user, from the cached pipelines (a method
not yet trained is trained). Candidates carry random per-case labels (A, B, C, ...); which method
is behind each label goes to ``key.json``, which the judging page never serves. ``study.json``
records the dataset, preset, seed, methods, users, the code version and the SHA-256 of every file;
the study's hash (of that file list) ties a vote database to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dppmg.errors import ConfigError, DPPMGError
from dppmg.infra.io import atomic_dir
from dppmg.infra.provenance import CODE_STATE_AT_START
from dppmg.registry import get_method, method_names

MIN_HISTORY = 3
HISTORY_SHOWN = 3
STUDY_VERSION = 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def study_hash(files: dict[str, str]) -> str:
    """The hash of a study: of its files' names and hashes (``key.json`` included)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def pick_users(data, cases: int, seed: int) -> list[str]:
    """The study's users by its written rule (see the module docstring)."""
    train = data.items_by_user(data.users["user_id"].tolist(), "train")
    test = data.items_by_user(data.users["user_id"].tolist(), "test")
    eligible = [u for u, h, t in zip(data.users["user_id"], train, test) if len(h) >= MIN_HISTORY and len(t)]
    if len(eligible) < cases:
        raise ConfigError(f"--cases {cases}: {data.name!r} has only {len(eligible)} test users with at least "
                          f"{MIN_HISTORY} training items")
    picked = np.random.default_rng(seed).choice(np.array(eligible, dtype=object), size=cases, replace=False)
    return sorted((str(u) for u in picked), key=lambda u: (len(u), u))


def export_study(dataset: str, preset: str, cases: int, methods: Sequence[str], out: str | os.PathLike, *,
                 seed: int = 0, data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                 progress: bool = True) -> Path:
    """Write the study folder ``out`` (see the module docstring) and return it."""
    from dppmg.data import load_dataset

    known = method_names(suite="evaluation")
    unknown = [m for m in methods if m not in known]
    if unknown or len(set(methods)) != len(methods) or len(methods) < 2:
        raise ConfigError(f"--methods must name at least two different registered generation methods; "
                          f"unknown: {unknown}, given: {list(methods)}")
    if len(methods) > len(string.ascii_uppercase):
        raise ConfigError(f"at most {len(string.ascii_uppercase)} methods per study")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DPPMGError(f"{out} exists and is not empty: a study folder is written once (choose a new one)")
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    users = pick_users(data, cases, seed)
    generated = {}
    for name in methods:
        method = get_method(name)
        method.fit(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir, progress=progress)
        generated[name] = method.generate(users, seed)
    with atomic_dir(out) as tmp:
        key = _write_cases(tmp, data, users, generated, np.random.default_rng(seed + 1))
        (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True), encoding="utf-8")
        files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        meta = {"version": STUDY_VERSION, "dataset": dataset, "preset": preset, "seed": seed, "methods": list(methods),
                "users": users, "rule": f"test users with >= {MIN_HISTORY} training items and a test item; "
                f"{cases} drawn with numpy default_rng({seed}), sorted", "code": _code_version(),
                "files": files, "study_hash": study_hash(files)}
        (tmp / "study.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return out


def _code_version() -> dict[str, Any]:
    return dict(CODE_STATE_AT_START)


def _write_cases(folder: Path, data, users: list[str], generated: dict[str, list[dict[str, Any]]],
                 rng: np.random.Generator) -> dict[str, dict[str, str]]:
    """One folder per case; returns the key (case id -> label -> method)."""
    from dppmg.data.images import open_rgb

    texts = data.items["text"].tolist()
    paths = data.items["image_path"].tolist()
    key = {}
    methods = list(generated)
    for k, (user, history) in enumerate(zip(users, data.items_by_user(users, "train"))):
        case_id = f"case{k + 1:03d}"
        case = folder / "cases" / case_id
        case.mkdir(parents=True)
        shown = []
        for j, item in enumerate(history[-HISTORY_SHOWN:]):
            open_rgb(paths[item]).save(case / f"history_{j + 1}.png")
            shown.append({"image": f"history_{j + 1}.png", "text": texts[item]})
        order = rng.permutation(len(methods))
        labels = string.ascii_uppercase[:len(methods)]
        candidates = []
        for label, index in zip(labels, order):
            g = generated[methods[index]][k]
            if str(g["user_id"]) != user:
                raise DPPMGError(f"method {methods[index]!r} returned user {g['user_id']!r} for case {case_id} ({user!r})")
            g["image"].save(case / f"candidate_{label}.png")
            candidates.append({"label": label, "image": f"candidate_{label}.png", "text": g["text"]})
        key[case_id] = {label: methods[index] for label, index in zip(labels, order)}
        (case / "case.json").write_text(json.dumps({"case_id": case_id, "history": shown, "candidates": candidates},
                                                   indent=1), encoding="utf-8")
    return key


def load_study(folder: str | os.PathLike, verify: bool = True) -> dict[str, Any]:
    """``study.json`` of ``folder``; with ``verify``, every listed file must exist with its hash (a
    missing or altered file is named with the hash it should have)."""
    folder = Path(folder)
    meta_path = folder / "study.json"
    if not meta_path.is_file():
        raise DPPMGError(f"{folder} is not a study folder: no study.json (make one with `dppmg judge export`)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("version") != STUDY_VERSION:
        raise DPPMGError(f"{meta_path}: study version {meta.get('version')!r}, expected {STUDY_VERSION}")
    if verify:
        for rel, digest in meta["files"].items():
            path = folder / rel
            if not path.is_file():
                raise DPPMGError(f"{path} is missing from the study (its SHA-256 was {digest})")
            if _sha256(path) != digest:
                raise DPPMGError(f"{path} was altered after the export: its SHA-256 is not {digest}")
    return meta


def load_cases(folder: str | os.PathLike, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cases = {}
    for rel in sorted(meta["files"]):
        if rel.startswith("cases/") and rel.endswith("/case.json"):
            case = json.loads((Path(folder) / rel).read_text(encoding="utf-8"))
            cases[case["case_id"]] = case
    return cases
