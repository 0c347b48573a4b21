"""``dppmg evaluate``: generate for test users and compute every metric with the evaluator.

One result file per (dataset, method, preset, seed), in the shared ``dppmg.result/v1`` envelope
(:mod:`dppmg.results`) with ``stage = "evaluation"``. Its ``metrics`` object:

=================================  ==========================================================
key                                content
=================================  ==========================================================
``users``                          the evaluated test users, in order (per-user lists follow it)
``image.cos_test`` / ``cos_history``  EfficientNet-Lite0 cosine of the generated image to the
                                   user's test / training items (32x48 features)
``image.ssim_test``                SSIM to the user's test-item images
``text.rouge_l_test`` / ``bleu_test``  against the user's test-item texts
``text.cos_test`` / ``cos_history``  MiniLM cosine of the generated text
``consistency.evaluator``          evaluator score of each generated (image, text) pair
``consistency.reward_model``       the reward model's score of the same pairs (a gap to the
                                   evaluator would reveal reward hacking)
``consistency.retrieval``          evaluator text→image accuracy within batches of 16
``quality.frechet_distance``       generated vs real test-item images, EfficientNet-Lite0 space
``diversity.distinct_1/2``         over all generated texts
``personalization.image`` / ``text``  own history vs another evaluated user's history
                                   (:func:`dppmg.evaluation.personalization.own_vs_other`):
                                   mean own / other cosine, per-user difference, sign test
``ground_truth``                   synthetic world only: true colour / style accuracy
``alignment``                      both alignment models' held-out retrieval reports
``samples``                        the first generated texts
=================================  ==========================================================

Each per-user metric is ``{"mean": float, "per_user": [...]}`` (NaN-free means over users with
the needed items). ``provenance.config`` holds the method's resolved config, both alignment models'
configs and the :class:`~dppmg.evaluation.config.EvaluationConfig`; ``provenance.timings`` holds
wall time and peak memory per step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dppmg.data.schema import InteractionData
from dppmg.errors import DPPMGError
from dppmg.evaluation.config import EvaluationConfig
from dppmg.provenance import StageTimer
from dppmg.seeding import check_seed


def _per_user(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values, dtype=float)
    return {"mean": float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"),
            "per_user": [None if not np.isfinite(v) else round(float(v), 6) for v in values]}


def ground_truth_accuracy(results: Sequence[dict[str, Any]], data: InteractionData) -> dict[str, Any]:
    """Per user: does the generated image show the true colour, the text the true style?"""
    from dppmg.data.synthetic import COLOURS
    from dppmg.evaluation.ground_truth import ground_truth_hits

    hits = ground_truth_hits(results, data)
    return {"image_colour": _per_user(hits["image_colour"]), "text_style": _per_user(hits["text_style"]),
            "chance_colour": 1 / len(COLOURS)}


def evaluate_generations(results: Sequence[dict[str, Any]], data: InteractionData, evaluator, reward_model,
                         cache_dir: str | os.PathLike | None = None, seed: int = 0,
                         config: EvaluationConfig | None = None) -> dict[str, Any]:
    """Every metric of the module docstring for the generations ``results`` (one per test user);
    ``seed`` draws the other user each user is compared with in ``personalization``."""
    from dppmg.data.images import load_image_array
    from dppmg.evaluation import metrics
    from dppmg.evaluation.personalization import generation_features, own_vs_other

    config = config or EvaluationConfig()
    if len(results) < 2:
        raise DPPMGError("evaluation needs generations for at least two users")
    user_ids = [r["user_id"] for r in results]
    test_sets, history = data.items_by_user(user_ids, "test"), data.items_by_user(user_ids, "train")
    images = [np.asarray(r["image"].convert("RGB")) for r in results]
    texts = [r["text"] for r in results]
    feats = generation_features(results, data, cache_dir)
    gen_img, gen_txt = feats["generated"]["image"], feats["generated"]["text"]
    item_img, item_txt = feats["items"]["image"], feats["items"]["text"]
    item_pixels = load_image_array(data, images[0].shape[1], images[0].shape[0], cache_dir=cache_dir)
    catalogue = data.items["text"].tolist()
    out: dict[str, Any] = {"users": user_ids}
    out["image"] = {"cos_test": _per_user(metrics.mean_cosine_to_sets(gen_img, item_img, test_sets)),
                    "cos_history": _per_user(metrics.mean_cosine_to_sets(gen_img, item_img, history)),
                    "ssim_test": _per_user(metrics.mean_ssim_to_sets(images, item_pixels, test_sets))}
    out["text"] = {
        "rouge_l_test": _per_user([metrics.rouge_l(t, [catalogue[i] for i in s]) if len(s) else np.nan
                                   for t, s in zip(texts, test_sets)]),
        "bleu_test": _per_user([metrics.bleu(t, [catalogue[i] for i in s]) if len(s) else np.nan
                                for t, s in zip(texts, test_sets)]),
        "cos_test": _per_user(metrics.mean_cosine_to_sets(gen_txt, item_txt, test_sets)),
        "cos_history": _per_user(metrics.mean_cosine_to_sets(gen_txt, item_txt, history))}
    out["personalization"] = own_vs_other(feats["generated"], feats["items"], history, seed)
    out["consistency"] = {
        "evaluator": _per_user(metrics.consistency_scores(evaluator, gen_img, gen_txt)),
        "reward_model": _per_user(metrics.consistency_scores(reward_model, gen_img, gen_txt)),
        "retrieval": metrics.retrieval_accuracy(evaluator, gen_img, gen_txt, config.retrieval_batch)}
    targets = np.unique(np.concatenate([s for s in test_sets if len(s)]))
    out["quality"] = {"frechet_distance": metrics.frechet_distance(gen_img, item_img[targets]),
                      "generated": len(gen_img), "real_test_items": int(len(targets))}
    out["diversity"] = {"distinct_1": metrics.distinct_n(texts, 1), "distinct_2": metrics.distinct_n(texts, 2)}
    if data.ground_truth is not None:
        out["ground_truth"] = ground_truth_accuracy(results, data)
    out["samples"] = [{"user_id": r["user_id"], "text": r["text"]} for r in results[:8]]
    return out


def evaluate(dataset: str, method: str, preset: str, seed: int, output_json: str | os.PathLike, *,
             data_root: str | None = None, cache_dir: str | os.PathLike | None = None, users: int | None = None,
             progress: bool = True, grid: str | os.PathLike | None = None) -> dict[str, Any]:
    """Fit (or load) the registered ``method``, generate for test users, score, write and return the
    result; ``users`` overrides the evaluation config's; ``grid``: also save the first
    ``grid_users`` generations as a sample grid PNG there."""
    from dppmg.config import evaluation_config
    from dppmg.evaluation.evaluator import check_independent, load_or_train_evaluator
    from dppmg.evaluation.personalization import sample_test_users
    from dppmg.registry import get_method
    from dppmg.results import make_result, write_result
    from dppmg.reward.model import load_or_train_reward_model

    seed = check_seed(seed)
    config = evaluation_config(preset, **({} if users is None else {"users": users}))
    model = get_method(method)
    output_json = Path(output_json)
    try:
        output_json.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DPPMGError(f"cannot write the result to {output_json}: {exc}") from exc
    timings: list[dict[str, Any]] = []
    with StageTimer("fit") as t:
        data = model.fit(dataset, preset, seed, data_root=data_root, cache_dir=cache_dir, progress=progress)
    timings += model.info.get("timings", []) + [t.record]
    with StageTimer("alignment_models") as t:
        reward_model, reward_report = load_or_train_reward_model(data, preset, cache_dir, progress)
        evaluator, evaluator_report = load_or_train_evaluator(data, preset, cache_dir, progress)
        check_independent(reward_model, evaluator)
    timings.append(t.record)
    user_ids = sample_test_users(data, config.users, seed)
    with StageTimer("generate") as t:
        results = model.generate(user_ids, seed)
    timings.append(t.record)
    with StageTimer("metrics") as t:
        metrics = evaluate_generations(results, data, evaluator, reward_model, cache_dir, seed, config)
    timings.append(t.record)
    metrics["alignment"] = {"reward": reward_report["heldout_retrieval"],
                            "evaluator": evaluator_report["heldout_retrieval"]}
    if grid is not None:
        from dppmg.plotting import generation_grid

        metrics["figures"] = [str(generation_grid(
            results[:config.grid_users], grid, f"{dataset} ({preset}, seed {seed}): {method}, first test users"))]
    if "reward" in model.info:
        metrics["reward_curves"] = model.info["reward"]["curves"]
    run_config = {"method": method, "users": len(user_ids), "evaluation": config.to_dict(),
                  "method_config": {k: v for k, v in model.config().items() if k != "timings"},
                  "evaluator": evaluator_report["config"], "reward_model": reward_report["config"]}
    result = make_result("evaluation", dataset, method, preset, seed, metrics, run_config, timings)
    write_result(output_json, result)
    return result
