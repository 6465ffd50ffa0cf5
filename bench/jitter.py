"""Jitter, lag and cost of the landmark smoothers, against raw landmarks and a One Euro peer.

For every clip: landmarks per frame (``--landmarks mediapipe``: MediaPipe Face Mesh on each
frame on its own, run in ``.venv-mp``; ``--landmarks engine``: the product's engine), then
each smoother over the same trajectories, in the same run:

- jitter: mean |p[t+1] - 2 p[t] + p[t-1]| over points, in % of the inter-ocular distance;
- lag: the delay (frames, sub-frame by interpolation) that best aligns the smoothed
  trajectories with the raw ones, per clip, median over the clips with strong head motion;
- expression lag: the same with each frame's head motion (its similarity to the clip's
  median shape) undone on both sides, median over all clips: how late the mouth follows;
- cost: median milliseconds per face per frame (``update`` only).

The One Euro filter is tuned (beta over a grid, min_cutoff by bisection) to the lag of each
Kalman mode, and the lowest-jitter setting at that lag is the peer. Synthetic trajectories
with a known truth (rigid head motion + expression + noise) give the jitter and error against
the truth, which real clips cannot (their raw jitter includes real facial motion).

Usage: ``.venv/bin/python bench/jitter.py [--landmarks {mediapipe,engine}] [--held-out]``
(``--held-out``: other clips of the data set, never used to tune the smoothers).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from facestream.filters.one_euro import OneEuroFilter
from facestream.filters.smoothing import (
    FLOW_NOISE,
    KALMAN_STRENGTH,
    KalmanSmoother,
    PassThrough,
    Smoother,
    SmootherConfig,
    smoother_config,
)

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"
CLIPS = [
    *(f"liveportrait/d{i}.mp4" for i in (0, 3, 9, 10, 11, 12, 14, 18, 19, 20)),
    "retalking/1.mp4",
    "spectre/M003_level_1_disgusted_015.mp4",
]
# Face Mesh vertices on the lips (mediapipe's FACEMESH_LIPS): the MediaPipe tracks' mouth, whose
# points the live smoother lets follow sooner (their order is not our scheme's).
MEDIAPIPE_LIPS = (
    *(0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181),
    *(185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402),
    *(405, 409, 415),
)
# Clips that the smoothers' tuning never saw: a check that it is not fitted to CLIPS.
HELD_OUT = [
    *(f"liveportrait/s{i}.mp4" for i in (13, 20, 29, 32)),
    *(f"retalking/{i}.mp4" for i in (2, 3, 5)),
    *(
        f"spectre/{name}.mp4"
        for name in (
            "M026_level_3_disgusted_018",
            "M030_level_3_angry_016",
            "0Fi83BHQsMA_00002",
            "OzA6jRYjVQs_00004",
            "PbgB2TaYhio_00007",
            "QoT0S2vu9m4_00002",
        )
    ),
    "sadtalker/WDA_KatieHill_000.mp4",
]
IMAGE_AIDED = "kalman, image-motion aided (head motion from the pixels)"
MOUTH_WITH_THE_REST = "kalman, mouth with the rest (the default before)"
PER_POINT = "kalman, per point (the default before 02:31)"
# Process noise (face sizes per second³, before the strength divides it) of the
# constant-acceleration family on the trade-off curve: strengths 0.25-4 span the stillness
# of the constant-velocity family.
CA_JERK = 0.1
TRADEOFF_STRENGTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
# A clip has strong head motion when its face centre moves this much per frame (median, % of
# the inter-ocular distance); lag is measured on those.
STRONG_MOTION = 0.7
LAG_BLUR = 1.5  # frames (Gaussian sigma) of the zero-phase blur before measuring lag


@dataclass
class Track:
    """One face's landmarks over a clip; NaN rows are frames where the face was missed."""

    name: str
    times: np.ndarray  # (T,) seconds
    points: np.ndarray  # (T, N, 2)
    confidence: np.ndarray  # (T, N)
    iod: float  # inter-ocular distance, pixels
    truth: np.ndarray | None = None  # (T, N, 2) for synthetic tracks
    mouth: np.ndarray | None = None  # (N,) bool: the mouth's points (synthetic: they talk)
    flow: np.ndarray | None = None  # (T, 2, 3) head motion from the previous frame (NaN: none)
    flow_ms: float = float("nan")  # median CPU ms of one face_motion call
    frozen: np.ndarray | None = None  # (T,) bool: the picture did not change from the last frame


# -- landmark sources -----------------------------------------------------------------------


