"""``dppmg evaluate``: generate for the evaluated users and compute every metric of protocol v2.

One result file per (dataset, method, preset, seed, split), in the shared result envelope
(:mod:`dppmg.infra.results`) with ``stage = "evaluation"``. ``split`` is ``"test"`` for the final
evaluation and ``"valid"`` for the runs that select settings (validation users, validation items
as targets; the test split is then never read). Its ``metrics`` object:

====================================  =======================================================
key                                   content
====================================  =======================================================
``users``, ``split``                  the evaluated users in order (per-user lists follow it)
``personalization.<m>.<view>``        user identification, m in {image, text}, view in
                                      {targets, history, evaluator}
                                      (:mod:`dppmg.evaluation.personalization`): matching
                                      statistic, bootstrap CI, permutation p, AUC, accuracy,
                                      per-user values, users kept / dropped
``consistency``                       evaluator and reward-model score per pair, the matching
                                      test of texts to images (all pairs and the pairs unseen
                                      by the alignment models), in-batch retrieval
                                      (:mod:`dppmg.evaluation.consistency`)
``image.cos_targets`` / ``cos_history`` / ``ssim_targets``   per-user similarity to the items
``text.cos_targets`` / ``cos_history`` / ``rouge_l_targets`` / ``bleu_targets``
``quality.kid``                       KID of the generated images against the real target
                                      images (mean, std over subsets, sizes); the headline
``quality.frechet_distance``          the Fréchet distance with its sample sizes
``diversity.distinct_1/2``            over all generated texts
``ground_truth``                      synthetic world only: true colour / style accuracy
``alignment``                         both alignment models' held-out retrieval reports
``preference_evaluator``              its validation (and, on test, test) AUC / Recall@20 and
                                      popularity's
``users_without_training_history``    evaluated users whose generator took its documented
                                      cold-start fallback
``samples``                           the first 8 users' generations: text and image (PNG,
                                      base64; :func:`decode_samples`)
====================================  =======================================================

Each per-user metric is ``{"mean": float, "per_user": [...]}`` (NaN-free means over users with
the needed items). ``provenance.config`` holds the method's resolved config, both alignment models'
configs, the preference evaluator's and the :class:`~dppmg.evaluation.config.EvaluationConfig`;
``provenance.timings`` holds wall time and peak memory per step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dppmg.config import data_config, evaluation_config, preference_evaluator_config
from dppmg.data.images import load_image_array
from dppmg.data.schema import InteractionData
from dppmg.data.synthetic import COLOURS
from dppmg.errors import DPPMGError
from dppmg.evaluation import metrics
from dppmg.evaluation.config import EvaluationConfig
from dppmg.evaluation.ground_truth import ground_truth_hits
from dppmg.infra.provenance import PartClock, StageTimer, nested
from dppmg.infra.results import make_result, write_result
from dppmg.infra.seeding import check_seed, split_seed
from dppmg.registry import get_method

SPLITS = ("test", "valid")


def _per_user(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype=float)
    return {"mean": float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"),
            "per_user": [None if not np.isfinite(v) else round(float(v), 6) for v in values]}


def ground_truth_accuracy(results: Sequence[dict[str, Any]], data: InteractionData) -> dict[str, Any]:
    """Per user: does the generated image show the true colour, the text the true style; and for
    the divergent users, does each generator follow its own modality's preference or the other's
    (:func:`~dppmg.evaluation.ground_truth.ground_truth_hits`)?"""
    hits = ground_truth_hits(results, data)
    return {**{name: _per_user(values) for name, values in hits.items()}, "chance_colour": 1 / len(COLOURS),
            "divergent_users": int(np.isfinite(hits["divergent_text_style"]).sum())}


def check_generations(results: Sequence[dict[str, Any]], user_ids: Sequence[str], method: str,
                      size: tuple[int, int]) -> None:
    """A clear error naming the method and user for a result that is not one RGB image of ``size``
    and one text per requested user, in order."""
    got = [r.get("user_id") for r in results]
    if got != list(user_ids):
        raise DPPMGError(f"method {method!r} returned generations for users {got[:5]}..., expected {list(user_ids)[:5]}...")
    for r in results:
        image = r.get("image")
        if not hasattr(image, "mode") or image.mode != "RGB" or image.size != size:
            what = f"{getattr(image, 'mode', type(image).__name__)} {getattr(image, 'size', '')}".strip()
            raise DPPMGError(f"method {method!r}, user {r['user_id']!r}: the image must be an RGB PIL image of "
                             f"{size[0]}x{size[1]}, got {what}")
        if not isinstance(r.get("text"), str):
            raise DPPMGError(f"method {method!r}, user {r['user_id']!r}: the text must be a str, "
                             f"got {type(r.get('text')).__name__}")


SAMPLE_USERS = 8


def encode_samples(results: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The first users' generations as a result file keeps them (the cross-method sample grid
    reads them): user id, text, and the image as a base64 PNG (about 3 kB each)."""
    import base64
    import io

    out = []
    for r in results:
        buffer = io.BytesIO()
        r["image"].save(buffer, format="PNG", optimize=True)
        out.append({"user_id": str(r["user_id"]), "text": str(r["text"]),
                    "image_png": base64.b64encode(buffer.getvalue()).decode("ascii")})
    return out


