"""Swap a source face into many videos (a folder or a manifest) on a Ray cluster.

Each file runs the same pipeline as ``facestream swap``; files whose output already exists
are skipped, so running the same command again continues where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import time

from facestream.stream import cli_swap
from facestream.stream.batch import FileResult, plan_jobs, run_batch
from facestream.stream.errors import UserError
from facestream.stream.file_io import EncoderOptions

log = logging.getLogger("facestream")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        metavar="MANIFEST|DIR",
        help="a folder of videos (searched recursively) or a text file with one path or URL "
        "per line; paths and fsspec URLs (s3://, gs://...) both work",
    )
    parser.add_argument("--out", required=True, help="output folder (a path or an fsspec URL)")
    cli_swap.add_overwrite_flag(
        parser,
        "redo the files whose output exists, replacing each once its new one is complete "
        "(default: skip them, so that a rerun continues where the last one stopped)",
    )
    cli_swap.add_options(parser)
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="join this Ray cluster (e.g. auto, ray://head:10001); default: start a local one",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="parallel workers, each loading the model once (default: all that fit)",
    )
    parser.add_argument("--num-cpus", type=float, default=1.0, help="CPUs per worker (default 1)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per worker (default 0)")
    parser.add_argument(
        "--retries",
        type=int,
        default=3,
        help="reruns of a file after a storage or network error or a worker crash (default 3)",
    )


def _line(result: FileResult) -> str:
    if result.status == "done":
        timing = f"{result.frames} frames, {result.seconds:.1f} s"
        return f"done    {result.job.input} -> {result.job.output} ({timing})"
    return f"{result.status:<7} {result.job.input}: {result.reason}"


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1.")
    if args.num_cpus <= 0 or args.num_gpus < 0 or args.retries < 0:
        raise UserError("--num-cpus must be above 0; --num-gpus and --retries 0 or more.")
    # Before Ray starts: every file would fail on it.
    EncoderOptions(codec=args.codec, crf=args.crf, preset=args.preset).check()
    started = time.perf_counter()
    jobs, skipped = plan_jobs(args.inputs, args.out, overwrite=args.overwrite)
    for result in skipped:
        log.debug("%s", _line(result))
    if skipped:
        log.info(
            "%d file(s) skipped: their output already exists (--overwrite redoes them)",
            len(skipped),
        )

    def report(result: FileResult) -> None:
        log.info("%s", _line(result))  # failures are repeated in the summary, at error level
        for message in result.warnings:
            log.warning("warning: %s: %s", result.job.input, message)

    results = []
    if jobs:
        results = run_batch(
            jobs,
            args,
            address=args.ray,
            workers=args.workers,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            retries=args.retries,
            progress=False if args.quiet else None,
            on_result=report,
        )
    done = [r for r in results if r.status == "done"]
    failed = [r for r in results if r.status == "failed"]
    minutes = (time.perf_counter() - started) / 60
    log.info(
        "batch: %d done, %d failed, %d skipped (output exists) in %.1f min (%.1f files/min)",
        len(done),
        len(failed),
        len(skipped),
        minutes,
        len(done) / minutes if minutes > 0 else 0.0,
    )
    for result in failed:
        log.error("failed: %s: %s", result.job.input, result.reason)
    return 1 if failed else 0
