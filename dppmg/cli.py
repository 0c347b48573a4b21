"""The ``dppmg`` command line.

    dppmg data stats --dataset {movielens,movielens-1m,hm,synthetic} [--json]
    dppmg data features --dataset D          # extract and cache frozen text/image features
    dppmg data download --dataset D          # fetch the real data (needs internet)
    dppmg preference fit --dataset D --method M --seed S
    dppmg tokens --dataset D --user U
    dppmg backbone --dataset D               # train (or resume) the image backbone
    dppmg generate --dataset D --users U [U ...] --out DIR
    dppmg train --dataset D --seed S         # stages 1-3
    dppmg evaluate --dataset D --method M --seed S [--config run.toml]
    dppmg cache verify [--stage S] [--dataset D]   # check every cache entry against its manifest
    dppmg cache clear --stage S [--dataset D] [--damaged]

Arguments, user ids and paths are checked before any expensive work. Ctrl-C prints what was
interrupted and what was kept (every cache entry is written atomically; Stage 1 and the image
backbone resume from their last checkpoint) and exits 130.

Every command takes ``--data-root`` (default ``$DPPMG_DATA_DIR``) and ``--preset``. The method
choices come from the registry (:mod:`dppmg.registry`), plugins included.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from dppmg.config import DATASETS, PRESETS
from dppmg.errors import DPPMGError
from dppmg.infra.paths import DATA_DIR_ENV
from dppmg.methods import DPPMG
from dppmg.registry import method_names, methods


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    from dppmg.errors import ConfigError
    from dppmg.infra.seeding import check_seed

    try:
        return check_seed(int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, 2**32), got {text!r}") from None


def _common(parser: argparse.ArgumentParser, from_config: bool = False) -> None:
    # With a run config file (evaluate) these come from the file when not given here.
    parser.add_argument("--dataset", required=not from_config, default=None, choices=DATASETS, help="dataset name")
    parser.add_argument("--data-root", default=None, help=f"folder holding the real datasets (default ${DATA_DIR_ENV})")
    parser.add_argument("--preset", default=None if from_config else "small", choices=PRESETS,
                        help="preset whose defaults apply (default small)")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default $DPPMG_CACHE_DIR or ~/.cache/dppmg)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="torch threads (default $OMP_NUM_THREADS, else the cores free at the start)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dppmg", description="DPPMG reproducibility suite")
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="datasets: statistics, features, download")
    data_cmd = data.add_subparsers(dest="data_command", required=True)

    stats = data_cmd.add_parser("stats", help="print the statistics table of a processed dataset")
    _common(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of tables")
    stats.add_argument("--min-user", type=int, default=None, help="k-core: minimum interactions per user")
    stats.add_argument("--min-item", type=int, default=None, help="k-core: minimum interactions per item")
    stats.add_argument("--threshold", type=float, default=None, help="positive rating threshold")
    stats.add_argument("--require-description", action="store_true", help="keep only items with a plot / description")
    stats.add_argument("--lenient", action="store_true",
                       help="skip malformed source lines (counted in the table) instead of reporting them and stopping")

    feats = data_cmd.add_parser("features", help="extract (or load cached) frozen text and image features")
    _common(feats)

    down = data_cmd.add_parser("download", help="download a real dataset from its public origin")
    down.add_argument("--dataset", required=True, choices=DATASETS)
    down.add_argument("--data-root", default=None, help=f"where to put the data (default ${DATA_DIR_ENV})")

    build = data_cmd.add_parser("build", help="rebuild the H&M sample (1,364 customers) from the Kaggle download")
    build.add_argument("--dataset", required=True, choices=["hm"],
                       help="hm (MovieLens: `dppmg data download --dataset movielens` builds its layout)")
    build.add_argument("--kaggle-dir", required=True, help="the unzipped competition folder (transactions_train.csv, ...)")
    build.add_argument("--data-root", default=None, help=f"where hm-sample/ is written (default ${DATA_DIR_ENV})")
    build.add_argument("--out", default=None, help="write the sample here instead of <data root>/hm-sample")
    build.add_argument("--customers", default=None,
                       help="a file of customer ids, one per line (default: the shipped 1,364 of the sample)")

    pref = commands.add_parser("preference", help="stage 1: graph preference model and preference tokens")
    pref_cmd = pref.add_subparsers(dest="preference_command", required=True)
    fit = pref_cmd.add_parser("fit", help="train the preference model and quantizer; write metrics JSON")
    _common(fit)
    fit.add_argument("--seed", type=_seed, default=0, help="random seed (an int)")
    fit.add_argument("--method", default=DPPMG.name, choices=method_names(suite="preference"),
                     help="model or baseline to fit (a registered method of the ranking table)")
    fit.add_argument("--out", default=None, help="also write the metrics JSON here")

    tokens = commands.add_parser("tokens", help="print a user's preference tokens and what each one means")
    _common(tokens)
    tokens.add_argument("--user", required=True, help="user id as in the dataset (e.g. 196 for MovieLens)")
    tokens.add_argument("--seed", type=_seed, default=0)
    tokens.add_argument("--method", default=DPPMG.name, help="the Stage 1 method whose tokens to show",
                        choices=[s.name for s in methods(suite="preference") if s.cls.quantize])
    tokens.add_argument("--examples", type=_positive_int, default=5, help="items shown per token")

    backbone = commands.add_parser("backbone", help="stage 2: train (or resume) the image backbone of a dataset")
    _common(backbone)
    backbone.add_argument("--seed", type=_seed, default=0,
                          help="the sample grid's sampling seed (the backbone itself trains from the shared-model seed)")
    backbone.add_argument("--max-steps", type=_positive_int, default=None, help="stop after this many steps (resumable)")
    backbone.add_argument("--grid", default=None, help="save a generated-vs-real sample grid PNG here")

    gen = commands.add_parser("generate", help="stage 2: generate a personalized item (text + image) per user")
    _common(gen)
    gen.add_argument("--users", nargs="+", required=True, help="user ids as in the dataset")
    gen.add_argument("--out", required=True, help="output folder (one PNG, TXT and JSON per user, plus grid.png)")
    gen.add_argument("--seed", type=_seed, default=0, help="random seed (an int)")
    gen.add_argument("--steps", type=_positive_int, default=None, help="DDIM steps (default: the preset's)")

    train = commands.add_parser("train", help="stages 1-3 from scratch or the caches: everything `evaluate` needs")
    _common(train)
    train.add_argument("--seed", type=_seed, default=0, help="random seed (an int)")
    train.add_argument("--no-reward", action="store_true", help="stop after Stage 2")
    train.add_argument("--curves", default=None, help="save the reward curves PNG here")

    ev = commands.add_parser("evaluate", help="generate for test users and compute every metric; write a result JSON")
    _common(ev, from_config=True)
    ev.add_argument("--config", default=None,
                    help="a run config TOML (dataset, method, preset, seed, users, split, [overrides.<stage>]); "
                         "options given here win over it")
    ev.add_argument("--method", default=None, choices=method_names(suite="evaluation"),
                    help="a registered generation method, baseline, control or reference (default dppmg)")
    ev.add_argument("--seed", type=_seed, default=None, help="random seed (an int, default 0)")
    ev.add_argument("--users", type=_positive_int, default=None, help="users to evaluate (default: the preset's)")
    ev.add_argument("--split", default=None, choices=("test", "valid"),
                    help="test: the final evaluation; valid: validation users and items (for choosing settings)")
    ev.add_argument("--out", default=None,
                    help="result JSON (default: under the cache folder, runs/<preset>/evaluation/"
                         "<dataset>__<method>__seed<S>.json; the harness writes the committed results/runs/)")

    judge = commands.add_parser("judge", help="the human study: export blinded cases, serve the judging page, report")
    judge_cmd = judge.add_subparsers(dest="judge_command", required=True)
    export = judge_cmd.add_parser("export", help="write a blinded study folder (cases, key, study.json)")
    _common(export)
    export.add_argument("--cases", type=_positive_int, default=50, help="test users (cases) in the study")
    export.add_argument("--methods", nargs="+", required=True, choices=method_names(suite="evaluation"),
                        help="the registered methods whose generations are judged")
    export.add_argument("--seed", type=_seed, default=0, help="draws the users and the labels; the methods' seed")
    export.add_argument("--out", required=True, help="the study folder (new or empty)")
    serve = judge_cmd.add_parser("serve", help="serve the judging page of a study folder on this machine")
    serve.add_argument("study", help="the study folder")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: this machine only)")
    serve.add_argument("--db", default=None, help="the vote database (default <study>/votes.sqlite)")
    report = judge_cmd.add_parser("report", help="the statistics of a study's votes into results/<preset>/human_study.md")
    report.add_argument("study", help="the study folder")
    report.add_argument("--db", default=None, help="the vote database (default <study>/votes.sqlite)")
    report.add_argument("--results-dir", default="results")

    cache = commands.add_parser("cache", help="check or clear the cache entries (models, features, data)")
    cache_cmd = cache.add_subparsers(dest="cache_command", required=True)
    from dppmg.infra.cache import STAGES

    for name, text in (("verify", "check every entry (folders against their manifest, files by loading them)"),
                       ("clear", "remove entries (all of a stage, a dataset, or only the damaged ones)")):
        sub = cache_cmd.add_parser(name, help=text)
        sub.add_argument("--stage", nargs="+", choices=STAGES, default=None, help=f"stages to {name} (default: all)")
        sub.add_argument("--dataset", default=None, choices=DATASETS, help="only this dataset's entries")
        sub.add_argument("--cache-dir", default=None, help="cache folder (default $DPPMG_CACHE_DIR or ~/.cache/dppmg)")
        if name == "clear":
            sub.add_argument("--damaged", action="store_true", help="remove only the entries `verify` reports")
            sub.add_argument("--all", action="store_true", help="every entry of every stage (needed without --stage)")
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    out = {}
    for attr, field in (("min_user", "min_user_interactions"), ("min_item", "min_item_interactions"),
                        ("threshold", "positive_threshold")):
        if getattr(args, attr, None) is not None:
            out[field] = getattr(args, attr)
    if getattr(args, "require_description", False):
        out["require_description"] = True
    return out


def resolve_run_config(args: argparse.Namespace) -> None:
    """Fill ``evaluate``'s unset options from ``--config`` (if any), then from the defaults; record
    where each value came from in ``args.resolved``."""
    from dppmg.errors import ConfigError
    from dppmg.registry import method_names as names
    from dppmg.ui.run_config import RUN_KEYS, load_run_config

    values = load_run_config(args.config) if args.config else {}
    args.resolved = {}
    for key, (_, default) in RUN_KEYS.items():
        given = getattr(args, key, None)
        if given is not None:
            args.resolved[key] = {"value": given, "from": "command line"}
        elif key in values:
            setattr(args, key, values[key])
            args.resolved[key] = {"value": values[key], "from": str(args.config)}
        else:
            setattr(args, key, default)
            args.resolved[key] = {"value": default, "from": "default"}
    if args.dataset is None:
        raise ConfigError("no dataset: pass --dataset or set `dataset` in the --config file")
    for key, choices in (("dataset", DATASETS), ("preset", PRESETS), ("split", ("test", "valid")),
                         ("method", names(suite="evaluation"))):
        if getattr(args, key) not in choices:
            raise ConfigError(f"{key} {getattr(args, key)!r} (from {args.resolved[key]['from']}) is not one of {list(choices)}")
    if args.users is not None and args.users < 1:
        raise ConfigError(f"users must be positive, got {args.users}")


def run(args: argparse.Namespace) -> int:
    if args.command == "cache":
        return run_cache(args)
    if args.command == "judge" and args.judge_command != "export":
        return run_judge(args)
    if args.command == "evaluate":
        resolve_run_config(args)
    check_inputs(args)
    if hasattr(args, "threads"):  # the commands that compute (dppmg.infra.threads: never more than the free cores)
        from dppmg.infra.threads import apply_threads, default_threads

        apply_threads(args.threads or default_threads())
    if args.command == "preference":
        return run_preference(args)
    if args.command == "tokens":
        return run_tokens(args)
    if args.command == "generate":
        return run_generate(args)
    if args.command == "backbone":
        return run_backbone(args)
    if args.command == "train":
        return run_train(args)
    if args.command == "evaluate":
        return run_evaluate(args)
    if args.command == "judge":
        return run_judge(args)
    return run_data(args)


def run_judge(args: argparse.Namespace) -> int:
    """``dppmg judge export | serve | report`` (:mod:`dppmg.study`)."""
    if args.judge_command == "export":
        from dppmg.study.export import export_study

        out = export_study(args.dataset, args.preset, args.cases, args.methods, args.out, seed=args.seed,
                           data_root=args.data_root, cache_dir=args.cache_dir)
        print(f"wrote the study {out} ({args.cases} cases, {len(args.methods)} methods); serve it with "
              f"`dppmg judge serve {out}`; its key.json must not reach the judges")
        return 0
    if args.judge_command == "serve":
        from dppmg.study.app import serve

        serve(args.study, args.host, args.port, args.db)
        return 0
    from dppmg.study.report import write_report

    print(f"wrote {write_report(args.study, args.db, args.results_dir)}")
    return 0


def check_inputs(args: argparse.Namespace) -> None:
    """What can be checked in well under a second, before any expensive work: the data root and
    dataset folder, the output folder, and user ids against the source files."""
    from dppmg.data.datasets import check_user_ids_known, dataset_dir, source_user_ids

    if getattr(args, "data_command", None) in ("download", "build"):
        return
    if args.dataset != "synthetic":
        dataset_dir(args.dataset, args.data_root)
    users = args.users if args.command == "generate" else [args.user] if args.command == "tokens" else None
    if users is not None:
        check_user_ids_known(users, source_user_ids(args.dataset, args.data_root, args.preset), args.dataset)
    out = getattr(args, "out", None)
    if out is not None and args.command == "generate":
        if Path(out).exists() and not Path(out).is_dir():
            raise DPPMGError(f"--out {out} is a file: generate writes a folder (one PNG, TXT and JSON per user "
                             f"and grid.png); name a folder")
        _check_writable(Path(out))
    elif out is not None:
        _check_writable(Path(out).parent)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DPPMGError(f"output directory {folder} cannot be written: {exc}") from exc


def run_cache(args: argparse.Namespace) -> int:
    from dppmg.infra.cache import STAGES, clear, scan
    from dppmg.infra.paths import cache_dir

    root = cache_dir(args.cache_dir)
    stages = tuple(args.stage or STAGES)
    if args.cache_command == "clear":
        if not (args.stage or args.damaged or args.all):
            from dppmg.errors import ConfigError

            raise ConfigError("cache clear removes trained models (an image backbone takes hours at small): "
                              "name --stage S [S ...], or pass --damaged or --all")
        removed = clear(root, stages, args.dataset, only_damaged=args.damaged, datasets=DATASETS)
        freed = sum(e.bytes for e in removed)
        for e in removed:
            print(f"removed {e.path}" + (f" ({e.problem})" if e.problem else ""))
        print(f"{len(removed)} entries removed from {root} ({freed / 2**20:.1f} MiB)")
        return 0
    entries = scan(root, stages, args.dataset, datasets=DATASETS)
    bad = [e for e in entries if e.problem]
    for e in entries:
        state = "ok" if e.problem is None else f"DAMAGED: {e.problem}"
        print(f"{e.stage:<21} {e.dataset or '?':<13} {e.bytes / 2**20:>9.1f} MiB  {state}  {e.path}")
    print(f"{len(entries)} entries under {root}, {len(bad)} damaged"
          + (": `dppmg cache clear --damaged` removes them, and the next run rebuilds them" if bad else ""))
    return 1 if bad else 0


def run_train(args: argparse.Namespace) -> int:
    from dppmg.methods import DPPMG
    from dppmg.train import train_dppmg

    run = DPPMG().run_config(args.dataset, args.preset, args.seed, with_reward=not args.no_reward)
    _, _, info = train_dppmg(run, data_root=args.data_root, cache_dir=args.cache_dir)
    print(f"stage 1: {info['stage1_folder']}\nstage 2: {info['stage2_folder']}")
    if "reward" in info:
        curves = info["reward"]["curves"]
        print(f"stage 3: {info['reward']['folder']}\n  reward per step: first {curves['reward'][0]:.4f}, "
              f"last {curves['reward'][-1]:.4f} ({len(curves['reward'])} steps)")
        if args.curves:
            from dppmg.ui.plotting import loss_curves

            loss_curves(curves, args.curves,
                        f"{args.dataset} ({args.preset}, seed {args.seed}): reward fine-tuning", smooth=5)
            print(f"  curves: {args.curves}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from dppmg.evaluation.evaluate import evaluate
    from dppmg.infra.io import atomic_write_json
    from dppmg.infra.paths import cache_dir

    stage = "evaluation" if args.split == "test" else "evaluation_valid"
    # Ad-hoc runs never land among the committed results/runs/ (only the harness writes there).
    out = Path(args.out or (cache_dir(args.cache_dir) / "runs" / args.preset / stage
                            / f"{args.dataset}__{args.method}__seed{args.seed}.json"))
    result = evaluate(args.dataset, args.method, args.preset, args.seed, out, data_root=args.data_root,
                      cache_dir=args.cache_dir, users=args.users, split=args.split,
                      method_overrides=args.overrides or None)
    atomic_write_json(out.with_name(out.stem + ".config.json"), args.resolved)
    m = result["metrics"]
    print(f"{args.method} on {args.dataset} ({args.preset}, seed {args.seed}, {len(m['users'])} {args.split} users):")
    for modality in ("image", "text"):
        views = m["personalization"][modality]
        print(f"  {modality} personalization: " + "; ".join(
            f"{view} {t['statistic']:+.4f} (AUC {t['auc']:.3f}, p {t['p']:.3g})" for view, t in views.items()
            if "statistic" in t))
    c = m["consistency"]
    print(f"  consistency: evaluator {c['evaluator']['mean']:.4f}, reward model {c['reward_model']['mean']:.4f}, "
          f"matching p {c['matching'].get('p', float('nan')):.3g}")
    print(f"  KID {m['quality']['kid']['mean']:.4f} ± {m['quality']['kid']['std']:.4f} "
          f"({m['quality']['kid']['generated']} vs {m['quality']['kid']['reference']} images); "
          f"ROUGE-L {m['text']['rouge_l_targets']['mean']:.4f}, distinct-2 {m['diversity']['distinct_2']:.3f}; "
          f"{m['throughput']['users_per_second']:.2f} users/s")
    if "ground_truth" in m:
        g = m["ground_truth"]
        print(f"  ground truth: colour {g['image_colour']['mean']:.3f}, style {g['text_style']['mean']:.3f}")
    print(f"wrote {out}")
    return 0


def run_backbone(args: argparse.Namespace) -> int:
    from dppmg.config import image_backbone_config
    from dppmg.data import load_dataset
    from dppmg.generation.image_backbone import save_sample_grid, train_image_backbone
    from dppmg.infra.seeding import seed_everything, shared_model_generator

    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir)
    config = image_backbone_config(args.preset, args.dataset)
    seed_everything(args.seed)
    backbone = train_image_backbone(data, config, shared_model_generator(), args.cache_dir,
                                    max_steps_this_call=args.max_steps)
    done = len(backbone.losses)
    rate = f", {backbone.steps_per_second:.2f} steps/s this call" if backbone.steps_per_second else ""
    print(f"image backbone of {args.dataset} ({args.preset}): {done}/{config.train_steps} steps{rate}; "
          f"mean loss of the last 50 steps {sum(backbone.losses[-50:]) / max(1, len(backbone.losses[-50:])):.4f}")
    print(f"checkpoint: {backbone.folder}")
    if args.grid:
        print(f"sample grid: {save_sample_grid(backbone, data, args.grid, seed=args.seed, cache_dir=args.cache_dir)}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from dppmg.data import load_dataset
    from dppmg.generation.train import check_user_ids, load_or_train_pipeline
    from dppmg.infra.io import atomic_path, atomic_write_json, atomic_write_text
    from dppmg.ui.plotting import generation_grid

    out = Path(args.out)
    # The processed data is cheap next to Stage 2: check that the ids survived processing first.
    users = check_user_ids(args.users, load_dataset(args.dataset, preset=args.preset, data_root=args.data_root,
                                                    cache_dir=args.cache_dir), args.preset, args.data_root)
    from dppmg.methods import DPPMG

    run = DPPMG().run_config(args.dataset, args.preset, args.seed, with_reward=False)
    pipe, data, _ = load_or_train_pipeline(run.stage1, run.stage2, data_root=args.data_root, cache_dir=args.cache_dir)
    results = pipe(users, seed=args.seed, num_inference_steps=args.steps)
    for r in results:
        stem = out / f"user_{r['user_id']}"
        with atomic_path(stem.with_suffix(".png"), suffix=".png") as tmp:
            r["image"].save(tmp, format="PNG")
        atomic_write_text(stem.with_suffix(".txt"), r["text"] + "\n")
        atomic_write_json(stem.with_suffix(".json"), {"user_id": r["user_id"], "tokens": r["tokens"],
                                                      "seed": args.seed, "preset": args.preset,
                                                      "dataset": args.dataset, "config": pipe.config.to_dict(),
                                                      "pipeline": pipe.meta})
    generation_grid(results, out / "grid.png", f"{args.dataset}: generated items (seed {args.seed})")
    print(f"wrote {len(results)} users to {out}")
    return 0


def run_preference(args: argparse.Namespace) -> int:
    from dppmg.preference.train import fit_and_save
    from dppmg.registry import resolve_stage1

    record, folder = fit_and_save(resolve_stage1(args.dataset, args.preset, args.seed, args.method),
                                  data_root=args.data_root, cache_dir=args.cache_dir, output_json=args.out)
    m = record["metrics"]
    print(f"{args.method} on {args.dataset} ({args.preset}, seed {args.seed}): "
          + ", ".join(f"test {k} {v:.4f}" for k, v in m["test"].items()))
    for modality, q in m.get("quantizer", {}).items():
        levels = " ".join(f"L{lv['level']}: {lv['utilisation']:.0%} used, ppl {lv['perplexity']:.1f}" for lv in q["levels"])
        print(f"  {modality} quantizer: recon MSE {q['recon_mse']:.3f}, collisions {q['collision_rate']:.1%}; {levels}")
    if "quantized_recall_kept" in m:
        print(f"  test recall@20 with quantized preferences: {m['quantized_test']['recall@20']:.4f} "
              f"({m['quantized_recall_kept']:.1%} of unquantized)")
    print(f"checkpoint: {folder}")
    print(f"metrics: {args.out or folder / 'metrics.json'}")
    return 0


def run_tokens(args: argparse.Namespace) -> int:
    from dppmg.data import load_dataset
    from dppmg.generation.train import check_user_ids
    from dppmg.preference.checkpoint import checkpoint_dir, load_stage1
    from dppmg.preference.tokens import token_meanings
    from dppmg.registry import resolve_stage1

    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir)
    check_user_ids([args.user], data)
    folder = checkpoint_dir(resolve_stage1(args.dataset, args.preset, args.seed, args.method), args.cache_dir)
    checkpoint = load_stage1(folder, data)
    print(f"user {args.user} of {args.dataset}: "
          + "  ".join(f"{m}: {' '.join(t)}" for m, t in checkpoint.tokens[args.user].items()))
    for row in token_meanings(checkpoint, data, args.user, args.examples):
        examples = "; ".join(row["examples"])
        print(f"  {row['token']:<12} shared by {row['items_sharing']:>5} items (codes up to level {row['level']}): {examples}")
    return 0


def run_data(args: argparse.Namespace) -> int:
    from dppmg.data import dataset_statistics, format_statistics, load_dataset

    if args.data_command == "download":
        from dppmg.data.download import download

        root = args.data_root or os.environ.get(DATA_DIR_ENV)
        print(download(args.dataset, Path(root).expanduser().resolve() if root else None))
        return 0
    if args.data_command == "build":
        from dppmg.data.build import build_hm_sample
        from dppmg.infra.paths import resolve_data_root

        out = Path(args.out) if args.out else resolve_data_root(args.data_root, required=True) / "hm-sample"
        from dppmg.data.build import read_customer_ids

        customers = read_customer_ids(Path(args.customers)) if args.customers else None
        counts = build_hm_sample(args.kaggle_dir, out, customers)
        print(f"wrote {out}: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))
        return 0
    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir,
                        lenient=getattr(args, "lenient", False), **_overrides(args))
    if args.data_command == "stats":
        from dppmg.data.images import undecodable_images

        stats = dataset_statistics(data)
        broken = undecodable_images([p for p in data.items["image_path"] if p], args.cache_dir)
        stats["undecodable_images"] = [{"path": p, "problem": why} for p, why in broken]
        print(json.dumps(stats, indent=2) if args.json else format_statistics(stats))
        if broken:
            listed = "\n".join(f"  {p}: {why}" for p, why in broken[:20])
            more = f"\n  ... and {len(broken) - 20} more" if len(broken) > 20 else ""
            print(f"dppmg: {'warning' if args.lenient else 'error'}: {len(broken):,} of the counted images cannot be "
                  f"decoded (replace them or remove them from the data folder):\n{listed}{more}", file=sys.stderr)
            return 0 if args.lenient else 2
        return 0
    if args.data_command == "features":
        from dppmg.data.features import item_features

        for modality in ("text", "image"):
            t0 = time.perf_counter()
            feats = item_features(data, modality, cache_dir=args.cache_dir)
            print(f"{data.name} {modality}: {feats.shape[0]} items x {feats.shape[1]} dims "
                  f"in {time.perf_counter() - t0:.1f} s")
        return 0
    raise AssertionError(f"unhandled command {args.data_command}")


# What a rerun of each command resumes from, said when it is interrupted.
RESUMES = {
    "preference": "Stage 1 resumes from its last training checkpoint (every 5 epochs)",
    "backbone": "the image backbone resumes from its last checkpoint",
    "train": "finished stages are cached; Stage 1 and the image backbone resume from their last checkpoint",
    "generate": "finished stages are cached; Stage 1 and the image backbone resume from their last checkpoint",
    "evaluate": "finished stages are cached; Stage 1 and the image backbone resume from their last checkpoint",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except DPPMGError as exc:
        print(f"dppmg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        command = " ".join(["dppmg", *(sys.argv[1:] if argv is None else argv)])
        kept = RESUMES.get(args.command, "cache entries already written are kept whole")
        print(f"\ndppmg: interrupted `{command}`; nothing half-written was kept, {kept}: rerun the same "
              "command to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
