"""Overhead of `facestream swap` (identity stages) against a plain PyAV decode→encode loop.

Both do the same job on the same file with the same encoder settings: decode the video
(threaded), encode it with libx264, copy the audio packets. Runs alternate between the two
so machine load drifts hit both alike. It prints the ratio of the median fps (swap / plain,
target ≥ 0.95), the median of the per-pair ratios, and the CPU-time ratio (plain / swap),
which a loaded machine disturbs less than wall-clock time.

    nice -n 10 .venv/bin/python bench/transcode.py [--runs 5] [--preset veryfast]

Clips: ../shared/data/videos at 720p and 1080p when present, else generated ones.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


def timed(job: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) of one job."""
    wall, cpu = time.perf_counter(), time.process_time()
    job()
    return time.perf_counter() - wall, time.process_time() - cpu


@dataclass
class ClipResult:
    frames: int
    plain_fps: float  # medians over the runs
    swap_fps: float
    paired: float  # median of swap/plain per alternating pair: robust to load drifting
    cpu_ratio: float  # median CPU seconds plain / swap: >= 1 means swap costs no more CPU


def bench_clip(source: Path, preset: str, runs: int, folder: Path) -> ClipResult:
    """``runs`` alternating runs of the plain loop and of `facestream swap` on one clip."""
    options = EncoderOptions(preset=preset)
    frames = frame_count(source)
    argv = ["--quiet", "swap", str(source), str(folder / "swap.mp4"), "--preset", preset, "-y"]

    def swap_job() -> None:
        if facestream(argv) != 0:
            raise RuntimeError(f"facestream swap failed on {source}")

    plain, swap = [], []
    for _ in range(runs):
        plain.append(timed(lambda: plain_pyav(source, folder / "plain.mp4", options)))
        swap.append(timed(swap_job))
        print(f"  run: plain {frames / plain[-1][0]:.1f} fps, swap {frames / swap[-1][0]:.1f} fps")
    assert frame_count(folder / "plain.mp4") == frame_count(folder / "swap.mp4") == frames
    median = statistics.median
    return ClipResult(
        frames=frames,
        plain_fps=frames / median(w for w, _ in plain),
        swap_fps=frames / median(w for w, _ in swap),
        paired=median(p[0] / s[0] for p, s in zip(plain, swap, strict=True)),
        cpu_ratio=median(c for _, c in plain) / median(c for _, c in swap),
    )


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--preset", default="veryfast", help="libx264 preset for both sides")
    parser.add_argument("--generated", action="store_true", help="ignore ../shared clips")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"libx264 preset={args.preset}, crf=23, median of {args.runs} alternating runs")
        rows = []
        for label, clip in CLIPS.items():
            shared = SHARED / clip
            source = shared if shared.is_file() and not args.generated else None
            source = source or generated_clip(folder, label)
            rows.append(
                (f"{label} {source.name}"[:44], bench_clip(source, args.preset, args.runs, folder))
            )
        print(
            f"{'clip':<44} {'frames':>6} {'plain fps':>9} {'swap fps':>9} {'ratio':>6} "
            f"{'paired':>6} {'cpu':>6}"
        )
        for name, r in rows:
            print(
                f"{name:<44} {r.frames:>6} {r.plain_fps:>9.1f} {r.swap_fps:>9.1f} "
                f"{r.swap_fps / r.plain_fps:>6.3f} {r.paired:>6.3f} {r.cpu_ratio:>6.3f}"
            )


if __name__ == "__main__":
    run()
