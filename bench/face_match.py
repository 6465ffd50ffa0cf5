"""How well `--only-like` separates people, against dlib's ResNet descriptor in the same run.

Landmarks come from the project's engine (HRNet-128 lite, shipped weights, BlazeFace
detector). Two sets from ../shared/data:

- clips: every single-person talking-head clip. The *reference* is one frame of the clip's
  start, landmarked like a still photo (what `--only-like PHOTO` sees); the *tracks* are two
  windows later in the clip (middle and end), tracked frame by frame, each described by the
  mean over its first `DECIDE_FRAMES` frames (what `FaceMatchStage` decides on). Pairs:
  the same clip (same person, same camera), the same person in another clip
  (sadtalker/WDA_AlexandriaOcasioCortez_000 and retalking/3 show the same woman, told apart
  by eye, not by a label), and different people (every other pair of clips).
- stills: photos whose file names name the person (faceapijs: 8 people x 5 small 150 px
  crops; face_recognition: obama x4, biden x2, alex lacamoire x2), padded by half their
  size so the detector sees some context; every pair of photos.

Printed per set: the share of same-person pairs that match (distance under the threshold)
and of different-person pairs that match (false matches), with our `MATCH_THRESHOLD` and
dlib's usual 0.6, and the ROC AUC (chance that a same-person pair is closer than a
different-person pair). Rows: ours (dlib's ResNet ported to torch, `describe_faces`, on
chips cut by our landmarks) and dlib itself (its own 5-point landmarks and chips, first
frame of a track only). Run::

    nice -n 10 .venv/bin/python bench/face_match.py [--dlib /tmp/venv-dlib]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from swap_quality import descriptors as dlib_descriptors  # noqa: E402
from swap_quality import face_crop  # noqa: E402

from facestream.filters.face_match import (  # noqa: E402
    DECIDE_FRAMES,
    MATCH_THRESHOLD,
    describe_faces,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# Several people or tiny faces, no names: not usable for identity pairs.
SKIP_CLIPS = {"face_recognition", "facenet"}
SAME_PERSON = {
    "sadtalker/WDA_AlexandriaOcasioCortez_000.mp4": "aoc",
    "retalking/3.mp4": "aoc",
}
STILLS = {
    **{
        f"faceapijs/{name}{i}.jpg": name
        for name in "amy bernadette howard leonard penny raj sheldon stuart".split()
        for i in range(1, 6)
    },
    **{f"face_recognition/obama{s}.jpg": "obama" for s in ("", "1", "2", "3")},
    "face_recognition/biden.jpg": "biden",
    "face_recognition/biden2.jpg": "biden",
    "face_recognition/alex-lacamoire.jpg": "alex",
    "face_recognition/alex_lacamoire1.jpg": "alex",
}
WINDOW = DECIDE_FRAMES
SWEEP = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7)  # other thresholds of ours, printed for choosing


class Sample:
    """One reference photo or track: its identity label, its file and its descriptors."""

    def __init__(self, label: str, origin: str, frames: list[tuple[np.ndarray, np.ndarray]]):
        self.label = label
        self.origin = origin
        self.ours = np.mean([timed_descriptor(img, pts) for img, pts in frames], axis=0)
        # dlib sees the first frame only (one descriptor per sample keeps it simple).
        self.dlib_crop = face_crop(*frames[0])
        self.dlib: np.ndarray | None = None


DESCRIBE_MS: list[float] = []


def timed_descriptor(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """One face's descriptor (chip + network, batch 1), its time recorded."""
    t = time.perf_counter()
    out = describe_faces(image, [points])[0]
    DESCRIBE_MS.append(1000 * (time.perf_counter() - t))
    return out


