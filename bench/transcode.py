"""Overhead of `facestream swap` (identity stages) against a plain PyAV decode→encode loop.

Both do the same job on the same file with the same encoder settings: decode the video
(threaded), encode it with libx264, copy the audio packets. Runs alternate between the two
so machine load drifts hit both alike. It prints the ratio of the median fps (swap / plain,
target ≥ 0.95) and the median of the per-pair ratios.

    nice -n 10 .venv/bin/python bench/transcode.py [--runs 5] [--preset veryfast]

Clips: ../shared/data/videos at 720p and 1080p when present, else generated ones.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from facestream.stream.cli import main as facestream
from facestream.stream.file_io import EncoderOptions, choose_pix_fmt

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
CLIPS = {"720p": "liveportrait/s32.mp4", "1080p": "spectre/M003_level_1_disgusted_015.mp4"}
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}


def generated_clip(folder: Path, label: str, frames: int = 120) -> Path:
    """A moving noise texture (hard enough to keep the encoder busy) at the label's size."""
    width, height = SIZES[label]
    path = folder / f"generated_{label}.mp4"
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.ascontiguousarray(texture[:, i * 4 : i * 4 + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def plain_pyav(source: Path, output: Path, options: EncoderOptions) -> int:
    """The peer: one loop, decode → encode, audio remuxed, same encoder settings."""
    with av.open(str(source)) as src, av.open(str(output), "w") as dst:
        video = src.streams.video[0]
        video.thread_type = "AUTO"
        decoder = video.codec_context
        encoder = dst.add_stream(options.codec, rate=video.average_rate)
        encoder.width, encoder.height = decoder.width, decoder.height
        encoder.pix_fmt = choose_pix_fmt(
            options.codec, decoder.pix_fmt, decoder.width, decoder.height
        )
        encoder.time_base = encoder.codec_context.time_base = video.time_base
        encoder.codec_context.options = options.codec_options()
        audio = list(src.streams.audio)
        copies = {s.index: dst.add_stream_from_template(s) for s in audio}
        frames = 0
        for packet in src.demux(video, *audio):
            if packet.stream.index in copies:
                if packet.dts is not None:
                    packet.stream = copies[packet.stream.index]
                    dst.mux(packet)
                continue
            for frame in video.decode(packet):
                frame.pict_type = av.video.frame.PictureType.NONE
                dst.mux(encoder.encode(frame))
                frames += 1
        dst.mux(encoder.encode(None))
    return frames


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


def bench_clip(
    source: Path, preset: str, runs: int, folder: Path
) -> tuple[float, float, float, int]:
    """Median fps of the plain loop and of `facestream swap` over ``runs`` alternating runs,
    and the median of the per-pair ratios (robust to load drifting between pairs)."""
    options = EncoderOptions(preset=preset)
    frames = frame_count(source)
    plain, swap = [], []
    for _ in range(runs):
        started = time.perf_counter()
        assert plain_pyav(source, folder / "plain.mp4", options) == frames
        plain.append(frames / (time.perf_counter() - started))
        started = time.perf_counter()
        argv = ["--quiet", "swap", str(source), str(folder / "swap.mp4"), "--preset", preset]
        assert facestream(argv) == 0
        swap.append(frames / (time.perf_counter() - started))
        print(f"  run: plain {plain[-1]:.1f} fps, swap {swap[-1]:.1f} fps", flush=True)
    assert frame_count(folder / "swap.mp4") == frames
    pairs = statistics.median(s / p for s, p in zip(swap, plain, strict=True))
    return statistics.median(plain), statistics.median(swap), pairs, frames


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--preset", default="veryfast", help="libx264 preset for both sides")
    parser.add_argument("--generated", action="store_true", help="ignore ../shared clips")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"libx264 preset={args.preset}, crf=23, median of {args.runs} alternating runs")
        print(
            f"{'clip':<44} {'frames':>6} {'plain fps':>9} {'swap fps':>9} "
            f"{'ratio':>6} {'paired':>6}"
        )
        for label, clip in CLIPS.items():
            shared = SHARED / clip
            source = shared if shared.is_file() and not args.generated else None
            source = source or generated_clip(folder, label)
            plain, swap, paired, frames = bench_clip(source, args.preset, args.runs, folder)
            name = f"{label} {source.name}"[:44]
            print(
                f"{name:<44} {frames:>6} {plain:>9.1f} {swap:>9.1f} "
                f"{swap / plain:>6.3f} {paired:>6.3f}"
            )


if __name__ == "__main__":
    run()
