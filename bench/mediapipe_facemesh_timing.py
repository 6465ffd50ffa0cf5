"""Time MediaPipe Face Mesh per face in tracking mode (run with the MediaPipe venv).

Called by ``bench/landmarks.py`` through a subprocess, because MediaPipe needs numpy<2::

    .venv-mp/bin/python bench/mediapipe_facemesh_timing.py CROPS.npy --repeats 50

``CROPS.npy`` holds ``(K, S, S, 3)`` uint8 RGB face crops. Each crop is fed ``repeats`` times
as a video (``static_image_mode=False``), so after the first frame Face Mesh tracks the face
from its previous landmarks, without its detector: its tracking-mode latency. Prints one
JSON object: per-crop median milliseconds per frame, and the number of frames with a face.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crops", help="(K, S, S, 3) uint8 RGB .npy file")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--static", action="store_true", help="detector on every frame")
    args = parser.parse_args()

    import mediapipe as mp

    crops = np.load(args.crops)
    medians, found = [], 0
    for crop in crops:
        crop = np.ascontiguousarray(crop)
        with mp.solutions.face_mesh.FaceMesh(
            static_image_mode=args.static, max_num_faces=1, refine_landmarks=True
        ) as mesh:
            mesh.process(crop)  # first frame: detector + landmarks, not timed
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                res = mesh.process(crop)
                times.append(time.perf_counter() - t)
                found += res.multi_face_landmarks is not None
        medians.append(float(np.median(times)) * 1000)
    print(
        json.dumps(
            {"ms_per_face": medians, "frames_with_face": found, "frames": len(crops) * args.repeats}
        )
    )


if __name__ == "__main__":
    main()
