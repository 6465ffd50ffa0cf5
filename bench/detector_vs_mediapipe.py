"""Our BlazeFace port against MediaPipe's own face detector: agreement and latency.

Runs both on every photo of ``../shared/data/stills`` for each variant (short range =
MediaPipe ``model_selection=0``, full range = 1, each at its default score threshold, 0.5
and 0.6: MediaPipe 0.10.21's Python solution keeps those whatever
``min_detection_confidence`` says), matches the faces one to one by IoU (Hungarian) and
prints, per variant: MediaPipe's faces, ours, how many we find (IoU >= 0.5), how many agree
at IoU >= 0.9, the median IoU and keypoint distance (in % of the box side), and which faces
only one side found or agree below IoU 0.9.
``--latency N`` also times both detectors per image on the first N stills, alternating
the two in rounds (medians).

Usage (main venv)::

    .venv/bin/python bench/detector_vs_mediapipe.py [--latency 40] [--render OUT.png]

MediaPipe needs numpy<2, so it lives in ``.venv-mp`` and runs this same file there as a
worker (``--mediapipe-worker LIST.json OUT.json REPEAT``). Its detections are cached by image
content under ``$FACESTREAM_CACHE/detector/`` (default ``~/.cache/facestream``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the MediaPipe worker runs where facestream is not installed
    from facestream.models.detector import FaceDetector

REPO = Path(__file__).resolve().parents[1]
MP_PYTHON = REPO / ".venv-mp" / "bin" / "python"
STILLS = REPO / ".." / "shared" / "data" / "stills"
MODEL_SELECTION = {"short": 0, "full": 1}


def list_stills(root: Path = STILLS) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------- MediaPipe side


def _mediapipe_worker(list_json: Path, out_json: Path, repeat: int) -> None:
    """In .venv-mp: MediaPipe's detections (pixels) and per-image median latency (ms)."""
    import mediapipe as mp

    paths = json.loads(list_json.read_text())
    images = [read_rgb(Path(p)) for p in paths]
    results: dict[str, dict] = {p: {} for p in paths}
    for variant, selection in MODEL_SELECTION.items():
        with mp.solutions.face_detection.FaceDetection(model_selection=selection) as detector:
            for path, image in zip(paths, images, strict=True):
                times = []
                for _ in range(max(repeat, 1)):
                    start = time.perf_counter()
                    found = detector.process(image).detections or []
                    times.append((time.perf_counter() - start) * 1000)
                height, width = image.shape[:2]
                faces = []
                for det in found:
                    rel = det.location_data.relative_bounding_box
                    box = [rel.xmin, rel.ymin, rel.xmin + rel.width, rel.ymin + rel.height]
                    points = [
                        (k.x * width, k.y * height) for k in det.location_data.relative_keypoints
                    ]
                    faces.append(
                        {
                            "box": (np.array(box) * [width, height, width, height]).tolist(),
                            "keypoints": points,
                            "score": det.score[0],
                        }
                    )
                results[path][variant] = {"faces": faces, "ms": statistics.median(times)}
    out_json.write_text(json.dumps(results))


