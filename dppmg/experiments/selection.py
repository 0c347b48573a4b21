"""Settings chosen on the validation split, never on the test split.

Each selection compares candidates with validation users' validation items as targets and
returns a record (setting, candidates with their validation metrics, the rule, the choice and
the value the preset table holds now) that the harness writes as ``selection_<setting>.md``.

* ``preference.dim`` — Stage 1's preference dimension d, for every method of a dataset (so the
  ranking table stays like for like): the validation Recall@20 of DPPMG's *quantized*
  preferences, since the tokens are what the generators read.
* ``image.guidance_scale`` — classifier-free guidance of the image generator: the evaluator's
  consistency of the validation users' generated (image, text) pairs (Stage 2 pipeline).
* ``image.sampler`` — sampler and steps: the fewest-step candidate that is not worse than the
  reference (the first candidate) on validation consistency (paired over users, one-sided
  p >= 0.05 for "lower") and whose KID is at most the reference's plus twice the larger KID
  subset standard deviation.

* ``precision`` — fp32 or bf16 autocast for the evaluated users' text decoding and
  image sampling (training stays fp32): the fastest candidate that is not worse than fp32 by the
  sampler's rule, extended to image and text personalization (paired over users, one-sided
  p >= 0.05 for "lower" on each; KID within twice the larger subset std).
* ``reward.weights`` — the reward's (a, b, c): DPPMG fine-tuned with each candidate, evaluated on
  the validation users; among the candidates whose image and text personalization are not lower
  than the configured weights' (paired over users, one-sided p >= 0.05), the one with the highest
  evaluator consistency (the configured weights when none is better).

* ``stage2.text_early_stopping`` / ``stage2.image_early_stopping`` — whether Stage 2's token
  training may stop once its validation loss stops improving: each patience (validations without
  a lower loss) is replayed on the full budget's validation curve; the candidate that trains the
  fewest steps among those that keep the very step the full budget keeps (the same embeddings, so
  no generation changes), the full budget otherwise.

* ``stage1.budget`` — on data large enough for Stage 1's batch caps to bind (ML-1M size; not
  MovieLens-100K, H&M or the synthetic world), Stage 1's training budget for every method of the
  dataset: graph steps per epoch (each propagates the whole graph) and quantizer epochs. DPPMG's
  Stage 1 is trained with each candidate; the fewest training steps among the candidates whose
  quantized valid Recall@20 is not lower than the first (reference) budget's (paired over
  validation users, one-sided p >= 0.05).

The number of token-training steps is chosen on validation inside Stage 2 itself
(:mod:`dppmg.generation.train`, the step of the lowest validation loss); its curves come with
every evaluation result of a run that trained or loaded a Stage 2 (``token_validation``).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from dppmg.errors import DPPMGError
from dppmg.infra.seeding import split_seed


def select_preference_dim(dataset: str, preset: str, seed: int, candidates: Sequence[int], *,
                          data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                          progress: bool = False) -> dict[str, Any]:
    from dppmg.config import preference_config
    from dppmg.methods import DPPMG
    from dppmg.preference.train import fit_and_save

    rows = []
    for dim in candidates:
        config = DPPMG.stage1_config(dataset, preset, seed, preference={"dim": int(dim)})
        record, _ = fit_and_save(config, data_root=data_root, cache_dir=cache_dir, progress=progress)
        m = record["metrics"]
        rows.append({"value": int(dim), "metric": m["quantized_valid"]["recall@20"],
                     "valid recall@20 (unquantized)": m["valid"]["recall@20"],
                     "best epoch": m["best_epoch"]})
    choice = max(rows, key=lambda r: r["metric"])["value"]
    return {"setting": "preference.dim", "metric": "valid Recall@20 of DPPMG's quantized preferences",
            "higher_is_better": True, "rule": "highest validation metric", "candidates": rows, "choice": choice,
            "configured": preference_config(dataset, preset).dim, "seed": seed}


def _stage2_with_evaluators(dataset: str, preset: str, seed: int, data_root, cache_dir, progress: bool):
    """DPPMG's Stage 2 pipeline (no reward) with the models that score its validation generations:
    ``(pipe, data, reward_model, evaluator, preference_evaluator)``."""
    from dppmg.config import preference_evaluator_config
    from dppmg.evaluation.evaluator import load_or_train_evaluator
    from dppmg.evaluation.preference_evaluator import load_or_train_preference_evaluator
    from dppmg.methods import DPPMG
    from dppmg.reward.model import load_or_train_reward_model
    from dppmg.train import train_dppmg

    pipe, data, _ = train_dppmg(DPPMG().run_config(dataset, preset, seed, with_reward=False), data_root=data_root,
                                cache_dir=cache_dir, progress=progress)
    reward_model, _ = load_or_train_reward_model(data, preset, cache_dir, progress)
    evaluator, _ = load_or_train_evaluator(data, preset, cache_dir, progress)
    preference = load_or_train_preference_evaluator(data, preference_evaluator_config(preset, dataset), cache_dir,
                                                    progress, report_test=False)
    return pipe, data, reward_model, evaluator, preference


def select_sampling(dataset: str, preset: str, seed: int, guidance_scales: Sequence[float],
                    samplers: Sequence[tuple[str, int]], users: int, *, data_root: str | None = None,
                    cache_dir: str | os.PathLike | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """The guidance and the sampler selections (see the module docstring), on the Stage 2 pipeline:
    the validation users' texts are generated once, then images for each candidate."""
    import dataclasses

    from dppmg.config import evaluation_config, image_backbone_config
    from dppmg.evaluation.evaluate import check_generations, evaluate_generations
    from dppmg.evaluation.personalization import sample_users
    from dppmg.evaluation.statistics import paired_difference_test

    pipe, data, reward_model, evaluator, preference = _stage2_with_evaluators(dataset, preset, seed, data_root,
                                                                              cache_dir, progress)
    config = evaluation_config(preset, dataset)
    user_ids = sample_users(data, users, seed, "valid")
    generation_seed = split_seed(seed, "valid")
    texts = pipe.generate_texts(user_ids, generation_seed)
    configured = image_backbone_config(preset, dataset)

    def run(image_config) -> dict[str, Any]:
        import time

        pipe.with_image_sampling(image_config)
        t0 = time.perf_counter()
        images = pipe.generate_images(user_ids, generation_seed, texts=texts)
        seconds = time.perf_counter() - t0
        results = [{"user_id": u, "text": t, "image": im} for u, t, im in zip(user_ids, texts, images)]
        check_generations(results, user_ids, "the Stage 2 pipeline", (image_config.width, image_config.height))
        m = evaluate_generations(results, data, evaluator, reward_model, preference, cache_dir, seed, config, "valid")
        return {"consistency": m["consistency"]["evaluator"], "kid": m["quality"]["kid"],
                "image_personalization": m["personalization"]["image"]["targets"].get("statistic"),
                "image_seconds_per_user": seconds / len(user_ids)}

    guidance_rows = []
    for scale in guidance_scales:
        out = run(dataclasses.replace(configured, guidance_scale=float(scale)))
        guidance_rows.append({"value": float(scale), "metric": out["consistency"]["mean"], "KID": out["kid"]["mean"],
                              "KID std": out["kid"]["std"], "image personalization (targets)": out["image_personalization"],
                              "_per_user": out["consistency"]["per_user"]})
    guidance = max(guidance_rows, key=lambda r: r["metric"])["value"]
    sampler_rows = []
    for sampler, steps in samplers:
        out = run(dataclasses.replace(configured, guidance_scale=guidance, sampler=sampler, sample_steps=int(steps)))
        sampler_rows.append({"value": f"{sampler}/{int(steps)}", "metric": out["consistency"]["mean"],
                             "KID": out["kid"]["mean"], "KID std": out["kid"]["std"],
                             "seconds per image": out["image_seconds_per_user"], "steps": int(steps),
                             "_per_user": out["consistency"]["per_user"]})
    reference = sampler_rows[0]
    for row in sampler_rows:
        test = paired_difference_test(np.array(row["_per_user"], dtype=float),
                                      np.array(reference["_per_user"], dtype=float), seed)
        row["consistency vs reference"] = test["difference"]
        row["p (lower than reference)"] = test["p_less"]
        row["acceptable"] = bool(test["p_less"] >= 0.05 and
                                 row["KID"] <= reference["KID"] + 2 * max(row["KID std"], reference["KID std"]))
    acceptable = [r for r in sampler_rows if r["acceptable"]] or [reference]
    sampler = min(acceptable, key=lambda r: r["steps"])["value"]
    pipe.with_image_sampling(configured)
    for row in guidance_rows + sampler_rows:
        row.pop("_per_user")
    common = {"metric": "evaluator consistency of the validation users' generated pairs (Stage 2)",
              "higher_is_better": True, "seed": seed, "users": len(user_ids)}
    return [{"setting": "image.guidance_scale", **common, "rule": "highest validation metric",
             "candidates": guidance_rows, "choice": guidance, "configured": configured.guidance_scale},
            {"setting": "image.sampler", **common,
             "rule": ("fewest steps among the candidates whose consistency is not lower than the reference's "
                      f"({reference['value']}; one-sided p >= 0.05) and whose KID is within twice the larger "
                      "subset std of the reference's"),
             "candidates": sampler_rows, "choice": sampler,
             "configured": f"{configured.sampler}/{configured.sample_steps}"}]


