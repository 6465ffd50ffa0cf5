"""The One Euro filter (Casiez et al., CHI 2012) on a face's landmarks: the peer that the
Kalman smoother is measured against in ``bench/jitter.py``.

A first-order low-pass per coordinate whose cutoff rises with the point's speed: still points
are smoothed hard, moving points follow. Speeds are in face sizes per second (RMS distance of
the points from their centroid), so ``beta`` does not depend on the resolution. Same
interface as the smoothers of ``facestream.filters.smoothing``.
"""

from __future__ import annotations

import numpy as np

from facestream.filters.smoothing import SmoothedPoints


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over all points at once (causal, lag 0 in updates).

    Args:
        min_cutoff: cutoff frequency (Hz) of a still point; lower is stiller.
        beta: cutoff increase per unit of speed (face sizes per second); higher follows
            fast motion with less lag.
        d_cutoff: cutoff frequency (Hz) of the speed estimate.

    Example:
        >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
        >>> f.update(np.zeros((3, 2)), None, 0.0).points.shape
        (3, 2)
    """

    lag_frames = 0

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the track."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0
        self._scale = 1.0

    def update(
        self,
        points: np.ndarray | None,
        confidence: np.ndarray | None,
        t: float,
        motion: np.ndarray | None = None,
    ) -> SmoothedPoints | None:
        """Filter one frame's points (``None`` holds the last estimate); ``confidence`` and
        ``motion`` are ignored: the One Euro filter has no notion of them."""
        if points is None:
            return None if self._x is None else SmoothedPoints(self._x.astype(np.float32), t)
        points = np.asarray(points, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = points, np.zeros_like(points), t
            self._scale = float(np.sqrt(((points - points.mean(0)) ** 2).sum(1).mean()))
            return SmoothedPoints(points.astype(np.float32), t)
        dt = t - self._t
        dx = (points - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        speed = np.linalg.norm(self._dx, axis=1, keepdims=True) / self._scale
        cutoff = self.min_cutoff + self.beta * speed
        self._x = self._x + _alpha(cutoff, dt) * (points - self._x)
        self._t = t
        return SmoothedPoints(self._x.astype(np.float32), t)

    def flush(self) -> list[SmoothedPoints]:
        """Nothing is ever held back."""
        return []
