"""dlib's own 150 x 150 face chips and descriptors, for checking `models/face_descriptor.py`.

Runs in the scratch dlib venv (see bench/dlib_identity.py), never in the project::

    /tmp/venv-dlib/bin/python bench/dlib_chips.py CROPS.npz OUT.npz

CROPS.npz holds `crops` (N, S, S, 3) uint8 RGB and `rects` (N, 4) face boxes (x0 y0 x1 y1).
OUT.npz gets, per face: `chips` (N, 150, 150, 3) from `dlib.get_face_chip` (dlib's 5-point
landmarks, padding 0.25); `from_chip` (N, 128), the descriptor of that chip
(`compute_face_descriptor(chip)`); `from_image` (N, 128), the descriptor dlib computes from
the crop and its landmarks; `chip_to_crop` (N, 2, 3), the affine map from chip pixels to crop
pixels, measured by cutting the chip out of two float images holding each pixel's x and y
(bilinear sampling keeps a linear ramp exact), then a least-squares fit; `ms` (N,), dlib's
time for `from_chip` per face.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(crops_path: str, out_path: str) -> None:
    import dlib
    import face_recognition_models as models

    shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
    encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    with np.load(crops_path) as data:
        crops, rects = data["crops"], data["rects"]
    n, size = len(crops), 150
    out: dict[str, np.ndarray] = {
        "chips": np.zeros((n, size, size, 3), np.uint8),
        "from_chip": np.zeros((n, 128), np.float32),
        "from_image": np.zeros((n, 128), np.float32),
        "chip_to_crop": np.zeros((n, 2, 3), np.float64),
        "ms": np.zeros(n, np.float64),
    }
    rows, cols = np.mgrid[:size, :size]
    grid = np.stack([cols.ravel(), rows.ravel(), np.ones(size * size)], axis=1)
    ramp_y, ramp_x = (v.astype(np.float32) for v in np.mgrid[: crops.shape[1], : crops.shape[2]])
    for i, (crop, r) in enumerate(zip(crops, rects, strict=True)):
        img = np.ascontiguousarray(crop)
        parts = shape(img, dlib.rectangle(*(int(v) for v in r)))
        chip = dlib.get_face_chip(img, parts, size, 0.25)
        out["chips"][i] = chip
        t = time.perf_counter()
        out["from_chip"][i] = np.array(encoder.compute_face_descriptor(chip))
        out["ms"][i] = 1000 * (time.perf_counter() - t)
        out["from_image"][i] = np.array(encoder.compute_face_descriptor(img, parts))
        details = dlib.get_face_chip_details(parts, size, 0.25)
        xy = np.stack([dlib.extract_image_chip(v, details).ravel() for v in (ramp_x, ramp_y)], 1)
        # Chip pixels sampled outside the crop read 0 (or its clamped edge): left out.
        inside = (xy > 1).all(axis=1) & (xy < np.array(crop.shape[1::-1]) - 2).all(axis=1)
        fit, *_ = np.linalg.lstsq(grid[inside], xy[inside], rcond=None)
        out["chip_to_crop"][i] = fit.T
    np.savez(out_path, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
