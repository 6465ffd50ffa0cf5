"""End-to-end `facestream swap` speed on real clips, against a plain re-encode of each clip.

For every clip, in alternating rounds: the full swap (``build_stages``: landmarks + fixed-lag
smoothing + compositor, then the encoder) and the peer, the same transcode with no stage
(decode + encode only). Prints frames per second (median over rounds) and the ratio swap /
re-encode, and optionally writes a few swapped frames as PNG to look at.

Usage:
    .venv/bin/python bench/swap_e2e.py --source ../shared/data/stills/deepface/img1.jpg \\
        ../shared/data/videos/retalking/1.mp4 --rounds 2 --frames /tmp/e2e_frames
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2

from facestream.stream import cli_swap
from facestream.stream.file_io import EncoderOptions
from facestream.stream.transcode import transcode


def swap_args(clip: Path, output: Path, extra: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    settings = parser.parse_args([str(clip), str(output), *extra])
    settings.quiet = True  # a global flag of the facestream command
    return settings


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
    args = parser.parse_args()
    extra = ["--source", str(args.source), "--weights", args.weights, "--preset", "veryfast"]
    options = EncoderOptions(preset="veryfast")
    print(f"{'clip':<42} {'size':>9} {'frames':>6} {'swap fps':>9} {'re-encode fps':>14} ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in args.clips:
            out = Path(tmp) / f"{clip.stem}.mp4"
            settings = swap_args(clip, out, extra)
            stages = cli_swap.build_stages(settings)  # model and source loaded once
            swap_fps, plain_fps = [], []
            for _ in range(args.rounds):
                for stage in stages:
                    stage.reset()
                started = time.perf_counter()
                report = cli_swap.swap_file(settings, stages)
                swap_fps.append(report.frames / (time.perf_counter() - started))
                plain = transcode(clip, Path(tmp) / f"plain_{clip.name}", (), options, False)
                plain_fps.append(plain.fps)
            a, b = statistics.median(swap_fps), statistics.median(plain_fps)
            with av.open(str(clip)) as container:
                video = container.streams.video[0]
                size = f"{video.width}x{video.height}"
            name = "/".join(clip.parts[-2:])
            print(f"{name:<42} {size:>9} {report.frames:>6} {a:>9.1f} {b:>14.1f} {a / b:.2f}")
            if args.frames is not None:
                args.frames.mkdir(parents=True, exist_ok=True)
                save_frames(out, args.frames, 4)


if __name__ == "__main__":
    main()
