"""Teacher labels: MediaPipe Face Mesh (478 points with iris) on the project's face data.

Labels the faces300w crops (train and eval), every face in the stills, and frames sampled
from the talking-head videos, and writes npz files under ``$FACESTREAM_CACHE/labels/``
(default ``~/.cache/facestream/labels/``). The format is described in ``docs/LABELS.md``.

``mediapipe==0.10.21`` needs numpy<2, so this file runs in its own virtual environment
(``.venv-mp``, created by ``make labels``) and imports only numpy, cv2 and mediapipe; run it
by path::

    .venv-mp/bin/python models/train/labels.py --data ../shared/data

Video frames are decoded with ``cv2.VideoCapture``: this is offline labelling, not streaming,
and the labelling venv has no PyAV. Kept frames are saved as JPEG so training never decodes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import mediapipe as mp
import numpy as np

NUM_MESH = 478
# Outer eye corners of the mesh (subject's right, subject's left): the scale of a face.
EYE_CORNERS = (33, 263)
# A detection box is cropped at this multiple of its side, then resized to CROP_SIZE pixels,
# so Face Mesh sees every face, however small or large, at the size it works best at.
CROP_MARGIN = 2.0
CROP_SIZE = 256
# Faces whose detection box is smaller than this are too blurry to teach anything.
MIN_FACE_PX = 24
# Video sampling: at most SAMPLE_FPS frames per second are labelled; a sampled frame is kept
# only if its largest face moved by more than MIN_MOTION since the last kept frame (the 90th
# percentile of vertex displacements, in eye-corner distances: a mouth opening counts, Face
# Mesh's own jitter of about 1% does not); at most MAX_FRAMES_PER_CLIP per clip.
SAMPLE_FPS = 5.0
MIN_MOTION = 0.06
MAX_FRAMES_PER_CLIP = 40
JPEG_QUALITY = 95


@dataclass
class Face:
    """One labelled face: mesh (478, 3) in image pixels (pixel centres), detector score, box."""

    mesh: np.ndarray
    score: float
    box: np.ndarray


class FaceTable:
    """The columns of a label file with one row per face: where it was found, then the face."""

    INT_COLUMNS = ("frame", "face")

    def __init__(self, *where: str) -> None:
        self.columns: dict[str, list[Any]] = {key: [] for key in (*where, "face")}
        self.faces: list[Face] = []

    def add(self, faces: list[Face], **where: Any) -> None:
        """One row per face of ``faces``, all found at ``where`` (numbered in order)."""
        for i, face in enumerate(faces):
            for key, value in {**where, "face": i}.items():
                self.columns[key].append(value)
            self.faces.append(face)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            key: np.array(values, np.int32 if key in self.INT_COLUMNS else None)
            for key, values in self.columns.items()
        }
        arrays["mesh"] = np.array([f.mesh for f in self.faces], np.float32).reshape(-1, NUM_MESH, 3)
        arrays["score"] = np.array([f.score for f in self.faces], np.float32)
        arrays["box"] = np.array([f.box for f in self.faces], np.float32).reshape(-1, 4)
        return arrays


class Progress:
    """A minimal progress bar on stderr (the labelling venv has no tqdm)."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done, self.start = total, desc, 0, time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.start, 1e-6)
        sys.stderr.write(
            f"\r{self.desc:>10} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {rate:5.1f}/s"
        )
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


