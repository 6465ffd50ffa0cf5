"""Compositing speed: one face on 720p frames, median ms per face, on this CPU.

Peers in the same run: the plain baseline options (hard hull mask, no colour, no mouth),
and the textbook per-triangle warp (a `warpAffine` + mask paste per triangle) that the dense
remap replaces. Then the whole file path: decode + swap stage + encode against a plain
decode + encode of the same clip (x264 ``veryfast`` by default, as the foundation's
`bench/transcode.py`), the swap stage both on face patches (the product) and on the whole
RGB image (the path before `Frame.read_patch`). Landmarks: MediaPipe Face Mesh on a real
1280x720 clip (`mesh_cache.py`)::

    .venv/bin/python bench/swap_speed.py [--transcode-repeats 5] [--preset veryfast]
    .venv/bin/python bench/swap_speed.py --file-only --transcode-repeats 2  # plain vs patches

The file runs also print the swap stage's own CPU time per frame (its worker thread), which
the codec threads' swings under load do not reach.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, mediapipe_landmarks  # noqa: E402
from swap_e2e import WholeImage, timed  # noqa: E402

from facestream.filters.enroll import SourceFace, enroll_source  # noqa: E402
from facestream.filters.swap import (  # noqa: E402
    SwapOptions,
    SwapStage,
    TrackState,
    baseline_options,
    composite_face,
)
from facestream.filters.warp import build_warp_map, points_box, remap  # noqa: E402
from facestream.models.landmarks import TRIANGLES  # noqa: E402
from facestream.stream.frames import Frame  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLIP = DATA / "videos" / "liveportrait" / "s32.mp4"  # 1280x720, one face
SOURCE = DATA / "stills" / "deepface" / "img6.jpg"


def per_triangle_warp(source: SourceFace, points: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The loop the dense remap replaces: one warpAffine and one masked paste per triangle."""
    box = points_box(points, image.shape)
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    for tri in np.asarray(TRIANGLES):
        src = source.points[tri].astype(np.float32)
        dst = (points[tri] - (x0, y0)).astype(np.float32)
        m = cv2.getAffineTransform(src, dst)
        warped = cv2.warpAffine(source.image, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst).astype(np.int32), 1)
        out[mask > 0] = warped[mask > 0]
    return out