def _per_user_personalization(metrics: dict[str, Any], modality: str) -> dict[str, float]:
    test = metrics["personalization"][modality]["targets"]
    if "per_user" not in test:
        return {}
    return {metrics["users"][i]: float(v) for i, v in zip(test["user_index"], test["per_user"]["centred_own"])}


def reward_weight_candidates(preset: str, dataset: str,
                             candidates: Sequence[Sequence[float]]) -> list[tuple[float, ...]]:
    """The reward weights (a, b, c) a ``reward.weights`` selection fine-tunes with, in order: the
    configured weights first (the reference every candidate is compared with), then each candidate
    that differs from them."""
    from dppmg.config import reward_config

    configured = reward_config(preset, dataset)
    reference = tuple(float(w) for w in (configured.consistency_weight, configured.image_personalization_weight,
                                         configured.text_personalization_weight))
    others = [tuple(float(w) for w in c) for c in candidates]
    return [reference] + [c for c in others if c != reference]


def select_reward_weights(dataset: str, preset: str, seed: int, candidates: Sequence[Sequence[float]], users: int, *,
                          data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                          progress: bool = False) -> dict[str, Any]:
    """The ``reward.weights`` selection of the module docstring."""
    import tempfile
    from pathlib import Path

    from dppmg.evaluation.evaluate import evaluate
    from dppmg.evaluation.statistics import paired_difference_test
    from dppmg.methods import DPPMG

    weights = reward_weight_candidates(preset, dataset, candidates)
    rows, per_user = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for a, b, c in weights:
            result = evaluate(dataset, DPPMG.name, preset, seed, Path(tmp) / f"{a}_{b}_{c}.json", data_root=data_root,
                              cache_dir=cache_dir, users=users, split="valid", progress=progress,
                              method_overrides={"reward": {"consistency_weight": a, "image_personalization_weight": b,
                                                           "text_personalization_weight": c}})
            m = result["metrics"]
            consistency = dict(zip(m["users"], m["consistency"]["evaluator"]["per_user"]))
            per_user.append({"consistency": consistency, **{mod: _per_user_personalization(m, mod)
                                                            for mod in ("image", "text")}})
            rows.append({"value": f"a={a:g}, b={b:g}, c={c:g}", "metric": m["consistency"]["evaluator"]["mean"],
                         "image personalization (targets)": m["personalization"]["image"]["targets"].get("statistic"),
                         "text personalization (targets)": m["personalization"]["text"]["targets"].get("statistic")})
    for row, values in zip(rows, per_user):
        ok = True
        for modality in ("image", "text"):
            common = sorted(set(values[modality]) & set(per_user[0][modality]))
            if len(common) < 3:
                row[f"p ({modality} personalization lower than reference)"] = None
                continue
            test = paired_difference_test(np.array([values[modality][u] for u in common]),
                                          np.array([per_user[0][modality][u] for u in common]), seed)
            row[f"p ({modality} personalization lower than reference)"] = test["p_less"]
            ok = ok and test["p_less"] >= 0.05
        row["acceptable"] = bool(ok)
    choice = max([r for r in rows if r["acceptable"]] or rows[:1], key=lambda r: r["metric"])["value"]
    return {"setting": "reward.weights", "metric": "evaluator consistency of the validation users' generated pairs",
            "higher_is_better": True, "seed": seed, "users": users,
            "rule": ("highest validation metric among the candidates whose image and text personalization are not "
                     f"lower than the configured weights' ({rows[0]['value']}; one-sided p >= 0.05)"),
            "candidates": rows, "choice": choice, "configured": rows[0]["value"]}