def decode_samples(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A result file's samples with their images as RGB arrays (empty for a file written before
    the samples kept their images)."""
    import base64
    import io

    from PIL import Image

    return [{**s, "image": np.asarray(Image.open(io.BytesIO(base64.b64decode(s["image_png"]))).convert("RGB"))}
            for s in result["metrics"].get("samples", []) if "image_png" in s]


def evaluate_generations(results: Sequence[dict[str, Any]], data: InteractionData, evaluator, reward_model,
                         preference_evaluator=None, cache_dir: str | os.PathLike | None = None, seed: int = 0,
                         config: EvaluationConfig | None = None, split: str = "test") -> dict[str, Any]:
    """Every metric of the module docstring for the generations ``results`` (one per user)."""
    from dppmg.evaluation.consistency import consistency_tests
    from dppmg.evaluation.personalization import generation_features, personalization_tests

    config = config or EvaluationConfig()
    if split not in SPLITS:
        raise DPPMGError(f"split must be one of {SPLITS}, got {split!r}")
    if len(results) < 3:
        raise DPPMGError("evaluation needs generations for at least three users")
    user_ids = [r["user_id"] for r in results]
    targets, history = data.items_by_user(user_ids, split), data.items_by_user(user_ids, "train")
    images = [np.asarray(r["image"].convert("RGB")) for r in results]
    texts = [r["text"] for r in results]
    feats = generation_features(results, data, cache_dir)
    gen_img, gen_txt = feats["generated"]["image"], feats["generated"]["text"]
    item_img, item_txt = feats["items"]["image"], feats["items"]["text"]
    item_pixels = load_image_array(data, images[0].shape[1], images[0].shape[0], cache_dir=cache_dir)
    catalogue = data.items["text"].tolist()
    out: dict[str, Any] = {"users": user_ids, "split": split}
    out["personalization"] = personalization_tests(results, data, feats, split, seed, preference_evaluator,
                                                   config.permutations)
    out["consistency"] = consistency_tests(results, data, gen_img, gen_txt, evaluator, reward_model, seed,
                                           config.retrieval_batch, config.permutations)
    for key in ("evaluator", "reward_model"):
        out["consistency"][key] = _per_user(out["consistency"][key])
    out["image"] = {"cos_targets": _per_user(metrics.mean_cosine_to_sets(gen_img, item_img, targets)),
                    "cos_history": _per_user(metrics.mean_cosine_to_sets(gen_img, item_img, history)),
                    "ssim_targets": _per_user(metrics.mean_ssim_to_sets(images, item_pixels, targets))}
    out["text"] = {
        "rouge_l_targets": _per_user([metrics.rouge_l(t, [catalogue[i] for i in s]) if len(s) else np.nan
                                      for t, s in zip(texts, targets)]),
        "bleu_targets": _per_user([metrics.bleu(t, [catalogue[i] for i in s]) if len(s) else np.nan
                                   for t, s in zip(texts, targets)]),
        "cos_targets": _per_user(metrics.mean_cosine_to_sets(gen_txt, item_txt, targets)),
        "cos_history": _per_user(metrics.mean_cosine_to_sets(gen_txt, item_txt, history))}
    reference = np.unique(np.concatenate([s for s in targets if len(s)]))
    out["quality"] = {"kid": metrics.kernel_inception_distance(gen_img, item_img[reference], config.kid_subsets,
                                                               config.kid_subset_size, seed),
                      "frechet_distance": {"value": metrics.frechet_distance(gen_img, item_img[reference]),
                                           "generated": len(gen_img), "reference": int(len(reference)),
                                           "dims": int(gen_img.shape[1])}}
    out["diversity"] = {"distinct_1": metrics.distinct_n(texts, 1), "distinct_2": metrics.distinct_n(texts, 2)}
    if data.ground_truth is not None:
        out["ground_truth"] = ground_truth_accuracy(results, data)
    out["samples"] = encode_samples(results[:SAMPLE_USERS])
    return out


def evaluate(dataset: str, method: str, preset: str, seed: int, output_json: str | os.PathLike, *,
             data_root: str | None = None, cache_dir: str | os.PathLike | None = None, users: int | None = None,
             split: str = "test", progress: bool = True, grid: str | os.PathLike | None = None,
             method_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit (or load) the registered ``method``, generate for the evaluated users of ``split``,
    score, write and return the result. ``users`` overrides the evaluation config's;
    ``method_overrides`` are passed to the method's ``fit`` (selection runs); ``grid``: also save
    the first ``grid_users`` generations as a sample grid PNG there."""
    from dppmg.evaluation.evaluator import check_independent, load_or_train_evaluator
    from dppmg.evaluation.personalization import sample_users
    from dppmg.evaluation.preference_evaluator import load_or_train_preference_evaluator
    from dppmg.reward.model import load_or_train_reward_model

    seed = check_seed(seed)
    if split not in SPLITS:
        raise DPPMGError(f"split must be one of {SPLITS}, got {split!r}")
    config = evaluation_config(preset, dataset, **({} if users is None else {"users": users}))
    model = get_method(method)
    output_json = Path(output_json)
    try:
        output_json.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DPPMGError(f"cannot write the result to {output_json}: {exc}") from exc
    timings: list[dict[str, Any]] = []
    with StageTimer("fit") as t:
        data = model.fit(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir, progress=progress,
                         **(method_overrides or {}))
    # Stage 1-3 run inside fit: recorded as its parts, counted once.
    timings += nested(model.info.get("timings", []), "fit") + [t.record]
    with StageTimer("evaluators") as t:
        reward_model, reward_report = load_or_train_reward_model(data, preset, cache_dir, progress)
        evaluator, evaluator_report = load_or_train_evaluator(data, preset, cache_dir, progress)
        check_independent(reward_model, evaluator)
        preference = load_or_train_preference_evaluator(data, preference_evaluator_config(preset, dataset),
                                                        cache_dir, progress, report_test=split == "test")
    timings.append(t.record)
    user_ids = sample_users(data, config.users, seed, split)
    with StageTimer("generate") as t, PartClock() as parts:
        results = model.generate(user_ids, split_seed(seed, split))
    timings += [t.record] + parts.records("generate")
    generate_seconds = t.record["wall_time_s"]
    size = (data_config(dataset, preset).image_width, data_config(dataset, preset).image_height)
    check_generations(results, user_ids, method, size)
    with StageTimer("metrics") as t:
        metrics = evaluate_generations(results, data, evaluator, reward_model, preference, cache_dir, seed, config,
                                       split)
    timings.append(t.record)
    # Each method's documented fallback covers them (DPPMG's cold-start rule: the mean preference).
    metrics["users_without_training_history"] = int(sum(not len(h) for h in data.items_by_user(user_ids, "train")))
    # Reused generations (dppmg.generation.reuse) were loaded, not made: the record says which.
    metrics["throughput"] = {"users": len(user_ids), "generate_seconds": generate_seconds,
                             "users_per_second": len(user_ids) / max(generate_seconds, 1e-9),
                             "generations": model.info.get("generations", [])}
    metrics["alignment"] = {"reward": reward_report["heldout_retrieval"],
                            "evaluator": evaluator_report["heldout_retrieval"]}
    metrics["preference_evaluator"] = {k: v for k, v in preference.report.items() if k != "config"}
    if grid is not None:
        from dppmg.ui.plotting import generation_grid

        metrics["figures"] = [str(generation_grid(
            results[:config.grid_users], grid, f"{dataset} ({preset}, seed {seed}): {method}, first {split} users"))]
    if "reward" in model.info:
        metrics["reward_curves"] = model.info["reward"]["curves"]
    if "token_losses" in model.info:
        metrics["token_losses"] = model.info["token_losses"]
    if model.info.get("token_validation"):
        metrics["token_validation"] = model.info["token_validation"]
    run_config = {"method": method, "split": split, "users": len(user_ids), "generation_seed": split_seed(seed, split),
                  "evaluation": config.to_dict(),
                  "method_config": {k: v for k, v in model.config().items() if k != "timings"},
                  "method_overrides": method_overrides or {},
                  "evaluator": evaluator_report["config"], "reward_model": reward_report["config"],
                  "preference_evaluator": preference.report["config"]}
    result = make_result("evaluation", dataset, method, preset, seed, metrics, run_config, timings)
    write_result(output_json, result)
    return result
