"""Landmark error metrics of the 300-W protocol (numpy only).

NME: the mean point-to-point error over the 68 iBUG points divided by the distance between
the outer eye corners (points 36 and 45), in percent.
"""

from __future__ import annotations

import numpy as np

IBUG_EYE_CORNERS = (36, 45)
REGIONS: dict[str, slice] = {
    "jaw": slice(0, 17),
    "brows": slice(17, 27),
    "nose": slice(27, 36),
    "eyes": slice(36, 48),
    "mouth": slice(48, 68),
}
FAILURE_NME = 8.0


def interocular(points68: np.ndarray) -> np.ndarray:
    """Outer-eye-corner distances ``(N,)`` of ``(N, 68, 2)`` points."""
    a, b = IBUG_EYE_CORNERS
    return np.linalg.norm(points68[:, a] - points68[:, b], axis=-1)


def point_errors(pred: np.ndarray, truth68: np.ndarray) -> np.ndarray:
    """Per-point errors ``(N, K)`` in percent of each face's outer-eye-corner distance.

    ``pred`` and the truth used for the distance may hold more points than 68 (``(N, K, 2)``
    with the truth's own 68 iBUG points given as ``truth68``): pass matching arrays.
    """
    return 100 * np.linalg.norm(pred - truth68, axis=-1) / interocular(truth68)[:, None]


def nme_summary(pred68: np.ndarray, truth68: np.ndarray) -> dict[str, float]:
    """NME mean, median, per-region means and the failure rate (NME > 8%) over faces."""
    err = point_errors(pred68, truth68)
    per_face = err.mean(axis=1)
    out = {
        "nme": float(per_face.mean()),
        "nme_median": float(np.median(per_face)),
        "failure_rate": float((per_face > FAILURE_NME).mean()),
    }
    out["regions"] = {name: float(err[:, sl].mean()) for name, sl in REGIONS.items()}  # type: ignore[assignment]
    return out
