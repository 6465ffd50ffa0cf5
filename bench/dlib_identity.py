"""dlib's ResNet face descriptor (from `face_recognition_models`) for the identity metric.

dlib is installed only for the benchmark, in a scratch venv (`pip install dlib-bin
face_recognition_models numpy`), never into the project. Run there::

    /tmp/venv-dlib/bin/python bench/dlib_identity.py CROPS.npz OUT.npz

CROPS.npz holds `crops` (N, S, S, 3) uint8 RGB face crops and `rects` (N, 4) int face boxes
(x0 y0 x1 y1, brows to chin) in crop pixels; OUT.npz gets `descriptors` (N, 128).
"""

from __future__ import annotations

import sys

import numpy as np


def main(crops_path: str, out_path: str) -> None:
    import dlib
    import face_recognition_models as models

    shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    with np.load(crops_path) as data:
        crops, rects = data["crops"], data["rects"]
    out = np.zeros((len(crops), 128), np.float32)
    for i, (crop, r) in enumerate(zip(crops, rects, strict=True)):
        img = np.ascontiguousarray(crop)
        parts = shape(img, dlib.rectangle(*(int(v) for v in r)))
        out[i] = np.array(encoder.compute_face_descriptor(img, parts, 1))
    np.savez(out_path, descriptors=out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
