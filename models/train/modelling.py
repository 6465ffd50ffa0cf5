"""What training and evaluation need from the model side, in one place.

Builds a variant, tells its crop size and heatmap stride, makes the rotation-normalised crop
of a face from its landmarks, renders Gaussian heatmap targets and decodes heatmaps back to
crop pixels. Coordinates are pixel centres: heatmap cell ``j`` covers crop pixels
``j * stride .. (j + 1) * stride - 1``, so its centre is crop pixel
``(j + 0.5) * stride - 0.5``.
"""

from __future__ import annotations

import numpy as np
import torch

from facestream.models.hrnet import HRNet, create_model
from facestream.models.landmarks import MEAN_SHAPE

SIGMA = 1.5  # Gaussian target width, in heatmap pixels
# The template's height (forehead top to chin) as a fraction of the crop side.
TEMPLATE_HEIGHT = 0.75
CROP_SIZE = 128


def build_model(variant: str, weights: str | None = None) -> HRNet:
    """A variant, random-initialised unless ``weights`` is given."""
    return create_model(variant, weights)


def model_geometry(model: HRNet) -> tuple[int, int]:
    """``(input size, heatmap stride)`` of a model."""
    return model.config.input_size, model.config.heatmap_stride


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``(2, 3)`` mapping ``src (K, 2)`` onto ``dst (K, 2)``."""
    ok = np.isfinite(src).all(1)
    s, d = src[ok].astype(np.float64), dst[ok].astype(np.float64)
    ms, md = s.mean(0), d.mean(0)
    s0, d0 = s - ms, d - md
    norm = (s0**2).sum()
    p = (s0[:, 0] * d0[:, 0] + s0[:, 1] * d0[:, 1]).sum() / norm
    q = (s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum() / norm
    a = np.array([[p, -q], [q, p]])
    return np.hstack([a, (md - a @ ms)[:, None]])


def crop_from_points(points: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The 2x3 frame-to-crop affine putting a face's 128 points on the canonical template."""
    template = (MEAN_SHAPE - 0.5) * (TEMPLATE_HEIGHT * size) + (size - 1) / 2
    return similarity_fit(points, template)


def heatmap_targets(points: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Gaussian heatmaps ``(N, P, size/stride, size/stride)`` peaking at ``points (N, P, 2)``."""
    h = size // stride
    centres = (torch.arange(h, dtype=torch.float32) + 0.5) * stride - 0.5
    p = points.float()
    dx = (centres.view(1, 1, h) - p[..., 0:1]) / stride
    dy = (centres.view(1, 1, h) - p[..., 1:2]) / stride
    gx = torch.exp(-(dx**2) / (2 * SIGMA**2))
    gy = torch.exp(-(dy**2) / (2 * SIGMA**2))
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def decode_crop(heatmaps: torch.Tensor, stride: int) -> np.ndarray:
    """Points ``(N, P, 2)`` in crop pixels: arg-max, refined by the mean of its 5x5 window."""
    n, p, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * p, h * w)
    idx = flat.argmax(1)
    iy, ix = idx // w, idx % w
    offsets = torch.arange(-2, 3)
    ys = (iy[:, None] + offsets).clamp(0, h - 1)
    xs = (ix[:, None] + offsets).clamp(0, w - 1)
    maps = heatmaps.reshape(n * p, h, w)
    rows = torch.arange(n * p)[:, None, None]
    win = maps[rows, ys[:, :, None], xs[:, None, :]].clamp_min(0)
    total = win.sum((1, 2)).clamp_min(1e-6)
    y = (win.sum(2) * ys).sum(1) / total
    x = (win.sum(1) * xs).sum(1) / total
    pts = torch.stack([x, y], -1).reshape(n, p, 2)
    return ((pts + 0.5) * stride - 0.5).numpy().astype(np.float32)


def keypoint_template() -> np.ndarray:
    """Where the detector's first four keypoints (eyes, nose tip, mouth centre) sit on the
    canonical template (``MEAN_SHAPE`` units)."""
    return np.stack(
        [
            MEAN_SHAPE[36:42].mean(0),
            MEAN_SHAPE[42:48].mean(0),
            MEAN_SHAPE[30],
            MEAN_SHAPE[48:68].mean(0),
        ]
    )


def crop_from_keypoints(keypoints: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The 2x3 frame-to-crop affine of a detection, from its eye, nose and mouth keypoints."""
    template = (keypoint_template() - 0.5) * (TEMPLATE_HEIGHT * size) + (size - 1) / 2
    return similarity_fit(keypoints[:4], template)


class LandmarkPredictor:
    """Detector, crop, model and decoding on one image at a time (the evaluation's path).

    Example:
        >>> predictor = LandmarkPredictor("hrnet128_lite", "default")
        >>> faces = predictor.detect(image)
        >>> points = predictor.from_detection(image, faces[0])  # (128, 2) frame pixels
    """

    def __init__(self, variant: str, weights: str | None) -> None:
        from facestream.models.detector import FaceDetector

        self.model = build_model(variant, weights or "default").eval()
        self.size, self.stride = model_geometry(self.model)
        self.detector = FaceDetector("short")

    def detect(self, image: np.ndarray) -> list:
        return self.detector.detect(image)

    def from_detection(self, image: np.ndarray, detection) -> np.ndarray:
        return self._predict(image, crop_from_keypoints(detection.keypoints, self.size))

    def from_points68(self, image: np.ndarray, points68: np.ndarray) -> np.ndarray:
        """The 300-W protocol: the crop from the labelled points (their similarity to the
        template's 68 points)."""
        template = (MEAN_SHAPE[:68] - 0.5) * (TEMPLATE_HEIGHT * self.size) + (self.size - 1) / 2
        return self._predict(image, similarity_fit(points68, template))

    @torch.inference_mode()
    def _predict(self, image: np.ndarray, m: np.ndarray) -> np.ndarray:
        import cv2

        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR)
        x = torch.from_numpy(crop).permute(2, 0, 1)[None].float().div(255)
        points = decode_crop(self.model(x), self.stride)[0]
        inv = cv2.invertAffineTransform(m)
        return (points @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