def median_ms(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Median wall and CPU (this thread) ms per call; the first calls warm caches.

    The CPU time is what the call costs when the machine is not shared; on a busy machine
    the wall time also counts waiting for a core.
    """
    wall, cpu = [], []
    for i in range(n):
        t, c = time.perf_counter(), time.thread_time()
        fn(i)
        wall.append((time.perf_counter() - t) * 1e3)
        cpu.append((time.thread_time() - c) * 1e3)
    return statistics.median(wall[2:]), statistics.median(cpu[2:])


class CachedFaces:
    """Stand-in landmark stage: fills `frame.faces` from precomputed Face Mesh points."""

    def __init__(self, faces: list[list]) -> None:
        self.faces = faces

    def process(self, frame: Frame) -> Frame:
        frame.faces = self.faces[frame.index] if frame.index < len(self.faces) else []
        return frame


class StageCpu:
    """A stage wrapped to add up the CPU time of its own thread in ``process``."""

    def __init__(self, stage: SwapStage) -> None:
        self.stage = stage
        self.ms: list[float] = []

    def process(self, frame: Frame) -> Frame:
        start = time.thread_time()
        try:
            return self.stage.process(frame)
        finally:
            self.ms.append((time.thread_time() - start) * 1e3)

    def reset(self) -> None:
        """A new run: the stage's tracks and the times start afresh."""
        self.stage.reset()
        self.ms = []


def transcode_ratio(source: SourceFace, repeats: int, preset: str, file_only: bool) -> None:
    """Whole-file throughput: decode + swap stage + encode vs plain decode + encode.

    Landmark inference is left out (precomputed), so this is the compositor's share of the
    file pipeline only. Frames per second and CPU ms per frame (all threads), medians; the
    CPU ratio (plain / peer) is what a loaded machine disturbs least, and the swap stage's
    own thread CPU (mean per frame of a run, median over runs) less still. ``file_only``
    keeps the plain transcode and the product's patch path only.
    """
    import tempfile

    from facestream.stream.file_io import EncoderOptions
    from facestream.stream.transcode import transcode

    _, faces = load_clip(CLIP, 0)
    peers: dict[str, list] = {"plain transcode": []}
    if not file_only:
        peers["transcode + whole-frame RGB round trip only"] = [WholeImage()]
        peers["transcode + swap stage, whole RGB image"] = [
            CachedFaces(faces),
            WholeImage(),
            StageCpu(SwapStage(source)),
        ]
    peers["transcode + swap stage (face patches)"] = [
        CachedFaces(faces),
        StageCpu(SwapStage(source)),
    ]
    options = EncoderOptions(preset=preset)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in peers}
    stage_cpu: dict[str, list[float]] = {name: [] for name in peers}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        for _ in range(repeats):
            for name, stages in peers.items():
                for stage in stages:
                    getattr(stage, "reset", lambda: None)()
                out.unlink(missing_ok=True)
                runs[name].append(timed(transcode, CLIP, out, stages, options, False))
                for stage in stages:
                    if isinstance(stage, StageCpu):
                        stage_cpu[name].append(statistics.fmean(stage.ms))
    medians = {
        name: (statistics.median(f for f, _ in r), statistics.median(c for _, c in r))
        for name, r in runs.items()
    }
    plain_fps, plain_cpu = medians["plain transcode"]
    print(
        f"{'whole file, 720p':48s} {'fps':>8s} {'ratio':>6s} {'CPU ms/f':>9s} {'CPU ratio':>9s}"
        f" {'stage ms/f':>10s}"
    )
    for name, (fps, cpu) in medians.items():
        stage = f"{statistics.median(stage_cpu[name]):10.2f}" if stage_cpu[name] else ""
        print(
            f"{name:48s} {fps:8.1f} {fps / plain_fps:5.2f}x {cpu:9.1f} {plain_cpu / cpu:8.2f}x"
            f" {stage}"
        )
    print(f"x264 preset {preset}, medians of {repeats} alternating runs")
    print("target: transcode + swap >= 0.8x plain (landmark inference not included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--transcode-repeats", type=int, default=5)
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the file runs")
    parser.add_argument(
        "--file-only", action="store_true", help="only the whole file: plain vs face patches"
    )
    args = parser.parse_args()
    if args.file_only:
        source = enroll_source(SOURCE, mediapipe_landmarks)
        transcode_ratio(source, args.transcode_repeats, args.preset, file_only=True)
        return
    cv2.setNumThreads(1)  # the pipeline runs stages in parallel threads; time one core
    frames, faces = load_clip(CLIP, args.frames)
    points = [f[0].points for f in faces]
    source = enroll_source(SOURCE, mediapipe_landmarks)
    n = len(frames)
    h, w = frames[0].shape[:2]
    print(f"{CLIP.name}: {w}x{h}, {n} frames, face ~{int(np.ptp(points[0][:, 0]))} px wide")

    def run(options: SwapOptions) -> Callable[[int], object]:
        state = TrackState()
        work = [f.copy() for f in frames]
        return lambda i: composite_face(work[i % n], points[i % n], source, options, state)

    def dense(i: int) -> object:
        p = points[i % n]
        return remap(
            source.image, build_warp_map(source.points, p, TRIANGLES, points_box(p, (h, w)))
        )

    decoded = [
        av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p") for f in frames
    ]
    stage = SwapStage(source)

    def on_patches(i: int) -> object:
        # The stage on a decoded frame: the face's patch converted out and back.
        return stage.process(Frame(None, None, i, faces[i % n][:1], source=decoded[i % n]))

    rows = [
        ("full compositor (default options)", median_ms(run(SwapOptions()), 3 * n)),
        (
            "full compositor, eyes as in the photo (no gaze)",
            median_ms(run(SwapOptions(follow_gaze=False)), 3 * n),
        ),
        ("swap stage on a decoded yuv420p frame (patches)", median_ms(on_patches, 3 * n)),
        ("plain baseline (hull, no colour/mouth)", median_ms(run(baseline_options()), 3 * n)),
        ("warp only: dense map + one remap", median_ms(dense, 3 * n)),
        (
            "warp only: per-triangle warpAffine loop",
            median_ms(lambda i: per_triangle_warp(source, points[i % n], frames[i % n]), n),
        ),
    ]
    full = rows[0][1][1]
    print(f"{'what (one face, 720p)':48s} {'wall ms':>8s} {'CPU ms':>8s} {'CPU ratio':>9s}")
    for name, (wall, cpu) in rows:
        print(f"{name:48s} {wall:8.2f} {cpu:8.2f} {cpu / full:9.2f}")
    verdict = "met" if full <= 5 else "MISSED"
    print(f"target: full compositor <= 5 ms per face at 720p (CPU median) -> {verdict}")
    if args.transcode_repeats:
        print()
        transcode_ratio(source, args.transcode_repeats, args.preset, file_only=False)


if __name__ == "__main__":
    main()
