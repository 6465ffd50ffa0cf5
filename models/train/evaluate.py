"""Evaluate landmarks on a 68-point labelled set (prints one JSON object).

Runs the product's own path on each image: our BlazeFace detector, then `LandmarkEngine`
(the engine's crop from the detection, the model, the heatmap decoding), so the figure is
what users get. With
``--box-from-labels`` the crop comes from the labelled points' box instead (the 300-W
protocol: detection left out). Peers run in the same call when their environments exist:
MediaPipe Face Mesh + the ridge mapping (read from the teacher-label cache) and dlib's
68-point predictor with its HOG detector (``--dlib-python``, ``--dlib-model``).

Example:
    facestream eval --variant hrnet128_lite \\
        --labels ../shared/data/faces300w/landmarks.csv --images ../shared/data/faces300w \\
        --split eval
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facestream.models.train.metrics import interocular, nme_summary, point_errors
from facestream.stream.errors import UserError


@dataclass(frozen=True)
class LabelledSet:
    """Images and their human 68 points, from a CSV in the faces300w format."""

    files: list[str]  # relative to the images folder (``split/file`` for faces300w)
    paths: list[Path]
    points: np.ndarray  # (N, 68, 2) float32, image pixels


def read_labelled_set(labels: Path, images: Path, split: str | None = None) -> LabelledSet:
    """Read a faces300w-style CSV (``split,file,...,x0,y0,...,x67,y67``).

    Image paths are ``images/split/file`` when that exists, else ``images/file``.
    """
    if not labels.is_file():
        raise UserError(f"No labels file at {labels}.")
    files, paths, points = [], [], []
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            if split is not None and row.get("split") != split:
                continue
            rel = f"{row['split']}/{row['file']}" if row.get("split") else row["file"]
            path = images / rel if (images / rel).is_file() else images / row["file"]
            if not path.is_file():
                raise UserError(f"Image {row['file']} of {labels.name} is not in {images}.")
            files.append(rel)
            paths.append(path)
            points.append([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
    if not files:
        raise UserError(
            f"No labelled faces in {labels}" + (f" for split {split!r}." if split else ".")
        )
    return LabelledSet(files, paths, np.asarray(points, np.float32))


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"Cannot read image {path}.")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def match_face(boxes: np.ndarray, truth68: np.ndarray) -> int:
    """Index of the box that is the labelled face, or -1.

    A box matches when its centre lies inside the labelled points' box and the labelled
    centre lies inside it; the nearest centre wins among matches.
    """
    if len(boxes) == 0:
        return -1
    lo, hi = truth68.min(0), truth68.max(0)
    centre = (lo + hi) / 2
    box_centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = ((box_centres >= lo) & (box_centres <= hi)).all(1)
    holds = ((boxes[:, :2] <= centre) & (boxes[:, 2:] >= centre)).all(1)
    ok = np.flatnonzero(inside & holds)
    if len(ok) == 0:
        return -1
    return int(ok[np.argmin(np.linalg.norm(box_centres[ok] - centre, axis=1))])


def summarise(pred: np.ndarray, truth: np.ndarray, found: np.ndarray) -> dict:
    """The JSON figures of one method: NME over the faces it found, and how many it found."""
    out: dict = {"faces": int(len(truth)), "found": float(found.mean())}
    if found.any():
        out.update(nme_summary(pred[found], truth[found]))
    return out


def run_ours(
    data: LabelledSet,
    variant: str,
    weights: str | None,
    box_from_labels: bool,
    detector_variant: str = "any",
) -> tuple[np.ndarray, np.ndarray]:
    """Our 128 points per face (NaN where no face was found) and the found mask.

    The product's path: our BlazeFace detector (``"any"``: full range, then short range
    where it finds nothing, as `LandmarkEngine.track` creates it; or one of the two
    alone), then `LandmarkEngine.predict` on the detection; with
    ``box_from_labels`` the engine crops from the labelled points instead.
    """
    from facestream.models.detector import AnyRangeDetector, FaceDetector
    from facestream.models.engine import LandmarkEngine
    from facestream.models.hrnet import WeightsError

    try:
        engine = LandmarkEngine(variant, weights=weights or "default", device="cpu")
    except WeightsError as exc:
        raise UserError(str(exc)) from None
    detector = AnyRangeDetector() if detector_variant == "any" else FaceDetector(detector_variant)
    pred = np.full((len(data.files), 128, 2), np.nan, np.float32)
    for i, path in enumerate(data.paths):
        image = read_rgb(path)
        if box_from_labels:
            pred[i] = engine.predict(image, data.points[i : i + 1])[0].points
            continue
        detections = detector.detect(image)
        k = match_face(np.array([d.box for d in detections]).reshape(-1, 4), data.points[i])
        if k >= 0:
            pred[i] = engine.predict(image, [detections[k]])[0].points
    return pred, np.asarray(np.isfinite(pred).all(axis=(1, 2)))


def run_dlib(data: LabelledSet, python: Path, model: Path) -> tuple[np.ndarray, np.ndarray]:
    """dlib's 68 points (its HOG detector, then its shape predictor) in its own environment."""
    script = Path(__file__).with_name("peer_dlib.py")
    stdin = "".join(f"{p.resolve()}\n" for p in data.paths)
    done = subprocess.run(
        [str(python), str(script), str(model)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    pred = np.full((len(data.files), 68, 2), np.nan, np.float32)
    for i, line in enumerate(done.stdout.splitlines()):
        faces = json.loads(line)["faces"]
        boxes = np.array([f["box"] for f in faces], np.float32).reshape(-1, 4)
        k = match_face(boxes, data.points[i])
        if k >= 0:
            pred[i] = faces[k]["points"]
    return pred, np.asarray(np.isfinite(pred).all(axis=(1, 2)))


def teacher_for(data: LabelledSet) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached Face Mesh of each image (NaN where none), and the mapped 68 points.

    ``None`` when no label cache covers these images.
    """
    from facestream.models.train.label_store import cache_dir
    from facestream.models.train.mesh_to_ibug import MeshToIbug

    labels = cache_dir() / "labels"
    if not (labels / "faces300w.npz").is_file() or not (labels / "mesh_to_ibug.npz").is_file():
        return None
    with np.load(labels / "faces300w.npz") as f:
        root = Path(str(f["data_root"]))
        by_path = {
            (root / str(s)).resolve(): m for s, m in zip(f["source"], f["mesh"], strict=True)
        }
    meshes = np.stack(
        [by_path.get(p.resolve(), np.full((478, 3), np.nan, np.float32)) for p in data.paths]
    )
    if not np.isfinite(meshes).any():
        return None
    mapping = MeshToIbug.load(labels / "mesh_to_ibug.npz")
    mapped = np.full((len(meshes), 68, 2), np.nan, np.float32)
    ok = np.isfinite(meshes).all((1, 2))
    if ok.any():
        mapped[ok] = mapping.predict(meshes[ok])
    return meshes, mapped


def evaluate(args: argparse.Namespace) -> dict:
    """All figures of one ``facestream eval`` call."""
    from facestream.models.landmarks import teacher_points

    data = read_labelled_set(args.labels, args.images, args.split)
    pred, found = run_ours(data, args.variant, args.weights, args.box_from_labels, args.detector)
    result: dict = {
        "variant": args.variant,
        "protocol": "box_from_labels" if args.box_from_labels else f"detector_{args.detector}",
        **summarise(pred[:, :68], data.points, found),
    }
    peers: dict = {}
    teacher = teacher_for(data)
    if teacher is None:
        result["extra60_teacher_error"] = None
        peers["mediapipe_ridge"] = "not run: no teacher-label cache for these images"
    else:
        meshes, mapped = teacher
        has_mesh = np.isfinite(meshes).all((1, 2))
        both = found & has_mesh
        extra = teacher_points(np.nan_to_num(meshes[..., :2]))
        err = 100 * np.linalg.norm(pred[both, 68:] - extra[both], axis=-1)
        err /= interocular(data.points[both])[:, None]
        result["extra60_teacher_error"] = float(err.mean()) if both.any() else None
        peers["mediapipe_ridge"] = summarise(mapped, data.points, has_mesh)
    if args.dlib_python and args.dlib_model:
        dlib_pred, dlib_found = run_dlib(data, args.dlib_python, args.dlib_model)
        peers["dlib"] = summarise(dlib_pred, data.points, dlib_found)
    else:
        peers["dlib"] = "not run: give --dlib-python and --dlib-model"
    result["peers"] = peers
    if args.render_worst:
        result["worst"] = render_worst(data, pred, found, args.render_worst, args.render_dir)
    return result


def render_worst(data: LabelledSet, pred: np.ndarray, found: np.ndarray, n: int, out: Path) -> list:
    """Draw the ``n`` worst found faces in one grid PNG, ``out/worst_faces.png``.

    Human labels are green, our iBUG points red, our 60 extra points blue. Returns the
    files and NMEs of the faces drawn, worst first.
    """
    per_face = np.full(len(data.files), -1.0)
    per_face[found] = point_errors(pred[found, :68], data.points[found]).mean(1)
    order = [i for i in np.argsort(-per_face)[:n] if per_face[i] >= 0]
    tile = 320
    tiles = []
    for i in order:
        image = read_rgb(data.paths[i])
        scale = tile / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.zeros((tile, tile, 3), np.uint8)
        canvas[: image.shape[0], : image.shape[1]] = image
        for x, y in data.points[i] * scale:
            cv2.circle(canvas, (round(x), round(y)), 2, (0, 220, 0), -1)
        for k, (x, y) in enumerate(pred[i] * scale):
            colour = (255, 40, 40) if k < 68 else (60, 140, 255)
            cv2.circle(canvas, (round(x), round(y)), 2, colour, -1)
        label = f"{Path(data.files[i]).name}  NME {per_face[i]:.1f}%"
        cv2.putText(canvas, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tiles.append(canvas)
    if tiles:
        cols = min(4, len(tiles))
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        rows = [np.hstack(tiles[r : r + cols]) for r in range(0, len(tiles), cols)]
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / "worst_faces.png"), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return [{"file": data.files[i], "nme": float(per_face[i])} for i in order]