def frame_times(clip: Path) -> np.ndarray:
    import av

    with av.open(str(clip)) as container:
        return np.array([f.time for f in container.decode(video=0)], np.float64)


def _cache_path(clip: Path, source: str) -> Path:
    """Where a clip's landmarks from ``source`` are cached (``$FACESTREAM_CACHE/tracks``)."""
    root = Path(os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream"))
    digest = hashlib.sha1(clip.read_bytes()).hexdigest()[:16]
    return root / "tracks" / f"{clip.stem}-{digest}-{source}.npz"


def mediapipe_track(clip: Path) -> Track:
    """Face Mesh on each frame, cached under ``$FACESTREAM_CACHE/tracks``."""
    cache = _cache_path(clip, "mediapipe")
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        script = REPO / "bench" / "mediapipe_tracks.py"
        subprocess.run(
            [str(REPO / ".venv-mp" / "bin" / "python"), str(script), str(clip), str(tmp)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        tmp.rename(cache)
    with np.load(cache) as data:
        points = data["points"].astype(np.float64)
        eyes = int(data["left_eye_outer"]), int(data["right_eye_outer"])
        mouth = np.isin(data["vertices"], MEDIAPIPE_LIPS)
    times = frame_times(clip)[: len(points)]
    iod = float(np.nanmedian(np.linalg.norm(points[:, eyes[0]] - points[:, eyes[1]], axis=1)))
    conf = np.ones(points.shape[:2])
    return Track(clip.stem, times, points[: len(times)], conf[: len(times)], iod, mouth=mouth)


def weights_digest() -> str:
    """First 12 hex digits of the shipped weights' sha256 (names the engine's cache)."""
    from facestream.models.hrnet import default_weights_path

    path = default_weights_path("hrnet128_lite")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "none"


def engine_digest() -> str:
    """First 8 hex digits of the sha256 of the engine's code (the tracker, its crops and
    the heatmap decoding): a change to any of them makes new tracks."""
    import facestream.models.crops as crops
    import facestream.models.engine as engine
    import facestream.models.heatmaps as heatmaps

    digest = hashlib.sha256()
    for module in (engine, crops, heatmaps):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:8]


def engine_track(clip: Path) -> Track:
    """The product's LandmarkEngine (HRNet-128, tracking) on each frame, first face; cached
    under ``$FACESTREAM_CACHE/tracks`` per clip, weights digest and engine code digest."""
    from facestream.models.landmarks import GROUPS, NAMES, NUM_POINTS

    cache = _cache_path(clip, f"engine-{weights_digest()}-{engine_digest()}")
    if not cache.exists():
        import av

        from facestream.models.engine import LandmarkEngine
        from facestream.models.hrnet import WeightsError

        try:
            engine = LandmarkEngine()
        except WeightsError as exc:
            sys.exit(f"--landmarks engine needs trained weights ({exc}); use mediapipe")
        points, conf, times = [], [], []
        with av.open(str(clip)) as container:
            for vf in container.decode(video=0):
                faces = engine.track(vf.to_ndarray(format="rgb24"))
                times.append(vf.time)
                if faces:
                    points.append(faces[0].points)
                    conf.append(faces[0].confidence)
                else:
                    points.append(np.full((NUM_POINTS, 2), np.nan))
                    conf.append(np.zeros(NUM_POINTS))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, points=np.array(points), confidence=np.array(conf), times=np.array(times))
        tmp.rename(cache)
    with np.load(cache) as data:
        p, conf, times = data["points"].astype(np.float64), data["confidence"], data["times"]
    # Outer eye corners (iBUG 36 and 45), as for the MediaPipe points.
    eyes = p[:, NAMES.index("eye_right_0")] - p[:, NAMES.index("eye_left_3")]
    iod = float(np.nanmedian(np.linalg.norm(eyes, axis=1)))
    mouth = np.isin(np.arange(NUM_POINTS), GROUPS["mouth"])
    return Track(clip.stem, times, p, conf.astype(np.float64), iod, mouth=mouth)


def flow_digest() -> str:
    """First 8 hex digits of the sha256 of the face flow's code (names its cache)."""
    import facestream.filters.face_flow as face_flow

    return hashlib.sha256(Path(face_flow.__file__).read_bytes()).hexdigest()[:8]


def add_flow(clip: Path, track: Track, source: str) -> Track:
    """The track with each frame's head motion from the pixels (``face_motion`` from the
    previous frame, looking where the track's previous points are) and its frozen frames,
    cached beside the landmarks (``source`` names them); also the median CPU ms of one
    ``face_motion`` call.

    A frame is frozen when its picture repeats the previous one (a frame-rate conversion's
    duplicate: mean grey change under 0.15 and under a fifth of its neighbours'): the face
    did not move there, whatever its landmarks say.
    """
    import av
    import cv2

    from facestream.filters.face_flow import face_motion

    cv2.setNumThreads(1)  # the cost is this thread's CPU time
    cache = _cache_path(clip, f"{source}-flow-{flow_digest()}")
    if not cache.exists():
        flow = np.full((len(track.times), 2, 3), np.nan)
        change = np.full(len(track.times), np.nan)
        costs = []
        previous, points = None, None
        with av.open(str(clip)) as container:
            for k, vf in enumerate(container.decode(video=0)):
                if k >= len(track.times):
                    break
                grey = vf.to_ndarray(format="gray")
                if previous is not None:
                    change[k] = np.abs(grey.astype(np.int16) - previous).mean()
                if previous is not None and points is not None:
                    start = time.thread_time()
                    m = face_motion(previous, grey, points.astype(np.float32))
                    costs.append(time.thread_time() - start)
                    if m is not None:
                        flow[k] = m
                if not np.isnan(track.points[k]).any():
                    points = track.points[k]
                previous = grey
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, flow=flow, change=change, cost=1e3 * float(np.median(costs)))
        tmp.rename(cache)
    with np.load(cache) as data:
        flow, change, cost = data["flow"], data["change"], float(data["cost"])
    neighbours = np.fmin(np.r_[change[1:], np.nan], np.r_[np.nan, change[:-1]])
    frozen = (change < 0.15) & (change < 0.2 * neighbours)
    return replace(track, flow=flow, flow_ms=cost, frozen=frozen)


