"""Fit the whitening of `face_match.py`'s texture descriptor on the 300-W training faces.

No identities are used: the PCA only learns how faces in general vary. Every training crop
of ../shared/data/faces300w and its mirror image is aligned by its 68 human landmarks,
described by `lbp_texture`, and the first `COMPONENTS` principal directions are kept, each
divided by its standard deviation (whitening), so that the few directions in which every
face's texture varies a lot (lighting, blur) no longer outweigh the many small ones that
tell people apart. Written as safetensors (float16) next to `face_match.py`::

    nice -n 10 .venv/bin/python -m facestream.filters.face_match_fit [DATA_DIR]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
from safetensors.numpy import save_file

from facestream.filters.face_match import WHITENING_PATH, aligned_face, lbp_texture
from facestream.models.landmarks import FLIP_PERMUTATION

COMPONENTS = 128
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def training_textures(faces300w: Path) -> np.ndarray:
    """`lbp_texture` of every training crop and of its mirror image, `(2N, D)`."""
    flip68 = np.asarray(FLIP_PERMUTATION[:68])  # the first 68 points are iBUG's, in order
    rows = []
    with open(faces300w / "landmarks.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] != "train":
                continue
            bgr = cv2.imread(str(faces300w / "train" / row["file"]))
            if bgr is None:
                raise FileNotFoundError(f"cannot read {faces300w / 'train' / row['file']}")
            points = np.array([[row[f"x{i}"], row[f"y{i}"]] for i in range(68)], np.float32)
            mirror = points[flip68] * (-1, 1) + (bgr.shape[1] - 1, 0)
            for image, pts in ((bgr, points), (bgr[:, ::-1], mirror)):
                # lbp_texture reads grey levels only, so BGR order does not matter here.
                face = aligned_face(np.ascontiguousarray(image), pts.astype(np.float32))
                rows.append(lbp_texture(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)))
    return np.stack(rows)


def fit_whitening(textures: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(D,)` and whitened PCA projection `(components, D)` of the rows of `textures`."""
    mean = textures.mean(axis=0)
    _, singular, directions = np.linalg.svd(textures - mean, full_matrices=False)
    std = singular[:components] / np.sqrt(len(textures) - 1)
    return mean, directions[:components] / std[:, None]


def main(argv: list[str]) -> None:
    data = Path(argv[0]) if argv else DEFAULT_DATA
    textures = training_textures(data / "faces300w")
    mean, projection = fit_whitening(textures.astype(np.float64), COMPONENTS)
    save_file(
        {"mean": mean.astype(np.float16), "projection": projection.astype(np.float16)},
        str(WHITENING_PATH),
        metadata={
            "fitted_on": f"faces300w train: {len(textures) // 2} crops and their mirrors",
            "components": str(COMPONENTS),
        },
    )
    print(f"wrote {WHITENING_PATH}: {COMPONENTS} components from {len(textures)} faces")


if __name__ == "__main__":
    main(sys.argv[1:])
