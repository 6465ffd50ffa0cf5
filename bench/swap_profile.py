"""Where the time of `facestream swap` goes, step by step, on one clip (one thread, in order).

Runs the product's own stages (``cli_swap.build_stages``: landmarks + smoothing + swap) over
the clip in one plain loop, with a timer around every step: decode, the pixels the landmark
stage hands the engine, the detector, the engine's crops, the model, the heatmap decoding,
smoothing, the face patches' conversions, the compositor, the frame handed to the encoder,
the encode. The engine's internals are timed by wrapping its functions from here (the engine
is not changed); "engine, rest" is the rest of its `track` call (shot cuts, crop geometry,
tracking). Prints the median and mean ms per frame of each step and its share.

    nice -n 10 .venv/bin/python bench/swap_profile.py [CLIP] [--source PHOTO] [--frames N]
    nice -n 10 .venv/bin/python bench/swap_profile.py --whole-image  # the RGB round trip

``--whole-image`` makes the landmark stage take the frame's whole RGB ``image`` first (as
the pipeline did before the patch API), so the compositor works on it and the encoder gets
an RGB frame to convert back.

Inside the compositor (`filters/swap.py`), its steps are timed the same way (the functions it
calls, wrapped in its module from here): the drawn points, the warp map, the remap, the mask
and its feather, the kept mouth, the colour statistics, the colour matrix and the lighting
where present, the sharpness match, the blend; what is left is the compositor's own glue.

The stages run one after another on one thread here; in `facestream swap` decode, the
stages and encode run in separate threads, so the file's wall time is lower than this sum
when there are free cores. CPU times: each step's own thread (``time.thread_time``); what
the decoder's and encoder's worker threads spend is the process total minus the steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
from av.video.frame import PictureType

from facestream.filters import swap as swap_module
from facestream.filters.sharpness import SharpnessMatch
from facestream.models import engine as engine_module
from facestream.models.detector import FaceDetector
from facestream.stream import cli_swap
from facestream.stream.file_io import EncoderOptions, VideoReader, choose_pix_fmt
from facestream.stream.frames import Frame

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLIP = DATA / "videos" / "liveportrait" / "s32.mp4"
SOURCE = DATA / "stills" / "deepface" / "img6.jpg"

# Per step and frame, (wall ms, CPU ms of the calling thread); a step that does not run on
# a frame (the detector) counts 0 there.
TIMES: dict[str, list[tuple[float, float]]] = defaultdict(list)
_PENDING: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])


@contextmanager
def step(name: str) -> Iterator[None]:
    """Add the wall and thread CPU time of the block to the current frame's ``name``."""
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        pending = _PENDING[name]
        pending[0] += (time.perf_counter() - wall) * 1e3
        pending[1] += (time.thread_time() - cpu) * 1e3


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` timed as step ``name``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with step(name):
            return fn(*args, **kwargs)

    return wrapper


def end_frame(steps: list[str]) -> None:
    for name in steps:
        wall, cpu = _PENDING.pop(name, (0.0, 0.0))
        TIMES[name].append((wall, cpu))


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
    for name, function in COMPOSITOR_STEPS.items():
        if hasattr(swap_module, function):  # a step a given version may not have
            setattr(swap_module, function, timed(name, getattr(swap_module, function)))
    SharpnessMatch.apply = timed("  sharpness match", SharpnessMatch.apply)  # type: ignore[method-assign]


# The compositor's steps: the functions `composite_face` calls, by the name printed.
COMPOSITOR_STEPS = {
    "  drawn points (shape)": "draw_points",
    "  mask polygon": "face_polygon",
    "  warp map": "build_warp_map",
    "  remap": "remap",
    "  mask raster": "polygon_mask",
    "  mask feather": "feather",
    "  kept mouth": "_kept_target_alpha",
    "  colour statistics": "stats_matrix",
    "  lighting match": "match_lighting",
    "  blend": "alpha_blend",
}


# The engine's whole `track` call, split into its timed steps and "engine, rest".
ENGINE = "engine"


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
        with step("frame to the encoder"):
            video_frame = frame.to_av()
            if video_frame.format.name != encoder.pix_fmt:
                video_frame = video_frame.reformat(format=encoder.pix_fmt)
        video_frame.pict_type = PictureType.NONE
        timed("encode", encoder.encode)(video_frame)

    inner = [*COMPOSITOR_STEPS, "  sharpness match"]
    steps = [
        "decode",
        "pixels for the landmark stage",
        "detector",
        "engine crops",
        "model",
        "heatmap decode",
        "engine, rest",
        "smoothing",
        "patch conversions",
        "compositor",
        "frame to the encoder",
        "encode",
    ]
    frames = reader.frames()
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while not args.frames or done < args.frames:
        with step("decode"):
            frame = next(frames, None)
        if frame is None:
            break
        # What LandmarkStage.process hands the engine, timed apart from the engine itself.
        with step("pixels for the landmark stage"):
            pixels = frame.image if args.whole_image else frame.read_image()
        with step(ENGINE):
            frame.faces = landmarks.engine.track(pixels)
        for ready in landmarks.smoothing.push(frame):
            encode(swap.process(ready))
        end_frame([*steps, ENGINE, *inner])
        done += 1
    for ready in landmarks.smoothing.flush():
        encode(swap.process(ready))
    end_frame([*steps, ENGINE, *inner])  # the flushed frames count with the last one
    encoder.encode(None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    reader.close()

    # The engine's own time beside its timed steps: shot cuts, crop geometry, tracking.
    inside = [TIMES[name] for name in ("detector", "engine crops", "model", "heatmap decode")]
    TIMES["engine, rest"] = [
        (wall - sum(t[i][0] for t in inside), cpu - sum(t[i][1] for t in inside))
        for i, (wall, cpu) in enumerate(TIMES.pop(ENGINE))
    ]
    # The compositor's time holds the patch conversions it asked for: count them once.
    TIMES["compositor"] = [
        (cw - pw, cc - pc)
        for (cw, cc), (pw, pc) in zip(TIMES["compositor"], TIMES["patch conversions"], strict=True)
    ]
    path = "whole-frame RGB" if args.whole_image else "face patches"
    print(f"{args.clip.name}: {first.width}x{first.height}, {done} frames, {path}, one thread")
    print(f"{'step':<32} {'wall median':>11} {'CPU mean':>9} {'CPU share':>9}")
    total_cpu = cpu * 1e3 / done
    for name in steps:
        walls, cpus = zip(*TIMES[name], strict=True)
        mean = sum(cpus) / done  # per frame: the last entry holds the flushed frames too
        print(f"{name:<32} {statistics.median(walls):11.2f} {mean:9.2f} {mean / total_cpu:9.1%}")
        if name == "compositor":
            # Its steps, indented; "rest" is composite_face's own glue and the stage's loop.
            parts = 0.0
            for sub in inner:
                walls, cpus = zip(*TIMES[sub], strict=True)
                parts += sum(cpus) / done
                print(f"{sub:<32} {statistics.median(walls):11.2f} {sum(cpus) / done:9.2f}")
            print(f"{'  rest':<32} {'':11} {mean - parts:9.2f}")
    rest = total_cpu - sum(sum(c for _, c in TIMES[name]) / done for name in steps)
    print(f"{'codec worker threads':<32} {'':11} {rest:9.2f} {rest / total_cpu:9.1%}")
    print(
        f"total: {total_cpu:.2f} CPU ms per frame (all threads), {wall * 1e3 / done:.2f} wall ms"
        f" per frame ({done / wall:.1f} fps, steps one after another)"
    )


if __name__ == "__main__":
    main()