def select_precision(dataset: str, preset: str, seed: int, candidates: Sequence[str], users: int, *,
                     data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                     progress: bool = False) -> dict[str, Any]:
    """The ``precision`` selection of the module docstring: the Stage 2 pipeline's
    texts and images for the validation users in each precision, fp32 (the reference) first."""
    import dataclasses
    import time

    from dppmg.config import evaluation_config, stage2_config
    from dppmg.evaluation.evaluate import check_generations, evaluate_generations
    from dppmg.evaluation.personalization import sample_users

    pipe, data, reward_model, evaluator, preference = _stage2_with_evaluators(dataset, preset, seed, data_root,
                                                                              cache_dir, progress)
    configured = stage2_config(preset, dataset)
    user_ids = sample_users(data, users, seed, "valid")
    precisions = ["fp32"] + [c for c in candidates if c != "fp32"]
    rows, per_user = [], []
    for precision in precisions:
        pipe.with_generation_settings(dataclasses.replace(configured, generation_precision=precision))
        t0 = time.perf_counter()
        results = pipe(user_ids, split_seed(seed, "valid"))
        seconds = time.perf_counter() - t0
        size = (configured.image.width, configured.image.height)
        check_generations(results, user_ids, "the Stage 2 pipeline", size)
        m = evaluate_generations(results, data, evaluator, reward_model, preference, cache_dir, seed,
                                 evaluation_config(preset, dataset), "valid")
        per_user.append({"consistency": dict(zip(m["users"], m["consistency"]["evaluator"]["per_user"])),
                         **{mod: _per_user_personalization(m, mod) for mod in ("image", "text")}})
        rows.append({"value": precision, "metric": seconds / len(user_ids), "KID": m["quality"]["kid"]["mean"],
                     "KID std": m["quality"]["kid"]["std"], "consistency": m["consistency"]["evaluator"]["mean"],
                     "image personalization (targets)": m["personalization"]["image"]["targets"].get("statistic"),
                     "text personalization (targets)": m["personalization"]["text"]["targets"].get("statistic")})
    pipe.with_generation_settings(configured)
    reference = rows[0]
    for row, values in zip(rows, per_user):
        ok = row["KID"] <= reference["KID"] + 2 * max(row["KID std"], reference["KID std"])
        for what in ("consistency", "image", "text"):
            p_less = _p_lower(values[what], per_user[0][what], seed)
            row[f"p ({what} lower than fp32)"] = p_less
            ok = ok and (p_less is None or p_less >= 0.05)
        row["acceptable"] = bool(ok)
    choice = min([r for r in rows if r["acceptable"]] or rows[:1], key=lambda r: r["metric"])["value"]
    return {"setting": "precision", "metric": "seconds per validation user (text and image)",
            "higher_is_better": False, "seed": seed, "users": len(user_ids),
            "rule": ("the fastest candidate whose KID is within twice the larger subset std of fp32's and whose "
                     "consistency and image and text personalization are not lower than fp32's (paired over "
                     "users, one-sided p >= 0.05), as for the sampler"),
            "candidates": rows, "choice": choice, "configured": configured.generation_precision}