class FaceLabeler:
    """Finds every face with two BlazeFace detectors, then runs Face Mesh on a crop of each.

    Face Mesh alone detects with the short-range model on the whole image and misses the
    small faces of group photos and wide shots; the full-range detector finds those.
    """

    def __init__(self) -> None:
        detection = mp.solutions.face_detection
        self.detectors = [
            detection.FaceDetection(model_selection=0, min_detection_confidence=0.5),
            detection.FaceDetection(model_selection=1, min_detection_confidence=0.5),
        ]
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=3,
            refine_landmarks=True,
            min_detection_confidence=0.3,
        )
        self.too_small = 0

    def close(self) -> None:
        for detector in self.detectors:
            detector.close()
        self.mesh.close()

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes (x0, y0, x1, y1) in pixels and scores of both detectors, duplicates merged."""
        h, w = rgb.shape[:2]
        found: list[tuple[np.ndarray, float]] = []
        for detector in self.detectors:
            for det in detector.process(rgb).detections or []:
                rb = det.location_data.relative_bounding_box
                box = np.array(
                    [rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h],
                    np.float32,
                )
                found.append((box, float(det.score[0])))
        found.sort(key=lambda item: -item[1])
        kept: list[tuple[np.ndarray, float]] = []
        for box, score in found:
            if all(box_iou(box, other) < 0.3 for other, _ in kept):
                kept.append((box, score))
        return kept

    def mesh_in_box(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Face Mesh on a square crop around ``box``; the face nearest the crop centre."""
        side = CROP_MARGIN * float(max(box[2] - box[0], box[3] - box[1]))
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x0, y0 = cx - side / 2, cy - side / 2  # crop origin, pixel-edge coordinates
        s = CROP_SIZE / side
        # Pixel-centre affine from the image to the crop (black outside the image).
        m = np.array([[s, 0, s * (0.5 - x0) - 0.5], [0, s, s * (0.5 - y0) - 0.5]], np.float64)
        crop = cv2.warpAffine(rgb, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_AREA)
        result = self.mesh.process(crop)
        best, best_d = None, np.inf
        for landmarks in result.multi_face_landmarks or []:
            lm = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float64)
            d = float(np.hypot(*(lm[:, :2].mean(0) - 0.5)))
            if d < best_d:
                best, best_d = lm, d
        if best is None or best_d > 0.25:
            return None
        mesh = np.empty((NUM_MESH, 3), np.float32)
        # Normalised crop coordinates are pixel-edge based: back to image pixel centres.
        mesh[:, 0] = x0 + best[:, 0] * CROP_SIZE / s - 0.5
        mesh[:, 1] = y0 + best[:, 1] * CROP_SIZE / s - 0.5
        mesh[:, 2] = best[:, 2] * CROP_SIZE / s  # MediaPipe's z is scaled like x
        return mesh

    def faces(self, rgb: np.ndarray) -> list[Face]:
        """Every face in an RGB image, largest first."""
        out: list[Face] = []
        for box, score in self.detect(rgb):
            if max(box[2] - box[0], box[3] - box[1]) < MIN_FACE_PX:
                self.too_small += 1
                continue
            mesh = self.mesh_in_box(rgb, box)
            # Two boxes on one face give one mesh twice: keep the first (higher score).
            if mesh is not None and not any(same_face(mesh, f.mesh) for f in out):
                out.append(Face(mesh, score, box))
        out.sort(key=lambda f: -eye_distance(f.mesh))
        return out


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def eye_distance(mesh: np.ndarray) -> float:
    return float(np.linalg.norm(mesh[EYE_CORNERS[0], :2] - mesh[EYE_CORNERS[1], :2]))


def same_face(a: np.ndarray, b: np.ndarray) -> bool:
    return float(displacements(a, b).mean()) < 0.3