def synthetic_tracks(
    template: np.ndarray, iod: float, mouth: np.ndarray, fps: float = 30.0
) -> list[Track]:
    """Known truth: a face template under head motion (translation, rotation, scale) and a
    talking ``mouth`` (its points open and close), plus noise like a landmark model's: 0.3%
    IOD per point and 0.2% IOD shared by the whole face (confidence 1). One still and one
    fast-moving track."""
    rng = np.random.default_rng(0)
    t = np.arange(300) / fps
    centred = template - template.mean(0)
    tracks = []
    for name, speed in (("synthetic-still", 0.0), ("synthetic-moving", 1.0)):
        # Head motion: smooth oscillations peaking at about 5% IOD per frame.
        dx = speed * iod * (0.6 * np.sin(2 * np.pi * 0.5 * t) + 0.2 * np.sin(2 * np.pi * 1.3 * t))
        dy = speed * iod * 0.3 * np.sin(2 * np.pi * 0.7 * t + 1.0)
        angle = speed * 0.2 * np.sin(2 * np.pi * 0.4 * t)
        zoom = 1.0 + speed * 0.1 * np.sin(2 * np.pi * 0.3 * t)
        openness = 0.1 * iod * (1 - np.cos(2 * np.pi * 1.5 * t)) / 2
        shape = np.repeat(centred[None], len(t), 0)
        # The lower lip drops: the mouth's points below its centre.
        lower = mouth & (centred[:, 1] > centred[mouth, 1].mean())
        shape[:, lower, 1] += openness[:, None]
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        x = zoom[:, None] * (c * shape[..., 0] - s * shape[..., 1]) + dx[:, None]
        y = zoom[:, None] * (s * shape[..., 0] + c * shape[..., 1]) + dy[:, None]
        truth = np.stack([x, y], -1) + template.mean(0)
        noise = rng.normal(0, 0.003 * iod, truth.shape)
        noise += rng.normal(0, 0.002 * iod, (len(t), 1, 2))
        conf = np.ones(truth.shape[:2])
        tracks.append(Track(name, t, truth + noise, conf, iod, truth, mouth))
    return tracks


def source_config(mode: str, strength: float, mouth: np.ndarray) -> SmootherConfig:
    """``smoother_config`` for a landmark source whose mouth is ``mouth`` ((N,) bool): the
    live mode lets the mouth follow sooner, and MediaPipe's points come in another order."""
    config = smoother_config(mode, strength)
    if config.expressive:
        config = replace(config, expressive=tuple(np.flatnonzero(mouth).tolist()))
    return config


def mouth_apart(config: SmootherConfig) -> SmootherConfig:
    """The live tuning before the mouth followed apart (the default of 02:31-03:25)."""
    return replace(config, expressive=(), rigid_accel=2.0, local_accel=0.2)