def _p_lower(values: dict[str, Any], reference: dict[str, Any], seed: int) -> float | None:
    """One-sided p that ``values`` are lower than ``reference`` over their common users (None: too few)."""
    from dppmg.evaluation.statistics import paired_difference_test

    common = [u for u in sorted(set(values) & set(reference))
              if values[u] is not None and reference[u] is not None]
    if len(common) < 3:
        return None
    test = paired_difference_test(np.array([values[u] for u in common], dtype=float),
                                  np.array([reference[u] for u in common], dtype=float), seed)
    return test["p_less"]


def early_stop(curve: Sequence[dict[str, float]], patience: int) -> tuple[int, int, float]:
    """Replay early stopping on a validation ``curve`` (``{"step", "loss"}`` in step order, as
    :class:`dppmg.generation.train.KeepBest` records it): training stops at the ``patience``-th
    validation in a row without a lower loss (``patience`` 0: never). Returns (the last step trained,
    the step kept, its loss)."""
    if not curve:
        raise DPPMGError("an empty validation curve: Stage 2 ran without validation pairs")
    best, since = curve[0], 0
    for point in curve[1:]:
        if point["loss"] < best["loss"]:
            best, since = point, 0
        else:
            since += 1
        if patience and since >= patience:
            return int(point["step"]), int(best["step"]), float(best["loss"])
    return int(curve[-1]["step"]), int(best["step"]), float(best["loss"])