def displacements(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2D displacement of every vertex between two meshes, in eye-corner distances."""
    scale = max(eye_distance(a), eye_distance(b), 1e-6)
    return np.linalg.norm(a[:, :2] - b[:, :2], axis=1) / scale


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"Cannot read image {path}.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def nan_mesh() -> np.ndarray:
    return np.full((NUM_MESH, 3), np.nan, np.float32)


def label_faces300w(labeler: FaceLabeler, data: Path) -> dict[str, np.ndarray]:
    """One mesh per crop: the detected face nearest the crop centre (NaN when missed)."""
    with open(data / "faces300w" / "landmarks.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    sources, splits, meshes, scores, humans = [], [], [], [], []
    progress = Progress(len(rows), "faces300w")
    for row in rows:
        source = f"faces300w/{row['split']}/{row['file']}"
        rgb = read_rgb(data / source)
        centre = np.array([rgb.shape[1], rgb.shape[0]], np.float32) / 2 - 0.5
        faces = labeler.faces(rgb)
        near = [
            f for f in faces if np.linalg.norm(f.mesh[:, :2].mean(0) - centre) < 0.2 * rgb.shape[1]
        ]
        face = min(near, key=lambda f: np.linalg.norm(f.mesh[:, :2].mean(0) - centre), default=None)
        sources.append(source)
        splits.append(row["split"])
        meshes.append(face.mesh if face else nan_mesh())
        scores.append(face.score if face else np.nan)
        humans.append([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
        progress.update()
    return {
        "source": np.array(sources),
        "split": np.array(splits),
        "mesh": np.stack(meshes).astype(np.float32),
        "score": np.array(scores, np.float32),
        "human": np.array(humans, np.float32),
    }


def label_stills(labeler: FaceLabeler, data: Path) -> tuple[dict[str, np.ndarray], int]:
    """Every face of every still; returns the arrays and the number of images with no face."""
    paths = sorted((data / "stills").rglob("*.jpg"))
    table = FaceTable("source")
    empty = 0
    progress = Progress(len(paths), "stills")
    for path in paths:
        faces = labeler.faces(read_rgb(path))
        empty += not faces
        table.add(faces, source=path.relative_to(data).as_posix())
        progress.update()
    return table.arrays(), empty


def moved(faces: list[Face], last: list[Face]) -> bool:
    """A new face count, or the largest face moved enough, since the last kept frame."""
    if len(faces) != len(last):
        return True
    return float(np.percentile(displacements(faces[0].mesh, last[0].mesh), 90)) > MIN_MOTION


def label_clip(
    labeler: FaceLabeler, path: Path
) -> tuple[list[tuple[int, bytes, list[Face]]], dict]:
    """Sampled frames of one clip whose faces moved enough, as (index, JPEG, faces)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"Cannot open video {path}.")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(fps / SAMPLE_FPS))
    kept: list[tuple[int, bytes, list[Face]]] = []
    stats = {"sampled": 0, "no_face": 0, "near_duplicate": 0}
    index = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if index % step == 0:
            stats["sampled"] += 1
            faces = labeler.faces(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if not faces:
                stats["no_face"] += 1
            elif kept and not moved(faces, kept[-1][2]):
                stats["near_duplicate"] += 1
            else:
                ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                kept.append((index, jpeg.tobytes(), faces))
        index += 1
    cap.release()
    if len(kept) > MAX_FRAMES_PER_CLIP:
        # Evenly over the clip rather than its first seconds.
        picks = np.linspace(0, len(kept) - 1, MAX_FRAMES_PER_CLIP).round().astype(int)
        stats["over_cap"] = len(kept) - MAX_FRAMES_PER_CLIP
        kept = [kept[i] for i in picks]
    return kept, stats


def label_videos(
    labeler: FaceLabeler, data: Path, out: Path
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Faces of the kept frames of every clip; frames are written to ``out/frames/``."""
    paths = sorted((data / "videos").rglob("*.mp4"))
    shutil.rmtree(out / "frames", ignore_errors=True)  # frames of an earlier run
    table = FaceTable("source", "frame", "jpeg")
    totals = {"sampled": 0, "no_face": 0, "near_duplicate": 0, "over_cap": 0, "kept": 0}
    progress = Progress(len(paths), "videos")
    for path in paths:
        source = path.relative_to(data).as_posix()
        kept, stats = label_clip(labeler, path)
        for key, value in stats.items():
            totals[key] += value
        totals["kept"] += len(kept)
        for index, jpeg, faces in kept:
            name = f"frames/{Path(source).with_suffix('').as_posix()}/{index:06d}.jpg"
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(jpeg)
            table.add(faces, source=source, frame=index, jpeg=name)
        progress.update()
    return table.arrays(), totals


def save(path: Path, data_root: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an npz atomically (temporary name, then rename)."""
    tmp = path.with_name(path.stem + ".tmp.npz")
    payload: dict[str, Any] = {"data_root": np.array(str(data_root)), **arrays}
    np.savez_compressed(tmp, **payload)
    os.replace(tmp, path)


def default_cache() -> Path:
    """``$FACESTREAM_CACHE``, default ``~/.cache/facestream`` (``mesh_to_ibug.cache_dir``; this
    file cannot import the project, it runs in the labelling venv)."""
    return Path(os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream"))


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=None, help="default: $FACESTREAM_CACHE")
    args = parser.parse_args(argv)
    data = args.data.resolve()
    if not (data / "faces300w" / "landmarks.csv").is_file():
        print(f"No face data at {data} (expected faces300w/landmarks.csv).", file=sys.stderr)
        return 1
    out = (args.cache or default_cache()) / "labels"
    out.mkdir(parents=True, exist_ok=True)

    labeler = FaceLabeler()
    try:
        crops = label_faces300w(labeler, data)
        save(out / "faces300w.npz", data, crops)
        stills, stills_empty = label_stills(labeler, data)
        save(out / "stills.npz", data, stills)
        videos, video_stats = label_videos(labeler, data, out)
        save(out / "videos.npz", data, videos)
    finally:
        labeler.close()

    found = np.isfinite(crops["mesh"][:, 0, 0])
    summary = {
        "faces300w": {
            split: {
                "crops": int((crops["split"] == split).sum()),
                "missed": int(((crops["split"] == split) & ~found).sum()),
            }
            for split in ("train", "eval")
        },
        "stills": {
            "images": len(set(stills["source"].tolist())) + stills_empty,
            "faces": len(stills["source"]),
            "images_without_face": stills_empty,
        },
        "videos": {
            **video_stats,
            "clips": len(set(videos["source"].tolist())),
            "faces": len(videos["source"]),
        },
        "faces_too_small": labeler.too_small,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"Labels written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