def per_point_config(mode: str, strength: float = 1.0) -> SmootherConfig:
    """The mode's Kalman tuning with every coordinate filtered on its own (no rigid split):
    the file mode's default, and the live mode's default before the rigid split."""
    if mode == "kalman":
        return SmootherConfig(strength=strength * KALMAN_STRENGTH)
    return smoother_config(mode, strength)


def split_config(mode: str, strength: float = 1.0) -> SmootherConfig:
    """The mode's Kalman tuning with the rigid split (the live mode's default)."""
    return replace(smoother_config(mode, strength), rigid=True)


# -- running and measuring ------------------------------------------------------------------


def run(make: Callable[[], Smoother], track: Track) -> tuple[np.ndarray, float, int]:
    """Smoothed trajectories aligned to the track's frames, median ms per update, and the
    number of restarts the gate forced.

    The cost is this thread's CPU time: the shared development machine is often loaded
    several times over, which inflates wall time but not the work done.
    """
    smoother = make()
    out = np.full_like(track.points, np.nan)
    index = {t: k for k, t in enumerate(track.times)}
    costs = []
    for k, t in enumerate(track.times):
        p = track.points[k]
        missed = bool(np.isnan(p).any())
        start = time.thread_time()
        flow = None if track.flow is None or np.isnan(track.flow[k]).any() else track.flow[k]
        conf = None if missed else track.confidence[k]
        res = smoother.update(None if missed else p, conf, t, flow)
        costs.append(time.thread_time() - start)
        if res is not None:
            out[index[res.t]] = res.points
    for res in smoother.flush():
        out[index[res.t]] = res.points
    return out, 1e3 * float(np.median(costs)), getattr(smoother, "resets", 0)


def jitter(p: np.ndarray, iod: float) -> float:
    """Mean norm of the second difference over points and frames, % of IOD."""
    acc = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1)
    return 100.0 * float(np.nanmean(acc)) / iod


def _shift_error(p: np.ndarray, ref: np.ndarray, keep: np.ndarray, d: int) -> float:
    """Mean squared distance between p[t + d] and ref[t] over the frames kept on both (NaN
    when there are none)."""
    n = len(p)
    t = np.arange(max(0, -d), min(n, n - d))
    t = t[keep[t] & keep[t + d]]
    return float(np.mean((p[t + d] - ref[t]) ** 2)) if len(t) else float("nan")


def lag(p: np.ndarray, ref: np.ndarray, scale: float) -> float:
    """Delay d (frames) minimising the squared distance between p[t + d] and ref[t] on one
    track (``scale`` sets the unit: the inter-ocular distance)."""
    # The same zero-phase blur on both sides leaves the delay as it is but damps the noise,
    # whose correlation with the filter's input would pull d to whole frames.
    flat_p = gaussian_filter1d(p.reshape(len(p), -1) / scale, LAG_BLUR, axis=0)
    flat_ref = gaussian_filter1d(ref.reshape(len(ref), -1) / scale, LAG_BLUR, axis=0)
    keep = ~np.isnan(flat_p).any(axis=1) & ~np.isnan(flat_ref).any(axis=1)
    keep[:4], keep[-4:] = False, False
    shifts = np.arange(-3, 9)
    errors = np.array([_shift_error(flat_p, flat_ref, keep, int(d)) for d in shifts])
    if np.isnan(errors).all():  # the face is missed too often to align anything
        return float("nan")
    # Sub-frame: the vertex of the parabola through the best whole-frame delay and its
    # neighbours (whole-frame shifts need no interpolation, which would bias the result).
    k = int(np.clip(np.nanargmin(errors), 1, len(shifts) - 2))
    e0, e1, e2 = errors[k - 1 : k + 2]
    curvature = e0 - 2 * e1 + e2
    offset = 0.5 * (e0 - e2) / curvature if curvature > 0 else 0.0  # NaN > 0 is False
    return float(shifts[k] + np.clip(offset, -1.0, 1.0))


