"""End-to-end `facestream swap` speed on real clips, against a plain re-encode of each clip.

For every clip, in alternating rounds: the full swap (``build_stages``: landmarks + fixed-lag
smoothing + compositor, then the encoder) and the peer, the same transcode with no stage
(decode + encode only); with ``--whole-image`` also the swap with the whole frame taken as
RGB first (the path before face patches: the compositor on the whole image, the encoder
converting all of it back). Prints frames per second and CPU milliseconds per frame (all
threads; medians over rounds) and the ratio swap / re-encode of the fps, and optionally
writes a few swapped frames as PNG to look at. On a shared machine the CPU time says more
than the wall clock: a loaded machine stretches wall time by its load, not by the work.

Usage:
    .venv/bin/python bench/swap_e2e.py --source ../shared/data/stills/deepface/img1.jpg \\
        ../shared/data/videos/retalking/1.mp4 --rounds 2 --frames /tmp/e2e_frames
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2

from facestream.stream import cli_swap
from facestream.stream.file_io import EncoderOptions
from facestream.stream.frames import Frame
from facestream.stream.transcode import TranscodeReport, transcode


class WholeImage:
    """Stage that takes the frame's whole RGB image and gives it back unchanged: the frame
    then pays the conversion to RGB and, at the encoder, back to YUV, and stages after it
    work on that image."""

    def process(self, frame: Frame) -> Frame:
        frame.image = frame.image
        return frame

    def reset(self) -> None:
        """Nothing is kept between frames."""


def swap_args(clip: Path, output: Path, extra: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    settings = parser.parse_args([str(clip), str(output), "--overwrite", *extra])  # each round
    settings.quiet = True  # a global flag of the facestream command
    return settings


def timed(job: Callable[..., TranscodeReport], *args: Any) -> tuple[float, float]:
    """Frames per second (wall clock) and CPU milliseconds per frame (all threads of this
    process) of ``job(*args)``, a file run."""
    wall, cpu = time.perf_counter(), time.process_time()
    frames = job(*args).frames
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return frames / wall, cpu * 1e3 / frames


def save_frames(video: Path, folder: Path, count: int) -> None:
    """Write ``count`` frames spread over ``video`` as PNG into ``folder``."""
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    for i in range(count):
        k = i * (len(frames) - 1) // max(count - 1, 1)
        cv2.imwrite(str(folder / f"{video.stem}_{k:04d}.png"), frames[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--source", type=Path, required=True, help="the face to swap in")
    parser.add_argument("--weights", default="default", help="landmark weights (see swap)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--frames", type=Path, help="write a few swapped frames here as PNG")
    parser.add_argument(
        "--whole-image", action="store_true", help="also time the whole-frame RGB path"
    )
    args = parser.parse_args()
    extra = ["--source", str(args.source), "--weights", args.weights, "--preset", "veryfast"]
    options = EncoderOptions(preset="veryfast")
    columns = ["whole RGB", "patches"] if args.whole_image else ["swap"]
    print(f"{'clip':<34} {'size':>9} {'frames':>6} {'re-encode':>15}", end="")
    print("".join(f" {name + ', ratio':>22}" for name in columns))
    print(f"{'':<51} {'fps (CPU ms/f)':>15}" + f" {'fps (CPU ms/f) ratio':>22}" * len(columns))
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            out = Path(tmp) / f"{clip.stem}.mp4"
            settings = swap_args(clip, out, extra)
            stages = cli_swap.build_stages(settings)  # model and source loaded once
            # The product's chain last, so the file left to look at is its output.
            chains = {"whole": [WholeImage(), *stages]} if args.whole_image else {}
            chains["swap"] = stages
            runs: dict[str, list[tuple[float, float]]] = {"plain": []}
            for _ in range(args.rounds):
                for name, chain in chains.items():
                    for stage in chain:
                        stage.reset()
                    runs.setdefault(name, []).append(timed(cli_swap.swap_file, settings, chain))
                plain = Path(tmp) / f"plain_{clip.name}"
                runs["plain"].append(timed(transcode, clip, plain, (), options, False))
            median = {
                name: (statistics.median(f for f, _ in r), statistics.median(c for _, c in r))
                for name, r in runs.items()
            }
            with av.open(str(clip)) as container:
                video = container.streams.video[0]
                size = f"{video.width}x{video.height}"
                frames = video.frames
            base = median["plain"][0]
            row = f"{'/'.join(clip.parts[-2:]):<34} {size:>9} {frames:>6}"
            row += f" {base:>6.1f} ({median['plain'][1]:5.1f})"
            for name in chains:
                fps, cpu = median[name]
                row += f" {fps:>6.1f} ({cpu:5.1f}) {fps / base:5.2f}x"
            print(row)
            if args.frames is not None:
                args.frames.mkdir(parents=True, exist_ok=True)
                save_frames(out, args.frames, 4)


if __name__ == "__main__":
    main()
