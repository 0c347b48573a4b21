"""The ``dppmg`` command line.

    dppmg data stats --dataset {movielens,movielens-1m,hm,synthetic} [--json]
    dppmg data features --dataset D          # extract and cache frozen text/image features
    dppmg data download --dataset D          # fetch the real data (needs internet)
    dppmg preference fit --dataset D --method M --seed S
    dppmg tokens --dataset D --user U
    dppmg backbone --dataset D               # train (or resume) the image backbone
    dppmg generate --dataset D --users U [U ...] --out DIR
    dppmg train --dataset D --seed S         # stages 1-3
    dppmg evaluate --dataset D --method M --seed S

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
from dppmg.paths import DATA_DIR_ENV
from dppmg.registry import method_names, methods


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=DATASETS, help="dataset name")
    parser.add_argument("--data-root", default=None, help=f"folder holding the real datasets (default ${DATA_DIR_ENV})")
    parser.add_argument("--preset", default="small", choices=PRESETS, help="preset whose defaults apply")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default $DPPMG_CACHE_DIR or ~/.cache/dppmg)")


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

    feats = data_cmd.add_parser("features", help="extract (or load cached) frozen text and image features")
    _common(feats)

    down = data_cmd.add_parser("download", help="download a real dataset from its public origin")
    down.add_argument("--dataset", required=True, choices=DATASETS)
    down.add_argument("--data-root", default=None, help=f"where to put the data (default ${DATA_DIR_ENV})")

    pref = commands.add_parser("preference", help="stage 1: graph preference model and preference tokens")
    pref_cmd = pref.add_subparsers(dest="preference_command", required=True)
    fit = pref_cmd.add_parser("fit", help="train the preference model and quantizer; write metrics JSON")
    _common(fit)
    fit.add_argument("--seed", type=int, default=0, help="random seed (an int)")
    fit.add_argument("--method", default="dppmg", choices=method_names(suite="preference"),
                     help="model or baseline to fit (a registered method of the ranking table)")
    fit.add_argument("--out", default=None, help="also write the metrics JSON here")

    tokens = commands.add_parser("tokens", help="print a user's preference tokens and what each one means")
    _common(tokens)
    tokens.add_argument("--user", required=True, help="user id as in the dataset (e.g. 196 for MovieLens)")
    tokens.add_argument("--seed", type=int, default=0)
    tokens.add_argument("--method", default="dppmg", help="the Stage 1 method whose tokens to show",
                        choices=[s.name for s in methods(suite="preference") if s.cls.quantize])
    tokens.add_argument("--examples", type=int, default=5, help="items shown per token")

    backbone = commands.add_parser("backbone", help="stage 2: train (or resume) the image backbone of a dataset")
    _common(backbone)
    backbone.add_argument("--seed", type=int, default=0)
    backbone.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (resumable)")
    backbone.add_argument("--grid", default=None, help="save a generated-vs-real sample grid PNG here")

    gen = commands.add_parser("generate", help="stage 2: generate a personalized item (text + image) per user")
    _common(gen)
    gen.add_argument("--users", nargs="+", required=True, help="user ids as in the dataset")
    gen.add_argument("--out", required=True, help="output folder (one PNG, TXT and JSON per user, plus grid.png)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (an int)")
    gen.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the preset's)")

    train = commands.add_parser("train", help="stages 1-3 from scratch or the caches: everything `evaluate` needs")
    _common(train)
    train.add_argument("--seed", type=int, default=0, help="random seed (an int)")
    train.add_argument("--no-reward", action="store_true", help="stop after Stage 2")
    train.add_argument("--curves", default=None, help="save the reward curves PNG here")

    ev = commands.add_parser("evaluate", help="generate for test users and compute every metric; write a result JSON")
    _common(ev)
    ev.add_argument("--method", default="dppmg", choices=method_names(suite="evaluation"),
                    help="a registered generation method, baseline, control or reference")
    ev.add_argument("--seed", type=int, default=0, help="random seed (an int)")
    ev.add_argument("--users", type=int, default=None, help="users to evaluate (default: the preset's)")
    ev.add_argument("--split", default="test", choices=("test", "valid"),
                    help="test: the final evaluation; valid: validation users and items (for choosing settings)")
    ev.add_argument("--out", default=None,
                    help="result JSON (default results/evaluation/<preset>/<dataset>__<method>__seed<S>.json)")
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


def run(args: argparse.Namespace) -> int:
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
    return run_data(args)


def run_train(args: argparse.Namespace) -> int:
    from dppmg.train import train_dppmg

    _, _, info = train_dppmg(args.dataset, args.preset, args.seed, data_root=args.data_root, cache_dir=args.cache_dir,
                             reward=not args.no_reward)
    print(f"stage 1: {info['stage1_folder']}\nstage 2: {info['stage2_folder']}")
    if "reward" in info:
        curves = info["reward"]["curves"]
        print(f"stage 3: {info['reward']['folder']}\n  reward per step: first {curves['reward'][0]:.4f}, "
              f"last {curves['reward'][-1]:.4f} ({len(curves['reward'])} steps)")
        if args.curves:
            from dppmg.plotting import loss_curves

            loss_curves(curves, args.curves,
                        f"{args.dataset} ({args.preset}, seed {args.seed}): reward fine-tuning", smooth=5)
            print(f"  curves: {args.curves}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from dppmg.evaluation.evaluate import evaluate

    suffix = "" if args.split == "test" else f"__{args.split}"
    out = args.out or (Path("results") / "evaluation" / args.preset
                       / f"{args.dataset}__{args.method}__seed{args.seed}{suffix}.json")
    result = evaluate(args.dataset, args.method, args.preset, args.seed, out, data_root=args.data_root,
                      cache_dir=args.cache_dir, users=args.users, split=args.split)
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
    from dppmg.seeding import seed_everything

    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir)
    config = image_backbone_config(args.preset, args.dataset)
    backbone = train_image_backbone(data, config, seed_everything(args.seed).torch, args.cache_dir,
                                    max_steps_this_call=args.max_steps)
    done = len(backbone.losses)
    rate = f", {backbone.steps_per_second:.2f} steps/s this call" if backbone.steps_per_second else ""
    print(f"image backbone of {args.dataset} ({args.preset}): {done}/{config.train_steps} steps{rate}; "
          f"mean loss of the last 50 steps {sum(backbone.losses[-50:]) / max(1, len(backbone.losses[-50:])):.4f}")
    print(f"checkpoint: {backbone.folder}")
    if args.grid:
        print(f"sample grid: {save_sample_grid(backbone, data, args.grid, cache_dir=args.cache_dir)}")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    from dppmg.errors import DPPMGError
    from dppmg.io import atomic_path, atomic_write_json, atomic_write_text
    from dppmg.plotting import generation_grid
    from dppmg.generation.train import check_user_ids, load_or_train_pipeline

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DPPMGError(f"output directory {out} cannot be written: {exc}") from exc
    pipe, data = load_or_train_pipeline(args.dataset, args.preset, args.seed, data_root=args.data_root,
                                        cache_dir=args.cache_dir)
    users = check_user_ids(args.users, data)
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

    record, folder = fit_and_save(args.dataset, args.preset, args.seed, args.method, data_root=args.data_root,
                                  cache_dir=args.cache_dir, output_json=args.out)
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
    from dppmg.errors import DPPMGError
    from dppmg.config import stage1_config
    from dppmg.preference.checkpoint import checkpoint_dir, load_stage1
    from dppmg.preference.tokens import token_meanings

    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir)
    if args.user not in set(data.users["user_id"]):
        raise DPPMGError(f"unknown user id {args.user!r} for dataset {args.dataset!r} "
                         f"({data.num_users} users; ids look like {data.users['user_id'].iloc[0]!r})")
    folder = checkpoint_dir(stage1_config(args.dataset, args.preset, args.seed, args.method), args.cache_dir)
    if not folder.is_dir():
        raise DPPMGError(f"no stage-1 checkpoint for {args.dataset} at preset {args.preset}, seed {args.seed}: "
                         f"run `dppmg preference fit --dataset {args.dataset} --preset {args.preset} --seed {args.seed} "
                         f"--method {args.method}`")
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
    data = load_dataset(args.dataset, preset=args.preset, data_root=args.data_root, cache_dir=args.cache_dir,
                        **_overrides(args))
    if args.data_command == "stats":
        stats = dataset_statistics(data)
        print(json.dumps(stats, indent=2) if args.json else format_statistics(stats))
        return 0
    if args.data_command == "features":
        from dppmg.features import item_features

        for modality in ("text", "image"):
            t0 = time.perf_counter()
            feats = item_features(data, modality, cache_dir=args.cache_dir)
            print(f"{data.name} {modality}: {feats.shape[0]} items x {feats.shape[1]} dims "
                  f"in {time.perf_counter() - t0:.1f} s")
        return 0
    raise AssertionError(f"unhandled command {args.data_command}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except DPPMGError as exc:
        print(f"dppmg: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