def largest(faces: list) -> object | None:
    return max(faces, key=lambda f: float(f.box[2] - f.box[0]), default=None)


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def clip_samples(landmarks) -> tuple[list[Sample], list[Sample]]:
    """Per clip: a reference from its first frame and two tracks (middle, end)."""
    refs, tracks = [], []
    for path in sorted((DATA / "videos").rglob("*.mp4")):
        rel = str(path.relative_to(DATA / "videos"))
        if path.parent.name in SKIP_CLIPS:
            continue
        label = SAME_PERSON.get(rel, rel)
        frames = read_frames(path)
        face = largest(landmarks(frames[0]))
        if face is None:
            print(f"  {rel}: no face in the first frame, skipped")
            continue
        refs.append(Sample(label, rel, [(frames[0], face.points)]))
        for start in (len(frames) // 2, len(frames) - WINDOW):
            landmarks.engine.reset()
            window, track_id = [], None
            for image in frames[start : start + WINDOW]:
                faces = landmarks.engine.track(image)
                if track_id is None and faces:
                    track_id = largest(faces).track_id
                mine = [f for f in faces if f.track_id == track_id]
                if mine:
                    window.append((image, mine[0].points))
            if window:
                tracks.append(Sample(label, rel, window))
    return refs, tracks


def still_samples(landmarks) -> list[Sample]:
    out = []
    for rel, label in STILLS.items():
        image = cv2.cvtColor(cv2.imread(str(DATA / "stills" / rel)), cv2.COLOR_BGR2RGB)
        pad = max(image.shape[:2]) // 2
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        face = largest(landmarks(image))
        if face is None:
            print(f"  {rel}: no face found, skipped")
            continue
        out.append(Sample(label, rel, [(image, face.points)]))
    return out


Metric = Callable[[Sample, Sample], float]
OURS = "ours (ResNet in torch, our chips)"
DESCRIPTORS: dict[str, Metric] = {
    OURS: lambda a, b: float(np.linalg.norm(a.ours - b.ours)),
    "dlib ResNet": lambda a, b: float(np.linalg.norm(a.dlib - b.dlib)),
}
# Each descriptor at our threshold and at dlib's.
THRESHOLDS = sorted({MATCH_THRESHOLD, 0.6})


def auc(same: list[float], different: list[float]) -> float:
    s, d = np.array(same)[:, None], np.array(different)[None]
    return float((s < d).mean() + 0.5 * (s == d).mean())


def rate(values: list[float], threshold: float) -> str:
    if not values:
        return "-"
    hits = sum(v <= threshold for v in values)
    return f"{hits}/{len(values)} ({100 * hits / len(values):.0f} %)"


def report(title: str, groups: dict[str, list[tuple[Sample, Sample]]], use_dlib: bool) -> None:
    print(f"\n{title}: " + ", ".join(f"{k} {len(v)} pairs" for k, v in groups.items()))
    same_keys = [k for k in groups if k != "different"]
    header = "| metric | " + " | ".join(f"{k} match" for k in groups) + " | "
    print(header + " | ".join(f"AUC {k}" for k in same_keys) + " |")
    dists = {}
    for name, metric in DESCRIPTORS.items():
        if name == "dlib ResNet" and not use_dlib:
            continue
        dist = {k: [metric(a, b) for a, b in pairs] for k, pairs in groups.items()}
        dists[name] = dist
        aucs = [f"{auc(dist[k], dist['different']):.3f}" for k in same_keys if dist[k]]
        for threshold in THRESHOLDS:
            cells = [rate(dist[k], threshold) for k in groups]
            print(f"| {name} at {threshold} | " + " | ".join(cells + aucs) + " |")
    ours = DESCRIPTORS[OURS]
    false = sorted((ours(a, b), a, b) for a, b in groups["different"])
    false = [f for f in false if f[0] <= MATCH_THRESHOLD]
    by_pair: dict[tuple[str, str], list[float]] = {}
    for d, a, b in false:
        by_pair.setdefault(tuple(sorted((a.origin, b.origin))), []).append(d)
    print(f"  false matches of ours ({len(false)}) by pair of files, ours' smallest distance:")
    for (a, b), ds in sorted(by_pair.items(), key=lambda kv: min(kv[1])):
        print(f"    {a} ~ {b}: {len(ds)} x, {min(ds):.3f}")
    for name, dist in dists.items():
        for threshold in SWEEP:
            cells = ", ".join(f"{k} {rate(v, threshold)}" for k, v in dist.items())
            print(f"  {name} at {threshold}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dlib", type=Path, default=Path("/tmp/venv-dlib"))
    args = parser.parse_args()
    from facestream.stream.live_chain import EngineLandmarks

    t0 = time.perf_counter()
    landmarks = EngineLandmarks(weights="default")
    refs, tracks = clip_samples(landmarks)
    stills = still_samples(landmarks)
    print(f"landmarks and descriptors: {time.perf_counter() - t0:.0f} s")
    print(f"face_descriptor: median {np.median(DESCRIBE_MS):.2f} ms per face ({len(DESCRIBE_MS)})")
    dlib_python = args.dlib / "bin" / "python"
    use_dlib = dlib_python.exists()
    if use_dlib:
        samples = refs + tracks + stills
        crops, rects = zip(*(s.dlib_crop for s in samples), strict=True)
        for s, d in zip(
            samples, dlib_descriptors(dlib_python, list(crops), list(rects)), strict=True
        ):
            s.dlib = d
    else:
        print(f"dlib: skipped, no venv at {args.dlib}")

    clip_pairs: dict[str, list[tuple[Sample, Sample]]] = {
        "same clip": [],
        "same person, other clip": [],
        "different": [],
    }
    for ref, track in itertools.product(refs, tracks):
        if ref.label != track.label:
            clip_pairs["different"].append((ref, track))
        elif ref.origin == track.origin:
            clip_pairs["same clip"].append((ref, track))
        else:
            clip_pairs["same person, other clip"].append((ref, track))
    report(f"clips ({len(refs)} references, {len(tracks)} tracks)", clip_pairs, use_dlib)
    still_pairs: dict[str, list[tuple[Sample, Sample]]] = {"same person": [], "different": []}
    for a, b in itertools.combinations(stills, 2):
        still_pairs["same person" if a.label == b.label else "different"].append((a, b))
    report(f"stills ({len(stills)} photos)", still_pairs, use_dlib)


if __name__ == "__main__":
    main()
