"""Per-frame MediaPipe Face Mesh landmarks of one clip, as 128 consistent points.

Runs in the separate MediaPipe venv (``.venv-mp``, numpy<2), called by ``bench/jitter.py``
through a subprocess; it is not part of the installed package. Every frame is processed on
its own (``static_image_mode=True``) so the trajectories carry the raw per-frame jitter of a
landmark model, with no temporal filtering inside MediaPipe.

Usage: ``.venv-mp/bin/python bench/mediapipe_tracks.py clip.mp4 out.npz``
"""

import sys

import cv2
import mediapipe as mp
import numpy as np


def contour_vertices() -> np.ndarray:
    """The 128 Face Mesh vertices on the face oval, brows, eyes and lips, sorted."""
    fm = mp.solutions.face_mesh
    groups = [
        fm.FACEMESH_FACE_OVAL,
        fm.FACEMESH_LEFT_EYEBROW,
        fm.FACEMESH_RIGHT_EYEBROW,
        fm.FACEMESH_LEFT_EYE,
        fm.FACEMESH_RIGHT_EYE,
        fm.FACEMESH_LIPS,
    ]
    return np.array(sorted({v for g in groups for edge in g for v in edge}), dtype=np.int64)


def main(video: str, out: str) -> None:
    vertices = contour_vertices()
    capture = cv2.VideoCapture(video)
    points, found = [], []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            result = mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if result.multi_face_landmarks:
                lm = result.multi_face_landmarks[0].landmark
                xy = np.array([(lm[i].x * w, lm[i].y * h) for i in vertices], np.float32)
                points.append(xy)
                found.append(True)
            else:
                points.append(np.full((len(vertices), 2), np.nan, np.float32))
                found.append(False)
    capture.release()
    np.savez_compressed(
        out,
        points=np.stack(points),
        found=np.array(found),
        vertices=vertices,
        left_eye_outer=np.searchsorted(vertices, 33),
        right_eye_outer=np.searchsorted(vertices, 263),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
