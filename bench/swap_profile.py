"""Where the time of `facestream swap` goes, step by step, on one clip (one thread, in order).

Runs the product's own stages (``cli_swap.build_stages``: landmarks + smoothing + swap) over
the clip in one plain loop, with a timer around every step: decode, the pixels the landmark
stage hands the engine, the detector, the engine's crops, the model, the heatmap decoding,
smoothing, the face patches' conversions, the compositor, the frame handed to the encoder,
the encode. The engine's internals are timed by wrapping its functions from here (the engine
is not changed). Prints the median and mean ms per frame of each step and its share.

    nice -n 10 .venv/bin/python bench/swap_profile.py [CLIP] [--source PHOTO] [--frames N]
    nice -n 10 .venv/bin/python bench/swap_profile.py --whole-image  # the RGB round trip

``--whole-image`` makes the landmark stage take the frame's whole RGB ``image`` first (as
the pipeline did before the patch API), so the compositor works on it and the encoder gets
an RGB frame to convert back.

The stages run one after another on one thread here; in `facestream swap` decode, the
stages and encode run in separate threads, so the file's wall time is lower than this sum
when there are free cores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from av.video.frame import PictureType

from facestream.models import engine as engine_module
from facestream.models.detector import FaceDetector
from facestream.stream import cli_swap
from facestream.stream.file_io import EncoderOptions, VideoReader, choose_pix_fmt
from facestream.stream.frames import Frame

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLIP = DATA / "videos" / "liveportrait" / "s32.mp4"
SOURCE = DATA / "stills" / "deepface" / "img6.jpg"

# ms per step and frame; a step that does not run on a frame (the detector) counts 0 there.
TIMES: dict[str, list[float]] = defaultdict(list)
_PENDING: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its wall time added to the current frame's ``name`` step."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _PENDING[name] += (time.perf_counter() - start) * 1e3

    return wrapper


def end_frame(steps: list[str]) -> None:
    for step in steps:
        TIMES[step].append(_PENDING.pop(step, 0.0))


def instrument(stages: list[Any]) -> None:
    """Wrap the engine's detector, crops, model and decoding, the smoother and the swap."""
    landmarks, swap = stages
    engine = landmarks.engine
    # Class-level, before the engine makes its detector on first use.
    FaceDetector.detect = timed("detector", FaceDetector.detect)  # type: ignore[method-assign]
    engine_module.cut_crops = timed("engine crops", engine_module.cut_crops)
    engine.net = timed("model", engine.net)
    engine_module.decode_heatmaps = timed("heatmap decode", engine_module.decode_heatmaps)
    landmarks.smoothing.push = timed("smoothing", landmarks.smoothing.push)
    swap.process = timed("compositor", swap.process)
    Frame.read_patch = timed("patch conversions", Frame.read_patch)  # type: ignore[method-assign]
    Frame.write_patch = timed("patch conversions", Frame.write_patch)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path, nargs="?", default=CLIP)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--frames", type=int, default=0, help="stop after N frames (0: all)")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--whole-image", action="store_true", help="the whole-frame RGB path")
    args = parser.parse_args()
    parser = argparse.ArgumentParser()
    cli_swap.add_arguments(parser)
    settings = parser.parse_args([str(args.clip), "/dev/null", "--source", str(args.source)])
    stages = cli_swap.build_stages(settings)
    instrument(stages)
    landmarks, swap = stages

    reader = VideoReader(args.clip)
    first = reader.first_frame
    assert first is not None
    options = EncoderOptions(preset=args.preset)
    encoder = av.CodecContext.create(options.codec, "w")
    encoder.width, encoder.height = first.width, first.height
    encoder.pix_fmt = choose_pix_fmt(options.codec, first.format.name, first.width, first.height)
    encoder.time_base = reader.video.time_base
    encoder.options = options.codec_options()
    encoder.open()

    def encode(frame: Frame) -> None:
        # What VideoWriter.write does, the muxing left out.
        start = time.perf_counter()
        video_frame = frame.to_av()
        if video_frame.format.name != encoder.pix_fmt:
            video_frame = video_frame.reformat(format=encoder.pix_fmt)
        _PENDING["frame to the encoder"] += (time.perf_counter() - start) * 1e3
        video_frame.pict_type = PictureType.NONE
        timed("encode", encoder.encode)(video_frame)

    steps = [
        "decode",
        "pixels for the landmark stage",
        "detector",
        "engine crops",
        "model",
        "heatmap decode",
        "smoothing",
        "patch conversions",
        "compositor",
        "frame to the encoder",
        "encode",
    ]
    frames = reader.frames()
    done = 0
    while not args.frames or done < args.frames:
        start = time.perf_counter()
        frame = next(frames, None)
        _PENDING["decode"] += (time.perf_counter() - start) * 1e3
        if frame is None:
            break
        # What LandmarkStage.process hands the engine, timed apart from the engine itself.
        start = time.perf_counter()
        pixels = frame.image if args.whole_image else frame.read_image()
        _PENDING["pixels for the landmark stage"] += (time.perf_counter() - start) * 1e3
        frame.faces = landmarks.engine.track(pixels)
        for ready in landmarks.smoothing.push(frame):
            encode(swap.process(ready))
        end_frame(steps)
        done += 1
    for ready in landmarks.smoothing.flush():
        encode(swap.process(ready))
    encoder.encode(None)
    reader.close()

    # The compositor's time holds the patch conversions it asked for: count them once.
    TIMES["compositor"] = [
        c - p for c, p in zip(TIMES["compositor"], TIMES["patch conversions"], strict=True)
    ]
    total = sum(statistics.fmean(TIMES[s]) for s in steps)
    path = "whole-frame RGB" if args.whole_image else "face patches"
    print(f"{args.clip.name}: {first.width}x{first.height}, {done} frames, {path}, one thread")
    print(f"{'step':<32} {'median ms':>9} {'mean ms':>8} {'share':>6}")
    for step in steps:
        values = TIMES[step]
        mean = statistics.fmean(values)
        print(f"{step:<32} {statistics.median(values):9.2f} {mean:8.2f} {mean / total:6.1%}")
    print(f"{'total':<32} {'':9} {total:8.2f} -> {1e3 / total:.1f} fps in one thread")


if __name__ == "__main__":
    main()
