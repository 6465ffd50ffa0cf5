"""Train an HRNet-128 variant on the teacher and human landmark labels (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variant", default="hrnet128_lite", choices=["hrnet128_lite", "hrnet128_w18"]
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="checkpoint folder (default $FACESTREAM_CACHE/train/VARIANT)",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="data loader processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after N steps")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument(
        "--export",
        type=Path,
        default=None,
        metavar="PATH",
        help="only copy the run's last weights to PATH (e.g. models/weights/VARIANT.safetensors)",
    )


def run(args: argparse.Namespace) -> int:
    from facestream.models.train.train import TrainConfig, export_last, train

    cfg = TrainConfig(
        variant=args.variant,
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads,
        max_steps=args.max_steps,
    )
    if args.export:
        print(f"Last weights written to {export_last(cfg.variant, cfg.directory(), args.export)}.")
        return 0
    result = train(cfg, resume=args.resume, progress=not getattr(args, "quiet", False))
    where = cfg.directory()
    if result["interrupted"]:
        print(f"Stopped; checkpoint saved in {where} (continue with --resume).")
        return 130
    print(f"Checkpoints in {where}; last eval NME {result['eval_nme']:.3f}%.")
    return 0
