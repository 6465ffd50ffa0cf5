"""Regenerate the constants of the 128-point scheme (`models/landmarks.py`).

Two steps, because MediaPipe needs its own virtual environment (numpy<2):

1. ``extract`` (run with the MediaPipe venv) runs MediaPipe Face Mesh (478 points, refined
   irises) and MediaPipe's BlazeFace short-range detector on every 300-W crop and saves the
   results beside the human 68-point labels::

       .venv-mp/bin/python models/landmarks_tools.py extract --out /tmp/mp300w.npz

2. ``constants`` (run with the project venv) aligns all faces to one frame (similarity
   Procrustes on the iBUG points), averages the human iBUG points and the teacher points of
   the 60 extra points into ``MEAN_SHAPE``, calibrates the detector keypoint template and
   computes the Delaunay triangulation, then prints the Python literals to paste into
   ``models/landmarks.py``::

       .venv/bin/python models/landmarks_tools.py constants --npz /tmp/mp300w.npz

3. ``docs`` (project venv) writes ``docs/LANDMARKS.md`` (the point table) and its figure.

``overlay`` (MediaPipe venv) draws the mesh and the 60 teacher points on photos, to check
the vertex choices by eye::

    .venv-mp/bin/python models/landmarks_tools.py overlay PHOTO.jpg ... --out /tmp/overlay

The 300-W data is read in place from ``../shared/data/faces300w`` and never copied.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces300w"


def read_300w(data: Path = DATA) -> tuple[list[str], np.ndarray]:
    """Relative image paths and human iBUG points (N, 68, 2) of every 300-W crop."""
    files, points = [], []
    with open(data / "landmarks.csv") as f:
        for row in csv.DictReader(f):
            files.append(f"{row['split']}/{row['file']}")
            points.append([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
    return files, np.asarray(points, np.float32)


def extract(out: Path, data: Path = DATA) -> None:
    """Run MediaPipe Face Mesh and face detection on every 300-W crop (MediaPipe venv)."""
    import cv2
    import mediapipe as mp

    files, human = read_300w(data)
    mesh_model = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=True
    )
    det_model = mp.solutions.face_detection.FaceDetection(
        model_selection=0, min_detection_confidence=0.3
    )
    n = len(files)
    mesh = np.full((n, 478, 2), np.nan, np.float32)
    keypoints = np.full((n, 6, 2), np.nan, np.float32)
    boxes = np.full((n, 4), np.nan, np.float32)
    for i, name in enumerate(files):
        bgr = cv2.imread(str(data / name))
        if bgr is None:
            raise SystemExit(f"cannot read {data / name}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        size = np.array([w, h], np.float32)
        res = mesh_model.process(rgb)
        if res.multi_face_landmarks:
            lm = res.multi_face_landmarks[0].landmark
            mesh[i] = np.array([[p.x, p.y] for p in lm], np.float32) * size
        det = det_model.process(rgb)
        if det.detections:
            # The face nearest the crop centre (crops are centred on the labelled face).
            best = min(
                det.detections,
                key=lambda d: (
                    (
                        d.location_data.relative_bounding_box.xmin
                        + d.location_data.relative_bounding_box.width / 2
                        - 0.5
                    )
                    ** 2
                ),
            )
            loc = best.location_data
            kp = loc.relative_keypoints
            keypoints[i] = np.array([[k.x, k.y] for k in kp], np.float32) * size
            b = loc.relative_bounding_box
            boxes[i] = (
                np.array([b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height]) * np.r_[size, size]
            )
        if i % 200 == 0:
            print(f"{i}/{n}", file=sys.stderr)
    np.savez_compressed(
        out, files=np.array(files), human=human, mesh=mesh, keypoints=keypoints, boxes=boxes
    )
    print(
        f"wrote {out}: {np.isfinite(mesh[:, 0, 0]).sum()} meshes, "
        f"{np.isfinite(keypoints[:, 0, 0]).sum()} detections of {n}"
    )


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2, 3) mapping points src (K, 2) onto dst (K, 2)."""
    ms, md = src.mean(0), dst.mean(0)
    s, t = src - ms, dst - md
    norm = (s**2).sum()
    a = (s * t).sum() / norm
    b = (s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum() / norm
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (md - rot @ ms)[:, None]])


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def aligned_faces(npz: Path) -> dict[str, np.ndarray]:
    """Human points, meshes and detector keypoints, all similarity-aligned to the mean iBUG."""
    d = np.load(npz)
    human = d["human"].astype(np.float64)
    ok = np.isfinite(d["mesh"][:, 0, 0]) & np.isfinite(d["keypoints"][:, 0, 0])
    ref = human[0]
    for _ in range(5):  # generalised Procrustes on the human iBUG points
        ref = np.mean([apply_affine(similarity_fit(h, ref), h) for h in human], 0)
        ref = (ref - ref.mean(0)) / np.sqrt(((ref - ref.mean(0)) ** 2).sum(1).mean())
    out: dict[str, list[np.ndarray]] = {"human": [], "mesh": [], "keypoints": []}
    for i in np.flatnonzero(ok):
        a = similarity_fit(human[i], ref)
        out["human"].append(apply_affine(a, human[i]))
        out["mesh"].append(apply_affine(a, d["mesh"][i].astype(np.float64)))
        out["keypoints"].append(apply_affine(a, d["keypoints"][i].astype(np.float64)))
    return {k: np.asarray(v) for k, v in out.items()}