def select_token_early_stopping(dataset: str, preset: str, seed: int, patiences: Sequence[int], *,
                                data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                                progress: bool = False) -> list[dict[str, Any]]:
    """The ``stage2.*_early_stopping`` selections of the module docstring, one per modality, from
    the validation curves of DPPMG's Stage 2 at ``seed`` (trained with the full budget, or loaded)."""
    from dppmg.methods import DPPMG
    from dppmg.train import train_dppmg

    run = DPPMG().run_config(dataset, preset, seed, with_reward=False)
    _, _, info = train_dppmg(run, data_root=data_root, cache_dir=cache_dir, progress=progress)
    out = []
    for modality, budget in (("text", run.stage2.text_steps), ("image", run.stage2.image_steps)):
        curve = (info.get("token_validation") or {}).get(modality, {}).get("curve") or []
        _, full_step, _ = early_stop(curve, 0)
        rows = []
        for patience in [0, *sorted({int(p) for p in patiences if int(p) > 0})]:
            trained, kept, loss = early_stop(curve, patience)
            rows.append({"value": f"full budget ({budget} steps)" if patience == 0
                         else f"stop after {patience} validation(s) without improvement",
                         "metric": loss, "steps trained": trained, "kept step": kept,
                         "acceptable": kept == full_step})
        choice = min((r for r in rows if r["acceptable"]), key=lambda r: r["steps trained"])["value"]
        out.append({"setting": f"stage2.{modality}_early_stopping", "seed": seed,
                    "metric": "validation loss at the kept step", "higher_is_better": False,
                    "rule": ("fewest steps trained among the candidates that keep the full budget's step "
                             "(the same embeddings); the full budget on a tie"),
                    "validation_curve": curve, "candidates": rows, "choice": choice, "configured": rows[0]["value"]})
    return out