def expression(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Each frame's points with its least-squares similarity to ``template`` undone: the
    head's motion removed, the expression (and noise) left, in template units."""
    u = template - template.mean(axis=0)
    centred = points - points.mean(axis=1, keepdims=True)
    norm = (u * u).sum()
    a = (u * centred).sum(axis=(1, 2)) / norm
    b = (u[:, 0] * centred[..., 1] - u[:, 1] * centred[..., 0]).sum(axis=1) / norm
    x, y = centred[..., 0], centred[..., 1]
    n = (a * a + b * b)[:, None, None]
    return np.stack([a[:, None] * x + b[:, None] * y, -b[:, None] * x + a[:, None] * y], -1) / n


def motion(track: Track) -> float:
    """Median per-frame speed of the face centre, % of IOD."""
    centre = track.points.mean(axis=1)
    return 100.0 * float(np.nanmedian(np.linalg.norm(np.diff(centre, axis=0), axis=1))) / track.iod


@dataclass
class Result:
    jitter: list[float]  # per track
    lag: float  # median over the strong-motion tracks
    expression_lag: float  # median over all tracks, head motion removed
    mouth_lag: float  # the same on the mouth's points
    cost: float  # median ms over tracks
    outputs: list[np.ndarray]
    resets: int  # over all tracks


def evaluate(make: Callable[[], Smoother], tracks: list[Track], strong: list[bool]) -> Result:
    outs, costs, resets = zip(*(run(make, tr) for tr in tracks), strict=True)
    # One lag per clip, then the median: pooling the clips' errors would let the fastest
    # clip (whose squared distances are largest) decide alone.
    lags = [lag(o, tr.points, tr.iod) for o, tr, s in zip(outs, tracks, strong, strict=True) if s]
    expression_lags, mouth_lags = [], []
    for o, tr in zip(outs, tracks, strict=True):
        template = np.nanmedian(tr.points, axis=0)
        scale = float(np.sqrt(((template - template.mean(0)) ** 2).sum(1).mean()))
        ref, out = expression(tr.points, template), expression(o, template)
        expression_lags.append(lag(out, ref, 0.01 * scale))
        if tr.mouth is not None:
            mouth_lags.append(lag(out[:, tr.mouth], ref[:, tr.mouth], 0.01 * scale))
    return Result(
        [jitter(o, tr.iod) for o, tr in zip(outs, tracks, strict=True)],
        float(np.nanmedian(lags)),
        float(np.nanmedian(expression_lags)),
        float(np.nanmedian(mouth_lags)) if mouth_lags else float("nan"),
        float(np.median(costs)),
        list(outs),
        int(sum(resets)),
    )


def image_jitter(track: Track) -> float:
    """Jitter (% IOD) of the head's motion from the pixels alone: the second difference of
    the steps that ``track.flow`` gives each point (real motion, noise-free to about 0.1%
    IOD: the share of the raw jitter that no filter following the picture can remove)."""
    assert track.flow is not None
    p = track.points
    steps = np.einsum("tij,tnj->tni", track.flow[1:, :, :2], p[:-1]) + track.flow[1:, None, :, 2]
    steps -= p[:-1]
    return 100.0 * float(np.nanmean(np.linalg.norm(np.diff(steps, axis=0), axis=-1))) / track.iod


def frozen_motion(res: Result, tracks: list[Track]) -> float:
    """Mean distance (% IOD) that the points move on frozen frames (the picture did not
    move), over the clips that have some: motion a filter invents or carries on."""
    moved = []
    for out, tr in zip(res.outputs, tracks, strict=True):
        if tr.frozen is not None and tr.frozen[1:].any():
            step = np.linalg.norm(np.diff(out, axis=0), axis=-1)[tr.frozen[1:]]
            moved.append(100.0 * float(np.nanmean(step)) / tr.iod)
    return float(np.mean(moved)) if moved else float("nan")


def cut(res: Result, raw: np.ndarray) -> float:
    """Median over clips of the jitter cut (%) against the raw jitter of each clip."""
    return float(np.median(100.0 * (1.0 - np.array(res.jitter) / raw)))


def one_euro_at_lag(
    target: float, tracks: list[Track], strong: list[bool], raw: np.ndarray
) -> tuple[str, Callable[[], Smoother], Result]:
    """The One Euro setting with the largest jitter cut whose lag matches ``target``
    (bisection on min_cutoff, for each beta of a grid)."""
    best: tuple[str, Callable[[], Smoother], Result] | None = None
    for beta in (0.0, 1.0, 4.0, 16.0):
        lo, hi = np.log(0.03), np.log(30.0)  # lag falls as min_cutoff rises
        for _ in range(10):
            mid = 0.5 * (lo + hi)
            res = evaluate(partial(OneEuroFilter, float(np.exp(mid)), beta), tracks, strong)
            lo, hi = (mid, hi) if res.lag > target else (lo, mid)
        cutoff = float(np.exp(hi))
        make = partial(OneEuroFilter, cutoff, beta)
        res = evaluate(make, tracks, strong)
        label = f"One Euro (min_cutoff {cutoff:.2f} Hz, beta {beta:g})"
        if best is None or cut(res, raw) > cut(best[2], raw):
            best = (label, make, res)
    assert best is not None
    return best


# -- report ---------------------------------------------------------------------------------


def plot(path: Path, track: Track, series: dict[str, np.ndarray], point: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = np.linalg.norm(np.diff(track.points[:, point], axis=0), axis=1)
    centre = int(np.nanargmax(np.convolve(np.nan_to_num(speed), np.ones(15), "same")))
    lo = max(0, centre - 45)
    sl = slice(lo, lo + 90)
    t = track.times[sl]
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for ax, c, name in zip(axes, (0, 1), "xy", strict=True):
        for label, p in series.items():
            style = {"lw": 0.8, "color": "0.6", "marker": ".", "ms": 3} if label == "raw" else {}
            ax.plot(t, p[sl, point, c], label=label, **style)
        ax.set_ylabel(f"{name} (px)")
    axes[0].set_title(f"{track.name}: landmark {point}, raw vs smoothed (fastest 3 s)")
    axes[1].set_xlabel("time (s)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_tradeoff(path: Path, curves: dict[str, list[tuple[float, float]]], title: str) -> None:
    """Jitter cut against lag, one curve per smoother family over its strength setting
    (``TRADEOFF_STRENGTHS``; strength 1 ringed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    variants: list[str] = []
    for label, points in curves.items():
        # One colour per variant, solid for the live mode and dashed for the file mode.
        mode, _, variant = label.partition(", ")
        if mode not in ("kalman", "fixed-lag"):
            variant = label
        if variant not in variants:
            variants.append(variant)
        style = "--" if mode == "fixed-lag" else "-"
        colour = f"C{variants.index(variant)}"
        lags, cuts = zip(*points, strict=True)
        ax.plot(lags, cuts, style, marker="o", ms=4, color=colour, label=label)
        # Ring the default strength (1, the middle of TRADEOFF_STRENGTHS).
        middle = len(points) // 2
        ax.plot(lags[middle], cuts[middle], "o", ms=11, mfc="none", mec="black", mew=1)
    # The live target: at least 70% less jitter with at most one frame of lag.
    ax.fill_between([0, 1], 70, 100, color="0.9", zorder=0, label="live target")
    ax.set_xlabel("lag on strong-motion clips (frames)")
    ax.set_ylabel("jitter cut, median over clips (%)")
    ax.set_title(f"Stillness against lag ({title})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _kalman_family(
    mode: str, base: Callable[..., SmootherConfig], change: dict, strength: float
) -> Callable[[], Smoother]:
    return partial(KalmanSmoother, replace(base(mode, strength), **change))


def _one_euro_family(cutoff: float, beta: float, strength: float) -> Callable[[], Smoother]:
    return partial(OneEuroFilter, cutoff / strength, beta)


def tradeoff(
    tracks: list[Track], strong: list[bool], raw: np.ndarray, mouth: np.ndarray
) -> dict[str, list[tuple[float, float]]]:
    """(lag, median jitter cut) of each family over its stillness setting."""
    families: dict[str, Callable[[float], Callable[[], Smoother]]] = {}
    configs = partial(source_config, mouth=mouth)
    for mode in ("kalman", "fixed-lag"):
        families[mode] = partial(_kalman_family, mode, configs, {})
        other = (
            ("per point", per_point_config) if mode == "kalman" else ("rigid split", split_config)
        )
        if mode == "kalman":
            families["kalman, mouth with the rest"] = lambda s: partial(
                KalmanSmoother, mouth_apart(configs("kalman", s))
            )
            families["kalman, image-motion aided"] = lambda s: partial(
                KalmanSmoother, replace(configs("kalman", s), flow_noise=FLOW_NOISE)
            )
        for variant, base, change in (
            (*other, {}),
            ("no motion levels", configs, {"motion_levels": 1}),
            ("constant acceleration", per_point_config, {"order": 3, "local_accel": CA_JERK}),
        ):
            families[f"{mode}, {variant}"] = partial(_kalman_family, mode, base, change)
    for beta, cutoff in ((0.0, 2.0), (4.0, 0.5)):
        families[f"One Euro (beta {beta:g}), min_cutoff {cutoff:g} Hz / strength"] = partial(
            _one_euro_family, cutoff, beta
        )
    curves: dict[str, list[tuple[float, float]]] = {}
    print(
        "\n| family | strength | jitter cut | lag (frames) | expression lag | mouth lag |"
        "\n| --- | --- | --- | --- | --- | --- |"
    )
    for label, family in families.items():
        curves[label] = []
        for strength in TRADEOFF_STRENGTHS:
            res = evaluate(family(strength), tracks, strong)
            curves[label].append((res.lag, cut(res, raw)))
            print(
                f"| {label} | {strength:g} | {cut(res, raw):.1f}% | {res.lag:+.2f} | "
                f"{res.expression_lag:+.2f} | {res.mouth_lag:+.2f} |"
            )
    return curves


def dense_kalman_ms(num_points: int = 128, frames: int = 20) -> float:
    """CPU ms per frame of the textbook alternative: one dense filterpy KalmanFilter whose
    state stacks (position, velocity) of every coordinate (F, H, Q built with np.kron)."""
    from filterpy.common import Q_discrete_white_noise
    from filterpy.kalman import KalmanFilter

    n = 2 * num_points
    kf = KalmanFilter(dim_x=2 * n, dim_z=n)
    kf.F = np.kron(np.eye(n), [[1.0, 1 / 30], [0.0, 1.0]])
    kf.H = np.kron(np.eye(n), [[1.0, 0.0]])
    kf.Q = np.kron(np.eye(n), Q_discrete_white_noise(2, 1 / 30, 1.0))
    kf.R = np.eye(n)
    z = np.zeros(n)
    costs = []
    for _ in range(frames):
        start = time.thread_time()
        kf.predict()
        kf.update(z)
        costs.append(time.thread_time() - start)
    return 1e3 * float(np.median(costs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landmarks", choices=("mediapipe", "engine"), default="mediapipe")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "jitter_trajectory.png")
    parser.add_argument("--tradeoff", type=Path, default=REPO / "docs" / "jitter_tradeoff.png")
    parser.add_argument("--clips", nargs="*", default=CLIPS)
    parser.add_argument("--held-out", action="store_true", help="run on HELD_OUT instead")
    args = parser.parse_args()
    if args.held_out:
        args.clips = HELD_OUT
    if not VIDEOS.is_dir():
        sys.exit(f"the clips are not here: {VIDEOS}")
    source = mediapipe_track if args.landmarks == "mediapipe" else engine_track
    # The flow looks where the landmarks are: its cache is keyed by theirs.
    tag = "mediapipe"
    if args.landmarks == "engine":
        tag = f"engine-{weights_digest()}-{engine_digest()}"
    tracks = [add_flow(VIDEOS / c, source(VIDEOS / c), tag) for c in args.clips]
    strong = [motion(tr) >= STRONG_MOTION for tr in tracks]
    mouth = tracks[0].mouth
    assert mouth is not None
    synthetic = synthetic_tracks(np.nanmedian(tracks[0].points, axis=0), tracks[0].iod, mouth)

    # make_smoother_factory(mode), with the mouth's points of this landmark source.
    configs = partial(source_config, mouth=mouth)
    smoothers: dict[str, Callable[[], Smoother]] = {"raw": PassThrough}
    # The live mode's responsive setting (--smooth-strength 0.25).
    smoothers["kalman at strength 0.25"] = partial(KalmanSmoother, configs("kalman", 0.25))
    for mode in ("kalman", "fixed-lag"):
        config = configs(mode, 1.0)
        smoothers[mode] = partial(KalmanSmoother, config)
        # The live default splits the rigid motion, the file default does not: each is
        # measured beside the other model.
        if mode == "kalman":
            smoothers[MOUTH_WITH_THE_REST] = partial(KalmanSmoother, mouth_apart(config))
            smoothers[PER_POINT] = partial(KalmanSmoother, per_point_config(mode))
        else:
            smoothers["fixed-lag, rigid split"] = partial(KalmanSmoother, split_config(mode))
        smoothers[f"{mode}, no motion levels"] = partial(
            KalmanSmoother, replace(config, motion_levels=1)
        )
    # The head's motion from the pixels as the rigid filter's control input.
    smoothers[IMAGE_AIDED] = partial(
        KalmanSmoother, replace(configs("kalman", 1.0), flow_noise=FLOW_NOISE)
    )
    results = {name: evaluate(make, tracks, strong) for name, make in smoothers.items()}
    raw = np.array(results["raw"].jitter)
    for mode in ("kalman", "fixed-lag"):
        label, make, res = one_euro_at_lag(results[mode].lag, tracks, strong, raw)
        results[f"{label}, at the lag of {mode}"] = res
        smoothers[f"{label}, at the lag of {mode}"] = make

    weights = ""
    if args.landmarks == "engine":
        weights = f" (weights {weights_digest()}, engine code {engine_digest()})"
    print(f"landmarks: {args.landmarks}{weights}; load average {os.getloadavg()[0]:.1f}")
    print(f"clips: {len(tracks)}, strong motion (lag): ", end="")
    print(", ".join(tr.name for tr, s in zip(tracks, strong, strict=True) if s))
    print(
        "\n| clip | motion (% IOD/frame) | raw jitter (% IOD) | head's jitter from the pixels "
        "(% of raw) | frozen frames | face_motion CPU ms |\n| --- | --- | --- | --- | --- | --- |"
    )
    for tr, j in zip(tracks, raw, strict=True):
        assert tr.frozen is not None
        print(
            f"| {tr.name} | {motion(tr):.2f} | {j:.2f} | {100 * image_jitter(tr) / j:.0f}% | "
            f"{100 * tr.frozen.mean():.0f}% | {tr.flow_ms:.2f} |"
        )
    shares = [image_jitter(tr) / j for tr, j in zip(tracks, raw, strict=True)]
    print(f"median share of the raw jitter in the pixels' head motion: {np.median(shares):.0%}")
    print(
        "\n| smoother | jitter (% IOD, median) | jitter cut (median over clips) | "
        "lag (frames, strong motion) | expression lag (frames) | mouth lag | moved on frozen "
        "frames (% IOD) | CPU ms per face per frame | gate restarts |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, res in results.items():
        print(
            f"| {name} | {np.median(res.jitter):.2f} | {cut(res, raw):.1f}% | "
            f"{res.lag:+.2f} | {res.expression_lag:+.2f} | {res.mouth_lag:+.2f} | "
            f"{frozen_motion(res, tracks):.2f} | {res.cost:.3f} | {res.resets} |"
        )
    print(f"\none dense filterpy KalmanFilter over all 512 states: {dense_kalman_ms():.1f} CPU ms")
    for split, point in (
        ("kalman", PER_POINT),
        ("fixed-lag, rigid split", "fixed-lag"),
    ):
        ratio = results[split].cost / max(results[point].cost, 1e-9)
        print(f"\ncost ratio {split} / {point} (same run): {ratio:.2f}")

    print("\nSynthetic faces (truth known; noise 0.3% IOD per point + 0.2% shared):\n")
    print(
        "| track | smoother | jitter (% IOD) | RMSE vs truth (% IOD) | mouth RMSE | "
        "lag vs truth (frames) | mouth lag |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    for tr in synthetic:
        assert tr.truth is not None and tr.mouth is not None
        print(f"| {tr.name} | truth | {jitter(tr.truth, tr.iod):.3f} | | | | |")
        for name, make in smoothers.items():
            if name == IMAGE_AIDED:  # synthetic tracks have no pixels
                continue
            out, _, _ = run(make, tr)
            err = np.linalg.norm(out - tr.truth, axis=-1)
            rmse = 100.0 * np.sqrt(np.mean(err**2)) / tr.iod
            mouth_rmse = 100.0 * np.sqrt(np.mean(err[:, tr.mouth] ** 2)) / tr.iod
            all_lag = lag(out, tr.truth, tr.iod) if tr.name.endswith("moving") else float("nan")
            mouth_lag = lag(out[:, tr.mouth], tr.truth[:, tr.mouth], tr.iod)
            print(
                f"| {tr.name} | {name} | {jitter(out, tr.iod):.3f} | {rmse:.3f} | "
                f"{mouth_rmse:.3f} | {all_lag:+.2f} | {mouth_lag:+.2f} |"
            )

    # The plot shows the strong-motion clip of median motion: typical, not the extreme one.
    moving = sorted(
        (motion(tr), k) for k, (tr, s) in enumerate(zip(tracks, strong, strict=True)) if s
    )
    shown = moving[len(moving) // 2][1]
    series = {
        "raw": tracks[shown].points,
        "kalman": results["kalman"].outputs[shown],
        "fixed-lag": results["fixed-lag"].outputs[shown],
        "One Euro at the lag of kalman": list(results.values())[-2].outputs[shown],
    }
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(args.plot, tracks[shown], series, point=int(tracks[shown].points.shape[1] // 2))
    title = f"{args.landmarks} landmarks, {len(tracks)} talking-head clips"
    plot_tradeoff(args.tradeoff, tradeoff(tracks, strong, raw, mouth), title)
    print(f"tradeoff plot: {args.tradeoff}; load average {os.getloadavg()[0]:.1f}")
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
