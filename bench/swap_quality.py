"""Swap quality on real talking-head clips, against the plain baseline in the same run.

For every clip x source pair three compositors run on the same frames:

- `ours`: default `SwapOptions` on Kalman-smoothed landmarks (`filters/smoothing.py`);
- `ours, multi-band seam`: the same with the Laplacian-pyramid seam instead of feathering;
- `ours, target shape`: the same with `shape_strength=0` (what identity-in-shape gains);
- `baseline`: convex-hull mask, no colour transfer, no mouth handling, target shape, raw
  landmarks.

Metrics (medians over frames, then means over pairs):

- seam: mean colour-gradient magnitude in a band around the mask border (0.5 level),
  output over input at the same pixels (1 = no visible seam);
- temporal: mean absolute frame-to-frame change inside the target's face, output over input
  (1 = no added flicker);
- expression/pose: MediaPipe Face Mesh re-run on the output; NME of the 68 iBUG points
  against the target's, normalised by the outer eye corners, in percent; and against the
  points the face was drawn on (target pose and expression on the source's identity shape,
  which by design moves eyes, nose and lips away from the target's own positions);
- identity (when the dlib venv exists): dlib ResNet descriptor of the output face closer to
  the source than to the target, share of frames, and the mean descriptor distances to both.

`--shape-strength` replaces the four compositors by the defaults at each identity-shape
setting given, all with NME, in absolute terms (not relative to the shipped
`shape.IDENTITY_REGIONS`): a number is the share of the source's identity shape taken in
every landmark group, `brows=0,mouth=0.5` sets those groups' share (groups not named: 1),
and `0.5:brows=0` is 0.5 times that.

Landmarks come from MediaPipe Face Mesh, or with `--landmarks engine` from the product's
HRNet-128 engine tracking each clip (the NME's judge stays MediaPipe, run on the input and
the output alike)::

    nice -n 10 .venv/bin/python bench/swap_quality.py [--frames 48] [--dlib /tmp/venv-dlib]
    nice -n 10 .venv/bin/python bench/swap_quality.py --landmarks engine --smooth fixed-lag
    nice -n 10 .venv/bin/python bench/swap_quality.py --shape-strength 0 0.5 1 brows=0
    nice -n 10 .venv/bin/python bench/swap_quality.py --smooth fixed-lag  # the file path
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mesh_cache import load_clip, load_meshes, mediapipe_landmarks, mesh_to_128  # noqa: E402

from facestream.filters import shape  # noqa: E402
from facestream.filters.enroll import SourceFace, enroll_source  # noqa: E402
from facestream.filters.smoothing import make_smoother_factory  # noqa: E402
from facestream.filters.swap import (  # noqa: E402
    SwapOptions,
    TrackState,
    baseline_options,
    composite_face,
    face_size,
)
from facestream.models.landmarks import FACE_OUTLINE  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CLIPS = [
    "videos/liveportrait/d0.mp4",
    "videos/liveportrait/d12.mp4",
    "videos/sadtalker/WDA_KatieHill_000.mp4",
    "videos/retalking/2.mp4",
    "videos/liveportrait/s32.mp4",
]
SOURCES = ["stills/deepface/img6.jpg", "stills/deepface/img30.jpg", "stills/deepface/img35.jpg"]


@dataclass(frozen=True)
class Config:
    """One compositor: its options, smoothed or raw landmarks, identity-shape regions."""

    options: SwapOptions
    use_smoothed: bool = True
    regions: dict[str, float] | None = None  # None: shape.IDENTITY_REGIONS as shipped
    nme: bool = True  # the re-detection is the slow part


CONFIGS = {
    "ours": Config(SwapOptions()),
    "ours, multi-band seam": Config(SwapOptions(blend="laplacian"), nme=False),
    "ours, target shape": Config(SwapOptions(shape_strength=0.0), nme=False),
    "baseline": Config(baseline_options(), use_smoothed=False),
}
IDENTITY_EVERY = 4  # identity descriptors on every 4th frame (dlib is slow on CPU)
CROP = 200  # face crop side for the descriptor


@dataclass
class Scores:
    seam: list[float] = field(default_factory=list)
    temporal: list[float] = field(default_factory=list)
    nme: list[float] = field(default_factory=list)
    nme_drawn: list[float] = field(default_factory=list)
    identity: list[float] = field(default_factory=list)
    dist_source: list[float] = field(default_factory=list)
    dist_target: list[float] = field(default_factory=list)


def shape_config(spec: str) -> Config:
    """`0.5`, `brows=0,mouth=0.5` or `0.5:brows=0` (see the module docstring)."""
    strength, _, groups = spec.rpartition(":") if ":" in spec else ("", "", spec)
    if "=" not in groups:
        strength, groups = groups, ""
    regions = dict.fromkeys(shape.IDENTITY_REGIONS, 1.0)
    for item in filter(None, groups.split(",")):
        group, _, weight = item.partition("=")
        regions[group] = float(weight)
    shape.region_weights(regions)  # unknown group names fail here, before the long run
    options = SwapOptions(shape_strength=float(strength or 1.0))
    return Config(options, regions=regions)


@contextmanager
def identity_regions(regions: dict[str, float] | None) -> Iterator[None]:
    """`shape.IDENTITY_REGIONS` set to `regions` (when given) for the block."""
    shipped = shape.IDENTITY_REGIONS
    shape.IDENTITY_REGIONS = shipped if regions is None else regions
    try:
        yield
    finally:
        shape.IDENTITY_REGIONS = shipped


def gradient(image: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude: L2 over channels of the Sobel x/y derivatives."""
    f = image.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt((gx**2 + gy**2).sum(axis=2))


