"""Files per minute of `facestream batch` with 1 and 2 Ray workers on this machine.

One local Ray cluster (2 CPUs, no dashboard) serves every run; each run swaps the same
generated clips into a fresh folder with `run_batch`, timed from submission to the last
result (worker start-up and stage building included, Ray's own start-up not). The peer is
the plain loop a user would write without Ray: `swap_file` on each file in turn, in this
process. Modes alternate within each repetition so load drift hits them alike; it prints
the medians, the ratios 2 workers / 1 worker and 1 worker / plain loop, the median time of
one file inside a worker, and how many cores the plain loop keeps busy (FFmpeg's decoder
and x264 are threaded, so one worker already uses more than its one reserved CPU).

    nice -n 10 .venv/bin/python bench/batch_scaling.py [--files 8] [--runs 3] [--frames 25]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ray
from transcode import generated_clip

from facestream.stream import cli_swap
from facestream.stream.batch import Job, plan_jobs, run_batch


def swap_settings(preset: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_options(parser)
    args = parser.parse_args(["--preset", preset])
    args.quiet = True
    return args


def plain_loop(jobs: list[Job], settings: argparse.Namespace) -> list[float]:
    """The peer: every file in turn through `facestream swap`'s own function, no Ray."""
    seconds = []
    for job in jobs:
        args = argparse.Namespace(**vars(settings), input=Path(job.input), output=Path(job.output))
        started = time.perf_counter()
        cli_swap.swap_file(args)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--frames", type=int, default=25, help="frames per 720p clip")
    parser.add_argument("--preset", default="medium", help="x264 preset (the swap's default)")
    parser.add_argument(
        "--ray-niceness",
        action="store_true",
        help="keep Ray's own worker niceness instead of the driver's",
    )
    opts = parser.parse_args()
    if not opts.ray_niceness:
        # Ray starts its workers at a lower priority than the driver (niceness 19 here, with
        # this script under `nice -n 10`) so its daemons stay responsive; on a machine shared
        # with other jobs that alone slows every worker, which would measure the neighbours,
        # not the batch. Same priority for the workers as for the plain loop.
        os.environ["RAY_worker_niceness"] = "0"
    settings = swap_settings(opts.preset)

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        clips = Path(tmp, "clips")
        clips.mkdir()
        clip = generated_clip(Path(tmp), "720p", frames=opts.frames)
        for i in range(opts.files):
            shutil.copyfile(clip, clips / f"clip{i:03d}.mp4")

        def batch(workers: int) -> Callable[[Path], list[float]]:
            def run(out: Path) -> list[float]:
                jobs, _ = plan_jobs(str(clips), str(out))
                results = run_batch(jobs, settings, workers=workers, progress=False)
                assert all(r.status == "done" for r in results), results
                return [r.seconds for r in results]

            return run

        def plain(out: Path) -> list[float]:
            out.mkdir()
            return plain_loop(plan_jobs(str(clips), str(out))[0], settings)

        modes: dict[str, Callable[[Path], list[float]]] = {
            "plain loop": plain,
            "1 worker": batch(1),
            "2 workers": batch(2),
        }
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2)
        rates: dict[str, list[float]] = {name: [] for name in modes}
        per_file: dict[str, list[float]] = {name: [] for name in modes}
        cpu_share: list[float] = []  # CPU time over wall time of the plain loop (all threads)
        try:
            for rep in range(opts.runs):
                for name, run in modes.items():
                    out = Path(tmp, f"out-{rep}-{name.replace(' ', '-')}")
                    started, cpu = time.perf_counter(), time.process_time()
                    per_file[name] += run(out)
                    wall = time.perf_counter() - started
                    if name == "plain loop":
                        cpu_share.append((time.process_time() - cpu) / wall)
                    rates[name].append(opts.files / (wall / 60))
                    shutil.rmtree(out)
                    print(f"run {rep + 1} {name:>10}: {rates[name][-1]:6.1f} files/min")
        finally:
            ray.shutdown()

    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"\n{opts.files} clips of 720p x {opts.frames} frames, x264 {opts.preset}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"median of {opts.runs} runs, Ray worker niceness "
        f"{'Ray default' if opts.ray_niceness else 'as the driver'}"
    )
    for name, value in median.items():
        seconds = statistics.median(per_file[name])
        print(f"  {name:>10}: {value:6.1f} files/min, {seconds:5.2f} s per file inside a worker")
    print(f"  2 workers / 1 worker:   {median['2 workers'] / median['1 worker']:.2f}x")
    print(f"  1 worker / plain loop:  {median['1 worker'] / median['plain loop']:.2f}x")
    print(f"  plain loop CPU time / wall time: {statistics.median(cpu_share):.2f} (threads)")


if __name__ == "__main__":
    main()