def _run_worker(paths: list[Path], repeat: int) -> dict[str, dict]:
    if not MP_PYTHON.is_file():
        raise RuntimeError(f"MediaPipe's venv is missing ({MP_PYTHON})")
    with tempfile.TemporaryDirectory() as tmp:
        list_json, out_json = Path(tmp) / "list.json", Path(tmp) / "out.json"
        list_json.write_text(json.dumps([str(p) for p in paths]))
        cmd = [str(MP_PYTHON), __file__, "--mediapipe-worker", str(list_json), str(out_json)]
        done = subprocess.run([*cmd, str(repeat)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the MediaPipe worker failed: {done.stderr[-2000:]}")
        return json.loads(out_json.read_text())


def _cache_file(path: Path) -> Path:
    root = Path(os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream"))
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    return root / "detector" / f"mediapipe-0.10.21-{digest}.json"


def mediapipe_detections(paths: list[Path]) -> dict[Path, dict[str, list[dict]]]:
    """MediaPipe's faces per image and variant, computed once and cached by content."""
    missing = [p for p in paths if not _cache_file(p).is_file()]
    if missing:
        for path, result in _run_worker(missing, repeat=1).items():
            cache = _cache_file(Path(path))
            cache.parent.mkdir(parents=True, exist_ok=True)
            faces = {variant: r["faces"] for variant, r in result.items()}
            cache.write_text(json.dumps(faces))
    return {p: json.loads(_cache_file(p).read_text()) for p in paths}


# ----------------------------------------------------------------------- comparison


@dataclass
class Agreement:
    """Our faces against MediaPipe's on a set of images (one variant)."""

    mediapipe_faces: int = 0
    our_faces: int = 0
    ious: list[float] = field(default_factory=list)  # one per matched pair (IoU >= 0.5)
    keypoint_errors: list[float] = field(default_factory=list)  # % of the box side
    score_gaps: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # faces one side only, IoU < 0.9

    @property
    def found(self) -> int:
        return len(self.ious)

    @property
    def agreeing(self) -> int:
        return sum(iou >= 0.9 for iou in self.ious)


def compare(detector: FaceDetector, paths: list[Path], reference: dict, variant: str) -> Agreement:
    """Match our detections to MediaPipe's per image (Hungarian on IoU, pairs >= 0.5)."""
    from scipy.optimize import linear_sum_assignment

    from facestream.models.detector import box_iou

    result = Agreement()
    for path in paths:
        ours = detector.detect(read_rgb(path))
        theirs = reference[path][variant]
        result.mediapipe_faces += len(theirs)
        result.our_faces += len(ours)
        pairs: list[tuple[int, int]] = []
        if ours and theirs:
            iou = box_iou(
                np.array([d.box for d in ours]), np.array([t["box"] for t in theirs], np.float32)
            )
            rows, cols = linear_sum_assignment(-iou)
            pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= 0.5]
            for r, c in pairs:
                if iou[r, c] < 0.9:
                    scores = f"{ours[r].score:.2f} / {theirs[c]['score']:.2f}"
                    result.notes.append(f"{_name(path)}: IoU {iou[r, c]:.3f}, scores {scores}")
                box = np.array(theirs[c]["box"])
                side = np.sqrt((box[2] - box[0]) * (box[3] - box[1]))
                error = np.linalg.norm(ours[r].keypoints - np.array(theirs[c]["keypoints"]), axis=1)
                result.ious.append(float(iou[r, c]))
                result.keypoint_errors.append(float(error.mean() / side * 100))
                result.score_gaps.append(abs(ours[r].score - theirs[c]["score"]))
        only_theirs = [
            f"{t['score']:.2f}" for i, t in enumerate(theirs) if i not in {c for _, c in pairs}
        ]
        only_ours = [f"{d.score:.2f}" for i, d in enumerate(ours) if i not in {r for r, _ in pairs}]
        if only_theirs:
            result.notes.append(f"{_name(path)}: MediaPipe only (scores {', '.join(only_theirs)})")
        if only_ours:
            result.notes.append(f"{_name(path)}: ours only (scores {', '.join(only_ours)})")
    return result


def latency(paths: list[Path], repeat: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Per variant and round: (ours, MediaPipe) ms, median over images of per-image medians.

    The two sides alternate round by round, so a change in the machine's load hits both.
    """
    from facestream.models.detector import FaceDetector

    images = [read_rgb(p) for p in paths]
    detectors = {variant: FaceDetector(variant) for variant in MODEL_SELECTION}
    table: dict[str, list[tuple[float, float]]] = {variant: [] for variant in MODEL_SELECTION}
    for _ in range(rounds):
        theirs = _run_worker(paths, repeat)
        for variant, detector in detectors.items():
            detector.detect(images[0])  # warm-up
            ours_ms = []
            for image in images:
                times = []
                for _ in range(repeat):
                    start = time.perf_counter()
                    detector.detect(image)
                    times.append((time.perf_counter() - start) * 1000)
                ours_ms.append(statistics.median(times))
            mp_ms = [theirs[str(p)][variant]["ms"] for p in paths]
            table[variant].append((statistics.median(ours_ms), statistics.median(mp_ms)))
    return table


def render(path: Path, out: Path, reference: dict) -> None:
    """Draw our full-range faces (green, keypoints) and MediaPipe's boxes (red) on a photo."""
    import cv2

    from facestream.models.detector import FaceDetector

    image = read_rgb(path)
    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for face in reference[path]["full"]:
        x0, y0, x1, y1 = np.round(face["box"]).astype(int)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 0, 255), 3)
    for det in FaceDetector("full").detect(image):
        x0, y0, x1, y1 = np.round(det.box).astype(int)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 255, 0), 1)
        for x, y in np.round(det.keypoints).astype(int):
            cv2.circle(canvas, (x, y), 2, (0, 255, 255), -1)
        cv2.putText(canvas, f"{det.score:.2f}", (x0, y0 - 3), 0, 0.4, (0, 255, 0), 1)
    cv2.imwrite(str(out), canvas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stills", type=Path, default=STILLS)
    parser.add_argument("--latency", type=int, default=0, help="time on the first N stills")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image")
    parser.add_argument("--rounds", type=int, default=3, help="alternating latency rounds")
    parser.add_argument("--no-agreement", action="store_true", help="skip the agreement table")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--render", type=Path, help="write a PNG of one group photo")
    parser.add_argument("--render-image", default="ultralight/9.jpg")
    args = parser.parse_args()

    import torch

    from facestream.models.detector import FaceDetector

    if args.threads:
        torch.set_num_threads(args.threads)

    paths = list_stills(args.stills)
    reference = mediapipe_detections(paths)
    print(f"{len(paths)} stills")
    header = ("variant", "MP faces", "ours", "found", "IoU>=.9", "agree %", "med IoU", "kp err %")
    if not args.no_agreement:
        print(("{:>9}" * len(header)).format(*header), "  (found: IoU >= .5; kp err: % of box)")
    for variant in () if args.no_agreement else MODEL_SELECTION:
        a = compare(FaceDetector(variant), paths, reference, variant)
        agree = 100 * a.agreeing / max(a.mediapipe_faces, 1)
        row = (a.mediapipe_faces, a.our_faces, a.found, a.agreeing)
        print(f"{variant:>9}" + ("{:>9d}" * 4).format(*row), end="")
        print(
            f"{agree:>9.1f}{statistics.median(a.ious):>9.4f}{statistics.median(a.keypoint_errors):>9.3f}"
        )
        for line in a.notes:
            print(f"    {line}")
    if args.latency:
        print(f"latency (ms), {args.latency} stills x {args.repeat} runs, torch threads", end=" ")
        print(f"{torch.get_num_threads()}; per round: ours / MediaPipe = ratio")
        for variant, rows in latency(paths[: args.latency], args.repeat, args.rounds).items():
            cells = [f"{ours:.2f} / {theirs:.2f} = {ours / theirs:.2f}x" for ours, theirs in rows]
            ratio = statistics.median(ours / theirs for ours, theirs in rows)
            print(f"  {variant}: {'; '.join(cells)}; median ratio {ratio:.2f}x")
    if args.render:
        render(args.stills / args.render_image, args.render, reference)
        print(f"wrote {args.render}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--mediapipe-worker"]:
        _mediapipe_worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