def seam_ratio(before: np.ndarray, after: np.ndarray, mask: np.ndarray, size: float) -> float:
    """Gradient in a band around the mask's 0.5 border, output over input."""
    inside = (mask >= 0.5).astype(np.uint8)
    edge = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    r = max(2, round(0.02 * size))
    band = cv2.dilate(edge, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    return float(gradient(after)[band].mean() / max(gradient(before)[band].mean(), 1e-6))


def face_mask(shape: tuple[int, ...], points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[FACE_OUTLINE]).astype(np.int32)], 1)
    return mask > 0


def nme(pred: np.ndarray, truth: np.ndarray) -> float:
    """iBUG-68 NME in percent, normalised by the outer eye corners (36, 45)."""
    norm = np.linalg.norm(truth[36] - truth[45])
    return float(100 * np.linalg.norm(pred[:68] - truth[:68], axis=1).mean() / norm)


def smoothed(faces: list[list], fps: float, mode: str = "kalman") -> list[np.ndarray | None]:
    """The first face's points per frame through the smoother (`kalman`: causal, the live
    path; `fixed-lag`: the file path's default), each output paired with its frame."""
    smoother = make_smoother_factory(mode)()
    by_frame: dict[int, np.ndarray] = {}
    for i, frame_faces in enumerate(faces):
        f = frame_faces[0] if frame_faces else None
        res = smoother.update(
            None if f is None else f.points, None if f is None else f.confidence, i / fps
        )
        if res is not None:
            by_frame[round(res.t * fps)] = np.asarray(res.points, np.float32)
    for r in smoother.flush():
        by_frame[round(r.t * fps)] = np.asarray(r.points, np.float32)
    return [by_frame.get(i) if f else None for i, f in enumerate(faces)]


