"""Colour transfer: the warped source face takes the target's skin tone and lighting.

Two methods, both restricted to face pixels so background and hair do not leak in:

- `lab_transfer`: per-channel mean and standard deviation of the source moved to the
  target's in CIE Lab (perceptual, so tone and brightness move independently).
- `lowfreq_transfer`: the target's low frequencies (its lighting and shading) with the
  source's high frequencies (its features): `src - blur(src) + blur(tgt)`, with blurs
  normalised by the blurred mask so the border does not darken.

Example:
    >>> import numpy as np
    >>> src = np.full((8, 8, 3), 60, np.uint8); tgt = np.full((8, 8, 3), 180, np.uint8)
    >>> w = np.ones((8, 8), np.float32)
    >>> int(lab_transfer(src, tgt, w, w)[4, 4, 0]) > 150
    True
"""

from __future__ import annotations

import cv2
import numpy as np


def masked_mean_std(lab: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel weighted mean and standard deviation of an `(h, w, 3)` float image."""
    w = weight.reshape(-1, 1).astype(np.float32)
    total = max(float(w.sum()), 1e-6)
    x = lab.reshape(-1, 3)
    mean = (w * x).sum(axis=0) / total
    var = (w * (x - mean) ** 2).sum(axis=0) / total
    return mean, np.sqrt(np.maximum(var, 1e-6))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """float32 Lab (L in 0..100) of a uint8 RGB image."""
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2LAB)


def lab_transfer(
    src: np.ndarray,
    tgt: np.ndarray,
    src_weight: np.ndarray,
    tgt_weight: np.ndarray,
    src_stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """`src` (uint8 RGB) recoloured so its Lab statistics under `src_weight` match the
    target's under `tgt_weight`; `src_stats` may carry precomputed source statistics."""
    lab = to_lab(src)
    mean_s, std_s = src_stats if src_stats is not None else masked_mean_std(lab, src_weight)
    mean_t, std_t = masked_mean_std(to_lab(tgt), tgt_weight)
    # Limit the contrast gain: a flat-lit target must not flatten a source to a mask.
    gain = np.clip(std_t / std_s, 0.5, 2.0)
    lab = (lab - mean_s) * gain + mean_t
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def masked_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `image` (float32) that only averages pixels where `weight` > 0."""
    w = weight.astype(np.float32)
    num = cv2.GaussianBlur(image * w[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-4)[..., None]


def lowfreq_transfer(
    src: np.ndarray, tgt: np.ndarray, src_weight: np.ndarray, tgt_weight: np.ndarray, sigma: float
) -> np.ndarray:
    """`src` with its low frequencies (blur of `sigma` px) replaced by the target's."""
    s = src.astype(np.float32)
    t = tgt.astype(np.float32)
    out = s - masked_blur(s, src_weight, sigma) + masked_blur(t, tgt_weight, sigma)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