def _stage1_training_steps(config: Any, epochs_run: int, modalities: int, num_train: int,
                           num_users: int) -> tuple[int, int]:
    """(graph steps, quantizer steps) a Stage 1 run of ``config`` (a Stage1Config) trained: epochs
    run x steps per epoch, and per modality the quantizer's epochs x steps per epoch."""
    from dppmg.preference.model import epoch_batch_size
    from dppmg.preference.quantize import quantizer_batch_size

    graph = epochs_run * -(-num_train // epoch_batch_size(num_train, config.preference))
    per_modality = config.quantizer.epochs * -(-num_users // quantizer_batch_size(num_users, config.quantizer))
    return graph, modalities * per_modality


def select_stage1_budget(dataset: str, preset: str, seed: int, candidates: Sequence[Sequence[int]], *,
                         data_root: str | None = None, cache_dir: str | os.PathLike | None = None,
                         progress: bool = False) -> dict[str, Any]:
    """The ``stage1.budget`` selection of the module docstring: DPPMG's Stage 1 trained with each
    candidate budget (graph steps per epoch, quantizer epochs), the first the reference."""
    from dppmg.data import load_dataset
    from dppmg.methods import DPPMG
    from dppmg.preference.checkpoint import load_quantized_preferences
    from dppmg.preference.ranking import RankingEvaluator, factor_scorer
    from dppmg.preference.train import load_or_fit

    if not candidates:
        raise DPPMGError(f"no Stage 1 budget candidates for {dataset!r} at {preset!r} (selection.stage1_budgets)")
    data = load_dataset(dataset, preset=preset, data_root=data_root, cache_dir=cache_dir)
    evaluator = RankingEvaluator(data)
    valid_users = evaluator.evaluated_users("valid").tolist()
    rows, per_user = [], []
    for steps, epochs in candidates:
        config = DPPMG.stage1_config(dataset, preset, seed, preference={"max_steps_per_epoch": int(steps)},
                                     quantizer={"epochs": int(epochs)})
        record, folder = load_or_fit(config, data_root=data_root, cache_dir=cache_dir, progress=progress)
        scorer = factor_scorer(load_quantized_preferences(folder, data, cache_dir))
        per_user.append(dict(zip(valid_users, evaluator.per_user(scorer, "valid")["recall@20"].tolist())))
        graph, quantized = _stage1_training_steps(config, len(record["metrics"]["history"]),
                                                  len(record["metrics"]["quantizer"]), len(evaluator.train),
                                                  data.num_users)
        timing = {t["stage"]: t for t in record["provenance"]["timings"]}["train_and_evaluate"]
        rows.append({"value": f"{steps} graph steps per epoch, {epochs} quantizer epochs",
                     "metric": graph + quantized, "graph steps": graph, "quantizer steps": quantized,
                     "epochs run": len(record["metrics"]["history"]), "best epoch": record["metrics"]["best_epoch"],
                     "quantized valid recall@20": record["metrics"]["quantized_valid"]["recall@20"],
                     "valid recall@20 (unquantized)": record["metrics"]["valid"]["recall@20"],
                     "train seconds (as measured)": round(float(timing["wall_time_s"]), 1),
                     "threads": record["provenance"]["device"].get("torch_threads"),
                     "load average before": record["provenance"]["device"].get("load_average_1min")})
    for row, values in zip(rows, per_user):
        row["p (lower than the reference)"] = None if row is rows[0] else _p_lower(values, per_user[0], seed)
        row["acceptable"] = row is rows[0] or (row["p (lower than the reference)"] or 0.0) >= 0.05
    choice = min((r for r in rows if r["acceptable"]), key=lambda r: r["metric"])["value"]
    return {"setting": "stage1.budget", "metric": "training steps (graph + quantizer)", "higher_is_better": False,
            "seed": seed, "users": len(valid_users),
            "rule": ("the fewest training steps among the budgets whose quantized valid Recall@20 is not lower "
                     "than the first (reference) budget's (paired over validation users, one-sided p >= 0.05)"),
            "candidates": rows, "choice": choice, "configured": _configured_stage1_budget(dataset, preset)}


def _configured_stage1_budget(dataset: str, preset: str) -> str:
    from dppmg.config import preference_config, quantizer_config

    return (f"{preference_config(dataset, preset).max_steps_per_epoch} graph steps per epoch, "
            f"{quantizer_config(dataset, preset).epochs} quantizer epochs")


def selection_applies(group: str, dataset: str, preset: str) -> bool:
    """Whether the selection ``group`` compares anything on ``dataset`` at ``preset``: ``stage1``
    only where the dataset's selection config lists Stage 1 budgets (data large enough for them to
    bind); every other group everywhere."""
    from dppmg.config import selection_config

    return group != "stage1" or bool(selection_config(preset, dataset).stage1_budgets)


SELECTION_GROUPS = ("preference", "sampling", "reward", "precision", "budget", "stage1")


def run_selections(dataset: str, preset: str, seed: int, *, data_root: str | None = None,
                   cache_dir: str | os.PathLike | None = None, progress: bool = False,
                   groups: Sequence[str] = SELECTION_GROUPS) -> list[dict[str, Any]]:
    """The selections of the module docstring for ``dataset`` at ``preset``, by group:
    ``preference`` (Stage 1's dimension; Stage 1 only), ``sampling`` (guidance and sampler; the
    trained Stage 2 pipeline), ``precision`` (fp32 or bf16 generation; the Stage 2 pipeline) and
    ``reward`` (the reward weights; Stages 1-3), ``budget`` (Stage 2's early stopping; Stages 1-2) and
    ``stage1`` (Stage 1's training budget, where :func:`selection_applies`; Stage 1 only)."""
    from dppmg.config import selection_config

    unknown = [g for g in groups if g not in SELECTION_GROUPS]
    if unknown:
        raise DPPMGError(f"unknown selection group(s) {unknown}; expected some of {list(SELECTION_GROUPS)}")
    config = selection_config(preset, dataset)
    out = []
    if "preference" in groups:
        if not config.preference_dims:
            raise DPPMGError("the selection config has no preference dimension to compare")
        out.append(select_preference_dim(dataset, preset, seed, config.preference_dims, data_root=data_root,
                                         cache_dir=cache_dir, progress=progress))
    if "sampling" in groups:
        out += select_sampling(dataset, preset, seed, config.guidance_scales, config.samplers, config.users,
                               data_root=data_root, cache_dir=cache_dir, progress=progress)
    if "precision" in groups:
        out.append(select_precision(dataset, preset, seed, config.precisions, config.users, data_root=data_root,
                                    cache_dir=cache_dir, progress=progress))
    if "reward" in groups:
        out.append(select_reward_weights(dataset, preset, seed, config.reward_weights, config.users,
                                         data_root=data_root, cache_dir=cache_dir, progress=progress))
    if "budget" in groups:
        out += select_token_early_stopping(dataset, preset, seed, config.token_patiences, data_root=data_root,
                                           cache_dir=cache_dir, progress=progress)
    if "stage1" in groups:
        out.append(select_stage1_budget(dataset, preset, seed, config.stage1_budgets, data_root=data_root,
                                        cache_dir=cache_dir, progress=progress))
    return out


def selection_training_steps(group: str, dataset: str, preset: str, seed: int,
                             cache_dir: str | os.PathLike | None = None) -> list | None:
    """What :func:`run_selections` of ``group`` would train, read from the cache
    (:func:`dppmg.train.training_steps`): Stages 1-2 for ``sampling``, ``precision`` and ``budget``, and a
    Stage 3 per reward-weight candidate for ``reward``; ``None`` for ``preference`` (its Stage 1
    runs are not DPPMG's)."""
    from dppmg.config import selection_config
    from dppmg.methods import DPPMG
    from dppmg.train import training_steps

    if group not in ("sampling", "precision", "reward", "budget"):
        return None
    method = DPPMG()
    if group != "reward":
        return training_steps(method.run_config(dataset, preset, seed, with_reward=False), cache_dir)
    weights = reward_weight_candidates(preset, dataset, selection_config(preset, dataset).reward_weights)
    steps: dict[str, Any] = {}
    for a, b, c in weights:
        run = method.run_config(dataset, preset, seed, reward={"consistency_weight": float(a),
                                                               "image_personalization_weight": float(b),
                                                               "text_personalization_weight": float(c)})
        steps.update({step.artifact: step for step in training_steps(run, cache_dir)})
    return list(steps.values())
