"""MediaPipe Face Mesh landmarks for development renders and benchmarks, cached as npz.

The swap benchmarks and the rendered examples need real landmarks before the project's own
engine has trained weights. MediaPipe lives in its own venv (`.venv-mp`, numpy<2), so this
file is both a script run there (`python bench/mesh_cache.py MEDIA OUT.npz`) and a small
loader used from the main venv (`load_meshes`), which runs the script in a subprocess once
per file and reads the cache afterwards.

The cache (`$FACESTREAM_CACHE/meshes/`, default `~/.cache/facestream`) holds
`meshes` float32 (F, K, 478, 3) in pixels (z scaled like x) and `counts` int (F,).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MP_PYTHON = REPO / ".venv-mp" / "bin" / "python"
MAX_FACES = 4
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def cache_dir() -> Path:
    root = Path(os.environ.get("FACESTREAM_CACHE", Path.home() / ".cache" / "facestream"))
    return root / "meshes"


def cache_path(media: Path, max_frames: int) -> Path:
    """Keyed by content, so a temporary copy of an image hits the same entry."""
    digest = hashlib.sha1(media.read_bytes())
    digest.update(f"|{max_frames}".encode())
    return cache_dir() / f"{digest.hexdigest()[:16]}.npz"


def load_meshes(media: Path | str, max_frames: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Face Mesh points for an image or a video (first `max_frames` frames, 0 = all).

    Returns `(meshes (F, K, 478, 3) float32 in pixels, counts (F,) int)`; an image has F = 1.
    """
    media = Path(media)
    out = cache_path(media, max_frames)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.npz")
        cmd = [str(MP_PYTHON), str(Path(__file__).resolve()), str(media), str(tmp)]
        done = subprocess.run([*cmd, str(max_frames)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"Face Mesh failed on {media}: {done.stderr[-2000:]}")
        tmp.rename(out)
    with np.load(out) as data:
        return data["meshes"], data["counts"]


def mesh_to_128(meshes: np.ndarray) -> np.ndarray:
    """The project's 128 points from Face Mesh vertices `(..., 478, 2+)`.

    Points 0-67 come from the fitted mesh-to-iBUG ridge mapping when `make labels` has
    produced it (the same mapping the training labels use), else from the fixed one-vertex
    correspondence; points 68-127 are the scheme's own teacher definitions.
    """
    from facestream.models.landmarks import teacher_points
    from facestream.models.train.mesh_to_ibug import FIXED_VERTICES, MeshToIbug

    xy = meshes[..., :2].astype(np.float32)
    ridge = cache_dir().parent / "labels" / "mesh_to_ibug.npz"
    if ridge.is_file():
        flat = xy.reshape(-1, 478, 2)
        ibug = MeshToIbug.load(ridge).predict(flat).reshape(*xy.shape[:-2], 68, 2)
    else:
        ibug = xy[..., FIXED_VERTICES, :]
    return np.concatenate([ibug, teacher_points(xy)], axis=-2).astype(np.float32)


def mediapipe_landmarks(image: np.ndarray) -> list[np.ndarray]:
    """A landmark function for enrollment: `(128, 2)` points per face of an RGB image."""
    import tempfile

    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        meshes, counts = load_meshes(path)
    return list(mesh_to_128(meshes[0, : counts[0]]))


@dataclass
class DevFace:
    """Stand-in for the engine's FaceLandmarks (what the swap stage reads)."""

    track_id: int
    points: np.ndarray
    confidence: np.ndarray
    trust: float = 1.0


def read_frames(path: Path | str, max_frames: int) -> list[np.ndarray]:
    """The first `max_frames` RGB frames of a clip (PyAV)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == max_frames:
                break
    return frames


def load_clip(path: Path | str, max_frames: int) -> tuple[list[np.ndarray], list[list[DevFace]]]:
    """The first `max_frames` RGB frames of a clip (PyAV) and their faces (128 points)."""
    frames = read_frames(path, max_frames)
    meshes, counts = load_meshes(path, max_frames)
    faces = [
        [DevFace(k, p, np.ones(128, np.float32)) for k, p in enumerate(mesh_to_128(m[:n]))]
        for m, n in zip(meshes[: len(frames)], counts, strict=False)
    ]
    return frames[: len(faces)], faces


def _run_face_mesh(media: Path, out: Path, max_frames: int) -> None:
    # Imported here: only the .venv-mp interpreter has mediapipe.
    import cv2
    import mediapipe as mp

    is_image = media.suffix.lower() in IMAGE_SUFFIXES
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=is_image,
        max_num_faces=MAX_FACES,
        refine_landmarks=True,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    if is_image:
        frames = [cv2.imread(str(media))]
    else:
        cap = cv2.VideoCapture(str(media))
        frames = []
        while max_frames <= 0 or len(frames) < max_frames:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
    meshes = np.zeros((len(frames), MAX_FACES, 478, 3), np.float32)
    counts = np.zeros(len(frames), np.int32)
    for i, bgr in enumerate(frames):
        h, w = bgr.shape[:2]
        result = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        for k, face in enumerate(result.multi_face_landmarks or []):
            pts = np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32)
            meshes[i, k] = pts * np.array([w, h, w], np.float32)
            counts[i] = k + 1
    np.savez_compressed(out, meshes=meshes, counts=counts)


if __name__ == "__main__":
    _run_face_mesh(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
