"""Training augmentation: what live video does to the faces the engine hands the model.

Geometry comes from the engine's own crop function (`facestream.models.crops`) with its
training jitter: scale, shift and the rotation residual the engine's eye-line normalisation
leaves behind. On top of it: a horizontal flip that renumbers the points with the scheme's
`FLIP_PERMUTATION`, then photometry on the small crop: colour and gamma, blur and motion
blur, sensor noise, JPEG compression (the blocking H.264 leaves at low bit rates looks alike)
and synthetic occluders (hands, microphones, glasses-like bars).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facestream.models.crops import CropJitter
from facestream.models.landmarks import FLIP_PERMUTATION


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths and probabilities of each augmentation (0 or None turns one off)."""

    crop: CropJitter | None = CropJitter(rotation_deg=12.0, scale=0.12, shift=0.06)
    flip_p: float = 0.5
    colour_p: float = 0.8
    gamma_p: float = 0.4
    blur_p: float = 0.25
    motion_blur_p: float = 0.2
    noise_p: float = 0.3
    jpeg_p: float = 0.4
    occluder_p: float = 0.3
    gray_p: float = 0.05


NO_AUGMENT = AugmentConfig(None, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def flip_crop(
    crop: np.ndarray, points: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mirror a crop left-right; ``points`` are normalised crop coordinates ``(128, 2)``.

    The points are renumbered with ``FLIP_PERMUTATION`` so that a right-eye point stays a
    right-eye point of the mirrored face.
    """
    mirrored = points.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    return (
        np.ascontiguousarray(crop[:, ::-1]),
        mirrored[FLIP_PERMUTATION],
        weight[FLIP_PERMUTATION],
    )


def photometric(crop: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Colour, gamma, occluders, blur, noise and compression on an RGB uint8 crop."""
    img = crop.astype(np.float32)
    if rng.random() < cfg.colour_p:
        # Brightness, contrast, white balance and saturation, as cameras and lights vary.
        gain = rng.uniform(0.6, 1.4) * rng.uniform(0.85, 1.15, 3)
        mean = img.mean()
        img = (img - mean) * rng.uniform(0.6, 1.4) + mean
        img = img * gain.astype(np.float32)
        gray = img.mean(axis=2, keepdims=True)
        img = gray + (img - gray) * rng.uniform(0.4, 1.5)
    if rng.random() < cfg.gray_p:
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    img = np.clip(img, 0, 255)
    if rng.random() < cfg.gamma_p:
        img = 255.0 * (img / 255.0) ** rng.uniform(0.6, 1.6)
    out: np.ndarray = img.astype(np.uint8)
    if rng.random() < cfg.occluder_p:
        out = occlude(out, rng)
    size = out.shape[0]
    if rng.random() < cfg.blur_p:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.6) * size / 128)
    if rng.random() < cfg.motion_blur_p:
        out = motion_blur(out, rng)
    if rng.random() < cfg.noise_p:
        noise = rng.normal(0, rng.uniform(2, 12), out.shape).astype(np.float32)
        out = np.clip(out + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_p:
        # The encoder expects BGR: its chroma subsampling must hit the real chroma.
        quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 85))]
        _, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]), quality)
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None  # an image OpenCV just encoded
        out = np.ascontiguousarray(decoded[..., ::-1])
    return out


def motion_blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A line kernel of random length and direction (a face moving during the exposure)."""
    length = int(rng.integers(3, max(4, img.shape[0] // 14)))
    line = np.zeros((length, length), np.float32)
    line[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel: np.ndarray = cv2.warpAffine(line, rot, (length, length))
    return cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))


def occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one synthetic occluder: a hand-like blob, a microphone, or a glasses-like bar.

    The landmark targets stay where they are: the model must guess hidden points from the
    rest of the face, as it must at run time.
    """
    out = img.copy()
    size = img.shape[0]
    colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
    kind = rng.integers(3)
    if kind == 0:
        # Hand: a palm ellipse with four or five finger capsules, skin-like or any colour.
        if rng.random() < 0.7:
            colour = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.35, 1.1))
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        r = rng.uniform(0.12, 0.25) * size
        angle = rng.uniform(0, 360)
        cv2.ellipse(out, (int(cx), int(cy)), (int(r), int(r * 0.8)), angle, 0, 360, colour, -1)
        for k in range(int(rng.integers(4, 6))):
            a = np.deg2rad(angle - 60 + 30 * k)
            tip = (int(cx + 2.0 * r * np.cos(a)), int(cy + 2.0 * r * np.sin(a)))
            cv2.line(out, (int(cx), int(cy)), tip, colour, max(2, int(r * 0.35)))
    elif kind == 1:
        # Microphone: a rod with a ball head, from an image edge.
        head = rng.uniform(0.25, 0.75, 2) * size
        tail = head + np.array([rng.uniform(-0.3, 0.3), 1.0]) * size
        cv2.line(out, tuple(head.astype(int)), tuple(tail.astype(int)), colour, max(2, size // 18))
        cv2.circle(out, tuple(head.astype(int)), int(rng.uniform(0.06, 0.12) * size), colour, -1)
    else:
        # Glasses-like bar (sunglasses, a visor, a hand-held card) across the face.
        y = rng.uniform(0.3, 0.7) * size
        h = rng.uniform(0.05, 0.15) * size
        x0, x1 = sorted(rng.uniform(0.0, 1.0, 2) * size)
        x1 = max(x1, x0 + 0.3 * size)
        a = rng.uniform(-15, 15)
        box = cv2.boxPoints((((x0 + x1) / 2, y), (x1 - x0, h), a)).astype(np.int32)
        cv2.fillPoly(out, [box], colour)
    alpha = rng.uniform(0.7, 1.0)
    return cv2.addWeighted(out, alpha, img, 1 - alpha, 0)
