"""A tiny synthetic teacher-label cache for the training tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_cache(root: Path, n: int = 4, n_eval: int = 0, size: int = 120) -> Path:
    """``root/cache/labels/faces300w.npz`` with ``n`` train and ``n_eval`` eval crops.

    Images are random noise with a bright disc per face; the mesh and the human points lie
    inside the image. Returns the cache root (what ``$FACESTREAM_CACHE`` would be).
    """
    rng = np.random.default_rng(0)
    data, labels = root / "data", root / "cache" / "labels"
    labels.mkdir(parents=True)
    sources, splits = [], []
    for i in range(n + n_eval):
        split = "train" if i < n else "eval"
        source = f"faces300w/{split}/face{i}.jpg"
        (data / source).parent.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        cv2.circle(image, (size // 2, size // 2), size // 4, (230, 190, 160), -1)
        cv2.imwrite(str(data / source), image)
        sources.append(source)
        splits.append(split)
    total = n + n_eval
    mesh = rng.uniform(0.3 * size, 0.7 * size, (total, 478, 3)).astype(np.float32)
    human = rng.uniform(0.3 * size, 0.7 * size, (total, 68, 2)).astype(np.float32)
    np.savez(
        labels / "faces300w.npz",
        data_root=np.array(str(data)),
        source=np.array(sources),
        split=np.array(splits),
        mesh=mesh,
        score=np.ones(total, np.float32),
        human=human,
    )
    return root / "cache"