def face_crop(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A CROP x CROP face crop and the brows-to-chin face rectangle inside it."""
    ibug = points[:68]
    lo = np.array([ibug[:, 0].min(), ibug[17:27, 1].min()])
    hi = ibug.max(axis=0)
    centre, side = (lo + hi) / 2, float((hi - lo).max()) * 1.6
    s = CROP / side
    m = np.array([[s, 0, CROP / 2 - s * centre[0]], [0, s, CROP / 2 - s * centre[1]]])
    crop = cv2.warpAffine(image, m, (CROP, CROP), flags=cv2.INTER_AREA)
    rect = np.concatenate([lo * s + m[:, 2], hi * s + m[:, 2]]).round().astype(int)
    return crop, rect


def descriptors(dlib_python: Path, crops: list[np.ndarray], rects: list[np.ndarray]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "crops.npz", Path(tmp) / "out.npz"
        np.savez(src, crops=np.stack(crops), rects=np.stack(rects))
        script = Path(__file__).resolve().parent / "dlib_identity.py"
        subprocess.run([str(dlib_python), str(script), str(src), str(out)], check=True)
        with np.load(out) as data:
            return data["descriptors"]


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Near-lossless H.264, so the re-detection sees the composite and not codec noise."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "4", "preset": "ultrafast"}
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def run_pair(
    frames: list[np.ndarray],
    raw: list[np.ndarray | None],
    smooth: list[np.ndarray | None],
    source: SourceFace,
    config: Config,
) -> tuple[list[np.ndarray], list[float], list[np.ndarray | None]]:
    """Composite every frame; returns the outputs, per-frame seam ratios and drawn points."""
    state = TrackState()
    outputs, seams = [], []
    drawn: list[np.ndarray | None] = []
    for img, p_raw, p_smooth in zip(frames, raw, smooth, strict=True):
        out = img.copy()
        points = p_smooth if config.use_smoothed else p_raw
        res = None
        if points is not None and p_raw is not None:
            with identity_regions(config.regions):
                res = composite_face(out, points, source, config.options, state)
            if res is not None:
                mask = np.zeros(img.shape[:2], np.float32)
                x0, y0, x1, y1 = res.box
                mask[y0:y1, x0:x1] = res.alpha
                seams.append(seam_ratio(img, out, mask, face_size(p_raw)))
        outputs.append(out)
        drawn.append(None if res is None else res.points)
    return outputs, seams, drawn


def temporal_ratio(frames: list[np.ndarray], outputs: list[np.ndarray], raw: list) -> float:
    change_in, change_out = [], []
    for t in range(1, len(frames)):
        if raw[t] is None:
            continue
        m = face_mask(frames[t].shape, raw[t])
        change_in.append(np.abs(frames[t].astype(np.int16) - frames[t - 1])[m].mean())
        change_out.append(np.abs(outputs[t].astype(np.int16) - outputs[t - 1])[m].mean())
    return float(np.mean(change_out) / max(np.mean(change_in), 1e-6))


def landmarks_from(kind: str) -> tuple[Any, Callable[[np.ndarray], list[Any]]]:
    """For `--landmarks KIND`: the engine that tracks the clips (None for Face Mesh, whose
    cached meshes are used) and the landmark function the sources are enrolled with."""
    if kind != "engine":
        return None, mediapipe_landmarks
    from facestream.models.engine import LandmarkEngine
    from facestream.stream.live_chain import EngineLandmarks

    engine = LandmarkEngine("hrnet128_lite", num_threads=1)
    return engine, EngineLandmarks(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--dlib", type=Path, default=Path("/tmp/venv-dlib"))
    parser.add_argument("--no-nme", action="store_true", help="skip the re-detection")
    parser.add_argument(
        "--smooth",
        choices=["kalman", "fixed-lag"],
        default="kalman",
        help="smoother of `ours` (kalman: the live path, the default; fixed-lag: files)",
    )
    parser.add_argument(
        "--landmarks",
        choices=["mediapipe", "engine"],
        default="mediapipe",
        help="what the swaps are drawn on: MediaPipe Face Mesh, or the product's HRNet-128 "
        "engine (tracked, as `facestream swap`); MediaPipe judges the NME either way",
    )
    parser.add_argument(
        "--shape-strength",
        nargs="+",
        metavar="SPEC",
        help="sweep identity-shape settings instead of the four compositors (e.g. 0 0.5 1 "
        "brows=0,mouth=0.5)",
    )
    args = parser.parse_args()
    configs = (
        {f"shape {spec}": shape_config(spec) for spec in args.shape_strength}
        if args.shape_strength
        else CONFIGS
    )
    dlib_python = args.dlib / "bin" / "python"
    use_dlib = dlib_python.exists()
    if not use_dlib:
        print(f"identity: skipped, no dlib venv at {args.dlib}")
    scores = {name: Scores() for name in configs}
    engine, landmark_fn = landmarks_from(args.landmarks)
    sources = {s: enroll_source(DATA / s, landmark_fn) for s in SOURCES}
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            frames, faces = load_clip(DATA / clip, args.frames)
            # The judge's points on the input: what the output's re-detection is held to.
            judged = [f[0].points if f else None for f in faces]
            if engine is not None:
                engine.reset()
                faces = [engine.track(frame) for frame in frames]
            with av.open(str(DATA / clip)) as c:
                fps = float(c.streams.video[0].average_rate or 25)
            raw = [f[0].points if f else None for f in faces]
            smooth = smoothed(faces, fps, args.smooth)
            for name_s, source in sources.items():
                crops, rects, owners = [], [], []
                for name, config in configs.items():
                    outputs, seams, drawn = run_pair(frames, raw, smooth, source, config)
                    sc = scores[name]
                    sc.seam.append(float(np.median(seams)))
                    sc.temporal.append(temporal_ratio(frames, outputs, raw))
                    if not args.no_nme and config.nme:
                        video = Path(tmp) / "out.mp4"
                        write_video(video, outputs, round(fps))
                        meshes, counts = load_meshes(video, len(outputs))
                        found = [
                            (mesh_to_128(meshes[t, 0]), judged[t], drawn[t])
                            for t in range(len(outputs))
                            if counts[t] and judged[t] is not None and drawn[t] is not None
                        ]
                        sc.nme.append(float(np.median([nme(p, r) for p, r, _ in found])))
                        sc.nme_drawn.append(float(np.median([nme(p, d) for p, _, d in found])))
                        load_meshes_cache_drop(video, len(outputs))
                    for t in range(0, len(outputs), IDENTITY_EVERY):
                        if raw[t] is not None:
                            crop, rect = face_crop(outputs[t], raw[t])
                            crops.append(crop), rects.append(rect), owners.append((name, t))
                if use_dlib:
                    for t in range(0, len(frames), IDENTITY_EVERY):
                        if raw[t] is not None:
                            crop, rect = face_crop(frames[t], raw[t])
                            crops.append(crop), rects.append(rect), owners.append(("target", t))
                    crop, rect = face_crop(source.image, source.points)
                    crops.append(crop), rects.append(rect), owners.append(("source", 0))
                    desc = descriptors(dlib_python, crops, rects)
                    d_src = desc[-1]
                    d_tgt = {t: desc[i] for i, (o, t) in enumerate(owners) if o == "target"}
                    for name in configs:
                        won, dists, dists_t = [], [], []
                        for i, (o, t) in enumerate(owners):
                            if o == name:
                                ds = np.linalg.norm(desc[i] - d_src)
                                dt = np.linalg.norm(desc[i] - d_tgt[t])
                                won.append(ds < dt)
                                dists.append(ds), dists_t.append(dt)
                        scores[name].identity.append(float(np.mean(won)))
                        scores[name].dist_source.append(float(np.mean(dists)))
                        scores[name].dist_target.append(float(np.mean(dists_t)))
                print(f"{clip} <- {name_s}: done", flush=True)
    report(scores, len(CLIPS) * len(SOURCES), args.frames)


def load_meshes_cache_drop(video: Path, frames: int) -> None:
    """Delete the cache entry of a temporary output video (never read again)."""
    from mesh_cache import cache_path

    cache_path(video, frames).unlink(missing_ok=True)


def report(scores: dict[str, Scores], pairs: int, frames: int) -> None:
    print(f"\n{pairs} clip x source pairs, {frames} frames each (means over pairs)")
    width = max(22, *(len(name) for name in scores))
    head = f"{'compositor':{width}s} {'seam':>6s} {'temporal':>9s} {'NME %':>6s}"
    print(head + f" {'NME drawn':>9s} {'identity':>9s} {'d(src)':>7s} {'d(tgt)':>7s}")
    for name, sc in scores.items():

        def mean(xs: list[float]) -> str:
            return f"{np.mean(xs):.3f}" if xs else "  -  "

        print(
            f"{name:{width}s} {mean(sc.seam):>6s} {mean(sc.temporal):>9s} {mean(sc.nme):>6s}"
            f" {mean(sc.nme_drawn):>9s}"
            f" {mean(sc.identity):>9s} {mean(sc.dist_source):>7s} {mean(sc.dist_target):>7s}"
        )
    print("targets: seam <= 1.2, temporal <= 1.15, NME <= 3 %, identity >= 0.95")
    print("d(src), d(tgt): mean dlib descriptor distance to the source, to the target frame")
    print("(same person < 0.6)")


if __name__ == "__main__":
    main()