def mean_shape(faces: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric (128, 2) template spanning [0, 1] in its larger side, and the matching
    (6, 2) mean BlazeFace keypoints in the same frame."""
    from facestream.models.landmarks import FLIP_PERMUTATION, teacher_points

    shape = np.concatenate([faces["human"].mean(0), teacher_points(faces["mesh"]).mean(0)])
    keypoints = faces["keypoints"].mean(0)
    # Mirror about the vertical through the centroid and average: exactly symmetric.
    cx = shape[:, 0].mean()
    mirrored = shape.copy()
    mirrored[:, 0] = 2 * cx - mirrored[:, 0]
    shape = (shape + mirrored[FLIP_PERMUTATION]) / 2
    kp_mirrored = keypoints.copy()
    kp_mirrored[:, 0] = 2 * cx - kp_mirrored[:, 0]
    keypoints = (keypoints + kp_mirrored[[1, 0, 2, 3, 5, 4]]) / 2
    lo, hi = shape.min(0), shape.max(0)
    scale = (hi - lo).max()
    centre = (lo + hi) / 2
    return (shape - centre) / scale + 0.5, (keypoints - centre) / scale + 0.5


def triangulate(shape: np.ndarray) -> np.ndarray:
    """Delaunay triangles of the template, kept inside the face outline, counter-clockwise.

    Raises if a polygon edge (outline, lips, eyes) is not a triangle edge: then some triangle
    would bridge an opening and fold when the mouth or the eyes open.
    """
    from matplotlib.path import Path as MplPath
    from scipy.spatial import Delaunay

    from facestream.models.landmarks import (
        FACE_OUTLINE,
        INNER_MOUTH,
        LEFT_EYE,
        OUTER_MOUTH,
        RIGHT_EYE,
    )

    tri = Delaunay(shape).simplices
    tri = tri[MplPath(shape[FACE_OUTLINE]).contains_points(shape[tri].mean(1))]
    a, b, c = shape[tri[:, 0]], shape[tri[:, 1]], shape[tri[:, 2]]
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    tri[cross < 0] = tri[cross < 0][:, [0, 2, 1]]
    edges = {frozenset(e) for t in tri.tolist() for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    for poly in (FACE_OUTLINE, OUTER_MOUTH, INNER_MOUTH, LEFT_EYE, RIGHT_EYE):
        for e in zip(poly.tolist(), np.roll(poly, -1).tolist(), strict=True):
            if frozenset(e) not in edges:
                raise RuntimeError(f"polygon edge {e} is not a triangle edge")
    return tri[np.lexsort(tri.T[::-1])]


def min_angles(shape: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Smallest interior angle of each triangle, in degrees."""
    p = shape[tri]
    angles = []
    for k in range(3):
        u = p[:, (k + 1) % 3] - p[:, k]
        v = p[:, (k + 2) % 3] - p[:, k]
        cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.min(angles, axis=0)


def _rows(values: list[str], per_line: int) -> str:
    return "\n".join(
        "    " + " ".join(values[i : i + per_line]) for i in range(0, len(values), per_line)
    )


def constants(npz: Path) -> None:
    """Print MEAN_SHAPE, TRIANGLES (for landmarks.py) and DETECTION_TEMPLATE (crops.py)."""
    faces = aligned_faces(npz)
    shape, keypoints = mean_shape(faces)
    tri = triangulate(shape)
    ang = min_angles(shape, tri)
    print(
        f"# {len(faces['human'])} faces; {len(tri)} triangles; smallest angle "
        f"{ang.min():.1f} deg, 5th percentile {np.percentile(ang, 5):.1f} deg"
    )
    for name, values, per_line, dtype in (
        ("MEAN_SHAPE", [f"[{x:.4f}, {y:.4f}]," for x, y in shape], 4, "float32"),
        ("TRIANGLES", [f"[{a}, {b}, {c}]," for a, b, c in tri], 5, "int64"),
        ("DETECTION_TEMPLATE", [f"[{x:.4f}, {y:.4f}]," for x, y in keypoints], 2, "float32"),
    ):
        print(f"# fmt: off\n{name} = np.array([\n{_rows(values, per_line)}\n], dtype=np.{dtype})")
        print("# fmt: on")


def _scheme():
    """The scheme module, also from the MediaPipe venv where facestream is not installed."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_scheme", Path(__file__).with_name("landmarks.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def overlay(images: list[Path], out_dir: Path) -> None:
    """Draw the 478 mesh vertices (grey) and the 60 teacher points (numbered) on photos, to
    check the vertex choices by eye (MediaPipe venv)."""
    import cv2
    import mediapipe as mp

    scheme = _scheme()
    out_dir.mkdir(parents=True, exist_ok=True)
    model = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=4, refine_landmarks=True
    )
    for path in images:
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        h, w = bgr.shape[:2]
        res = model.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        for i, face in enumerate(res.multi_face_landmarks or []):
            mesh = np.array([[p.x * w, p.y * h] for p in face.landmark])
            # Crop around the face and enlarge it to 800 px so that the labels are legible.
            lo, hi = mesh.min(0), mesh.max(0)
            size = (hi - lo).max() * 1.3
            x0, y0 = (lo + hi) / 2 - size / 2
            zoom = 800 / size
            to_crop = np.array([[zoom, 0, -x0 * zoom], [0, zoom, -y0 * zoom]])
            crop = cv2.warpAffine(bgr, to_crop, (800, 800), flags=cv2.INTER_LINEAR)
            mesh = mesh * zoom - [x0 * zoom, y0 * zoom]
            for x, y in mesh.astype(int):
                cv2.circle(crop, (x, y), 1, (160, 160, 160), -1)
            for k, (x, y) in enumerate(scheme.teacher_points(mesh).astype(int)):
                cv2.circle(crop, (x, y), 3, (0, 0, 255), -1)
                cv2.putText(crop, str(68 + k), (x + 3, y - 3), 0, 0.35, (255, 255, 0), 1)
            cv2.imwrite(str(out_dir / f"{path.parent.name}_{path.stem}_{i}.png"), crop)


def write_docs(markdown: Path, figure: Path) -> None:
    """Write the point table (markdown) and the template figure with indices and triangles."""
    import cv2

    from facestream.models import landmarks as lm

    size = 1100
    img = np.full((size, size, 3), 255, np.uint8)
    pixels = (lm.MEAN_SHAPE * 0.9 * size + 0.05 * size).round().astype(np.int32)
    for tri in lm.TRIANGLES:
        cv2.polylines(img, [pixels[tri]], True, (200, 200, 200), 1, cv2.LINE_AA)
    for poly in (lm.FACE_OUTLINE, lm.OUTER_MOUTH, lm.INNER_MOUTH, lm.LEFT_EYE, lm.RIGHT_EYE):
        cv2.polylines(img, [pixels[poly]], True, (0, 140, 255), 1, cv2.LINE_AA)  # BGR orange
    for i, (x, y) in enumerate(pixels):
        colour = (0, 130, 0) if i < 68 else (200, 0, 0)  # BGR: green iBUG, blue extra
        cv2.circle(img, (int(x), int(y)), 3, colour, -1, cv2.LINE_AA)
        cv2.putText(img, str(i), (int(x) + 4, int(y) - 4), 0, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(figure), img)

    lines = [
        "# The 128-point landmark scheme",
        "",
        "Generated by `python models/landmarks_tools.py docs` from `models/landmarks.py`; do not",
        "edit by hand. Indices 0-67 are the iBUG 300-W points in their standard order (teacher:",
        "the human label); 68-127 are the extra points, each defined on MediaPipe Face Mesh",
        "vertices (refined mesh, 478 vertices; 468 and 473 are the iris centres). Right and left",
        "are the subject's own sides. Green: iBUG points; blue: extra points; orange: the face",
        "outline, lip and eye polygons; grey: the fixed triangulation (`TRIANGLES`).",
        "",
        f"![template]({figure.name})",
        "",
        "## How the constants were made",
        "",
        "- `MEAN_SHAPE`: 1,375 300-W faces (train + eval) aligned by generalised Procrustes on",
        "  their human iBUG points; the iBUG part is the mean of the human labels, the extra",
        "  points the mean of their teacher definitions on MediaPipe Face Mesh run on the same",
        "  crops; then mirrored and averaged (exactly symmetric) and scaled to [0, 1] in height.",
        "- Jaw and lip extras sit between two iBUG points: each is the mesh vertex, or midpoint of",
        "  two contour vertices, with the least mean distance to the midpoint of the two human",
        "  points, chosen jointly with its mirror partner (mean errors 2-8% of the eye-corner",
        "  distance; the jaw is the least certain, as it is for human labellers).",
        "- `TRIANGLES`: Delaunay of `MEAN_SHAPE` inside `FACE_OUTLINE`; every edge of the outline,",
        "  lip and eye polygons is a triangle edge (no triangle bridges the mouth or an eye);",
        "  smallest angle 7.6 degrees. A row of chin points keeps the triangles between the dense",
        "  lower lip and the jaw from becoming slivers.",
        "- `facestream.models.crops.DETECTION_TEMPLATE`: mean BlazeFace keypoints (MediaPipe's",
        "  short-range detector) on the same aligned faces, so that a crop cut from a detection",
        "  matches a crop cut from landmarks.",
        "",
        "To redo them (and check the vertex choices on photos):",
        "",
        "```",
        ".venv-mp/bin/python models/landmarks_tools.py extract --out /tmp/mp300w.npz",
        ".venv/bin/python models/landmarks_tools.py constants --npz /tmp/mp300w.npz",
        ".venv-mp/bin/python models/landmarks_tools.py overlay PHOTO.jpg --out /tmp/overlay",
        ".venv/bin/python models/landmarks_tools.py docs",
        "```",
        "",
        "## The points",
        "",
        "| index | name | group | flip partner | teacher definition |",
        "| ---: | --- | --- | ---: | --- |",
    ]
    for i, name in enumerate(lm.NAMES):
        group = next(g for g, idx in lm.GROUPS.items() if i in idx)
        definition = lm.TEACHER_DEFINITIONS.get(i)
        if definition is None:
            teacher = "human label (iBUG)"
        elif len(definition) == 1:
            teacher = f"vertex {definition[0][0]}"
        else:
            teacher = " + ".join(f"{w:g} x v{v}" for v, w in definition)
        lines.append(f"| {i} | {name} | {group} | {lm.FLIP_PERMUTATION[i]} | {teacher} |")
    markdown.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("extract")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("constants")
    p.add_argument("--npz", type=Path, required=True)
    p = sub.add_parser("overlay")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("docs")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args(argv)
    if args.cmd == "extract":
        extract(args.out)
    elif args.cmd == "constants":
        constants(args.npz)
    elif args.cmd == "overlay":
        overlay(args.images, args.out)
    elif args.cmd == "docs":
        write_docs(args.out / "LANDMARKS.md", args.out / "landmarks_template.png")


if __name__ == "__main__":
    main()
